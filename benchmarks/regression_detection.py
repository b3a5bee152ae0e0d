"""How often the side-by-side comparison calls a regression, with and without one.

    python -m benchmarks.regression_detection --trials 60 --run-time 2m \\
        --conditions "A/A,A/A busy" --json aa.json --keep aa-runs

Each trial is one real `perf-gate --compare-to HEAD` run (itself made of
`--gate-trials` fresh-start trials): baseline and candidate are both this
commit, on embedded PostgreSQL (or `--backend compose`). A/A changes nothing;
"busy" runs a CPU-burning process beside the gate for the whole run (a noisy
neighbour); "pinned" keeps Locust on a CPU of its own and the backends on
the rest (`--pin-cpus auto`); the others slow the candidate through the
backend's knobs.
Conditions are interleaved, so slow drift of the machine spreads over all.

Every run is appended to `--json` as it finishes, and a series started again
with the same `--json` resumes where it stopped (a 60-run series is hours of
machine time). `--keep` keeps each run's results folder, raw samples included,
so that the runs can be judged again offline. The tables give counts (x of N)
per condition and rule: fail, pass, inconclusive, the median measured ratio
and the median half-width of the interval, how often the 95% interval held
1.0 (for A/A it should be about 95%), and the gate's exit codes. Numbers, not
a verdict.
"""

import argparse
import importlib.util
import json
import math
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from benchmarks import trial_ratios

ROOT = Path(__file__).resolve().parents[1]

# name -> candidate knobs (the baseline always runs with the defaults below)
BASE_ENV = {
    "BACKEND_PROCESSING_MS": "50",
    "BACKEND_API_LATENCY_MS": "0",
    "BACKEND_POST_CPU_US": "0",
    "BACKEND_GET_CPU_US": "0",
}
# Sized against the measured entries, not the knobs: at 20 users submit-to-complete
# p95 is about 80 ms, so +8 ms of processing is about +10% of it and +4 ms about +5%;
# POST p95 is a few ms, so +1 ms of API latency is a slowdown of tens of percent.
CONDITIONS = {
    "A/A": {},
    "A/A busy": {},
    "A/A pinned": {},
    "A/A busy pinned": {},
    "processing +4 ms": {"BACKEND_PROCESSING_MS": "54"},
    "processing +8 ms": {"BACKEND_PROCESSING_MS": "58"},
    "processing +25 ms": {"BACKEND_PROCESSING_MS": "75"},
    "API +1 ms": {"BACKEND_API_LATENCY_MS": "1"},
    # small slowdowns, first sized against 20 users on this machine (submit-to-complete p50
    # about 70 ms, GET p95 about 13 ms, POST p95 about 16 ms); the table reports what they caused
    "processing +2 ms": {"BACKEND_PROCESSING_MS": "52"},
    # +3% of submit-to-complete p50 with fresh-start trials (about 80 ms unpinned, quiet)
    "processing +2.4 ms": {"BACKEND_PROCESSING_MS": "52.4"},
    "GET CPU +0.7 ms": {"BACKEND_GET_CPU_US": "700"},
    "POST CPU +1.3 ms": {"BACKEND_POST_CPU_US": "1300"},
    "API +2 ms": {"BACKEND_API_LATENCY_MS": "2"},
}


BUSY = "busy"  # conditions with this word run a CPU burner beside the gate
PINNED = "pinned"  # conditions with this word keep Locust apart from the services (--pin-cpus auto)


def burner() -> subprocess.Popen:
    """A process that keeps one core busy until it is stopped, or this benchmark dies."""
    from perfgate import backends

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=backends.die_with_parent)


def trial(condition: dict[str, str], args: argparse.Namespace, out: Path, name: str = "") -> dict:
    cmd = [
        sys.executable,
        "-m",
        "perfgate.run",
        "--compare-to",
        "HEAD",
        "--results",
        str(out),
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.users),
        "--run-time",
        args.run_time,
        "--thresholds",
        str(args.thresholds),
        "--backend",
        args.backend,
    ]
    if args.gate_trials:
        cmd += ["--trials", str(args.gate_trials)]
    if PINNED in name:
        cmd += ["--pin-cpus", "auto"]
    if args.max_run_time:
        cmd += ["--max-run-time", args.max_run_time]
    for key, value in BASE_ENV.items():
        cmd += ["--baseline-env", f"{key}={value}", "--backend-env", f"{key}={condition.get(key, value)}"]
    neighbour = burner() if BUSY in name else None
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    try:
        verdict = json.loads((out / "verdict.json").read_text())
    except (OSError, ValueError):  # the gate stopped before a verdict: keep the trial, with why
        verdict = {"verdict": "error", "results": [], "problems": [proc.stderr[-2000:]]}
    verdict["exit"] = proc.returncode
    for r in verdict["results"]:  # a run's every window is in its kept folder; the series keeps its size small
        r.pop("per_window", None)
    return verdict


def series(args: argparse.Namespace, names: list[str]) -> list[dict]:
    """Every run, resumed from --json: runs already there are not made again."""
    done = json.loads(args.json.read_text()) if args.json and args.json.exists() else []
    have = {(r["condition"], r["trial"]) for r in done}
    for i in range(args.trials):
        for name in names:  # interleaved, so slow drift of the machine spreads over all conditions
            if (name, i) in have:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "results"
                verdict = trial(CONDITIONS[name], args, out, name)
                if args.keep:
                    kept = args.keep / name.replace("/", "").replace(" ", "-") / str(i)
                    shutil.rmtree(kept, ignore_errors=True)
                    shutil.copytree(out, kept, ignore=shutil.ignore_patterns("baseline-src", "*.html"))
                verdict["trials"] = ratios_of(out, args.thresholds)
            done.append({"condition": name, "trial": i, **verdict})
            print(f"run {i + 1}/{args.trials} {name}: exit {verdict['exit']}", file=sys.stderr, flush=True)
            if args.json:  # after every run: an interrupted series keeps what it measured
                args.json.write_text(json.dumps(done, indent=1))
    return [r for r in done if r["condition"] in names and r["trial"] < args.trials]


def ratios_of(out: Path, thresholds: Path) -> dict:
    """Each trial's own ratio per rule (kept in --json: a series can be judged again without raw samples)."""
    try:
        return trial_ratios.of_run(out, thresholds)
    except Exception:  # noqa: BLE001 - a run without trials or samples has none to keep
        return {}


def looks_of(args: argparse.Namespace) -> tuple[int, ...]:
    """The trial counts perf-gate looked at in these runs (its defaults: a trial per 30 s)."""
    from perfgate.gate_options import DEFAULT_TRIAL_S
    from perfgate.inputs import run_time_seconds

    planned = args.gate_trials or max(1, run_time_seconds(args.run_time) // DEFAULT_TRIAL_S)
    if not args.max_run_time:
        return (planned,)
    return tuple(range(planned, max(planned, run_time_seconds(args.max_run_time) // DEFAULT_TRIAL_S) + 1))


def shift_arg(text: str) -> tuple[str, float]:
    """ "RULE=FACTOR", e.g. "p50 of ASYNC submit-to-complete=1.03"."""
    name, sep, factor = text.rpartition("=")
    try:
        value = float(factor)
    except ValueError:
        value = math.nan
    if not sep or not name or not value > 0:
        raise argparse.ArgumentTypeError(f"expected RULE=FACTOR, e.g. 'p50 of POST /requests=1.05'; got {text!r}")
    return name.strip(), value


def replay_looks(
    trials: dict[str, dict], tolerance: dict[str, float], confidence: float, looks: tuple[int, ...], shift: dict
) -> tuple[int, list[dict]]:
    """A run's looks replayed from its trials' stored ratios: after the planned
    trials and each one after, every rule judged on the trials so far, the
    run stopping at the first look where all are decided, or at its last
    stored trial. Only the pooled windows' se is stored; at an earlier look
    it is taken as that se times sqrt(stored / k), since it shrinks with the
    square root of the windows. Returns (trials used, results)."""
    from perfgate.compare import critical_value

    rules = {name: got for name, got in trials.items() if name in tolerance and len(got["ln_ratios"]) >= 3}
    stored = max((len(got["ln_ratios"]) for got in rules.values()), default=0)
    results: list[dict] = []
    for k in range(min(looks[0], stored), stored + 1):
        results = []
        for name, got in rules.items():
            ys = [y + math.log(shift.get(name, 1.0)) for y in got["ln_ratios"][:k]]
            if len(ys) < 3:
                continue
            within = got["within_log"] * math.sqrt(len(got["ln_ratios"]) / len(ys))
            critical = critical_value(confidence, looks, len(ys))
            status, low, high = trial_ratios.judge(ys, within, tolerance[name], critical)
            ratio = math.exp(statistics.fmean(ys))
            results.append(
                {
                    "name": name,
                    "metric": name.split(" ")[0] + "_regression",
                    "status": status,
                    "interval": [low, high],
                    "ratio": ratio,
                    "baseline": 1.0,
                    "measured": ratio,
                    "message": f"over {len(ys)} trials",
                }
            )
        if results and all(r["status"] != "inconclusive" for r in results) and k in looks[:-1]:
            return k, results
    return stored, results


def rejudge_ratios(args: argparse.Namespace, names: list[str]) -> list[dict]:
    """The runs in --json judged again from their trials' own ratios at --thresholds'
    tolerances and confidence (regression rules only; absolute thresholds are
    not re-checked), their looks replayed (`replay_looks`). --shift multiplies
    a rule's every trial ratio: an A/A series' own noise around a known
    slowdown, to see what the tolerances would catch."""
    from perfgate import thresholds

    limits = thresholds.load(args.thresholds)
    tolerance = {f"p{r.percentile} of {r.entry}": r.tolerance for r in limits.regressions}
    looks, runs = looks_of(args), []
    shift = dict(args.shift)
    if unknown := sorted(set(shift) - set(tolerance)):
        sys.exit(f"--shift: no regression rule {', '.join(map(repr, unknown))}; expected one of {', '.join(tolerance)}")
    for run in json.loads(args.json.read_text()):
        if run["condition"] not in names or not run.get("trials"):
            continue
        _, results = replay_looks(run["trials"], tolerance, limits.confidence, looks, shift)
        statuses = {r["status"] for r in results}
        code = 1 if "fail" in statuses else 3 if statuses - {"pass"} else 0
        runs.append(
            {"condition": run["condition"], "trial": run["trial"], "exit": code, "verdict": "", "results": results}
        )
    return runs


def rejudge(args: argparse.Namespace, names: list[str]) -> list[dict]:
    """The kept runs' raw samples judged again: another estimator, tolerance or
    window against the same load, in seconds instead of hours. The original
    run's looks (a sequential run) are not known here: one look."""
    import io

    from perfgate import check_cli

    runs = []
    for name in names:
        folder = args.keep / name.replace("/", "").replace(" ", "-")
        for run in sorted(folder.glob("*"), key=lambda p: int(p.name) if p.name.isdigit() else -1):
            if not (run / "locust_raw.csv").exists():
                continue
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "results"
                shutil.copytree(run, out)
                check = ["--results", str(out), "--thresholds", str(args.thresholds), "--compare"]
                code = check_cli.run_check(check_cli.build_parser().parse_args(check), {}, io.StringIO(), io.StringIO())
                verdict = json.loads((out / "verdict.json").read_text())
            runs.append({"condition": name, "trial": int(run.name), "exit": code, **verdict})
    return runs


def trials_used(run: dict) -> int | None:
    """How many trials a run's decision took, from its rules' messages ("over 9 trials")."""
    found = [int(m.group(1)) for r in run["results"] if (m := re.search(r"over (\d+) trials", r["message"]))]
    return max(found) if found else None


def rule_rows(runs: list[dict], names: list[str]) -> list[dict]:
    """Per condition and regression rule: counts of each status, the median
    ratio and half-width (of ln ratio, about the ± in percent), and how often
    the interval held 1.0."""
    outcomes: dict[tuple[str, str], list[tuple[str, float, float, bool]]] = defaultdict(list)
    for run in runs:
        for r in run["results"]:
            if r["metric"].endswith("_regression") and r["baseline"] and r["interval"]:
                low, high = r["interval"]
                outcomes[(run["condition"], r["name"])].append(
                    (
                        r["status"],
                        r.get("ratio") or r["measured"] / r["baseline"],
                        math.log(high / low) / 2,
                        low <= 1.0 <= high,
                    )
                )
    rows = []
    for (name, rule), got in sorted(outcomes.items(), key=lambda kv: (names.index(kv[0][0]), kv[0][1])):
        rows.append(
            {
                "condition": name,
                "rule": rule,
                "n": len(got),
                **{s: sum(1 for st, *_ in got if st == s) for s in ("fail", "pass", "inconclusive")},
                "ratio": statistics.median(g[1] for g in got),
                "half": statistics.median(g[2] for g in got),
                "holds": sum(1 for g in got if g[3]),
            }
        )
    return rows


def markdown_table(rows: list[dict], tolerance: dict[str, float]) -> list[str]:
    """The rule table as the README shows it."""
    lines = [
        "| condition | rule (tolerance) | fail | pass | inconclusive | ratio | ± | holds 1.0 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    order, conditions = list(tolerance), list(dict.fromkeys(r["condition"] for r in rows))

    def label(r: dict) -> str:  # a live verdict says "p50 regression of X", a judged-again one "p50 of X"
        return r["rule"].replace(" regression of ", " of ")

    for r in sorted(
        rows,
        key=lambda r: (conditions.index(r["condition"]), order.index(label(r)) if label(r) in order else len(order)),
    ):
        n, tol = r["n"], tolerance.get(label(r))
        rule = label(r).replace("ASYNC ", "") + (f" ({tol:.0%})" if tol is not None else "")
        lines.append(
            f"| {r['condition']} | {rule} | {r['fail']}/{n} | {r['pass']}/{n} | {r['inconclusive']}/{n} "
            f"| {r['ratio']:.3f} | {r['half']:.1%} | {r['holds']}/{n} |"
        )
    return lines


def tables(runs: list[dict], names: list[str]) -> None:
    print(f"{'condition':20} {'rule':44} {'fail':>7} {'pass':>7} {'inconcl.':>8} {'ratio':>7} {'±':>6} {'holds 1':>8}")
    for r in rule_rows(runs, names):
        n = r["n"]
        counts = f"{r['fail']:>3}/{n:<3} {r['pass']:>3}/{n:<3} {r['inconclusive']:>4}/{n:<3}"
        print(f"{r['condition']:20} {r['rule']:44} {counts} {r['ratio']:7.3f} {r['half']:6.1%} {r['holds']:>4}/{n:<3}")
    print()
    print(f"{'condition':20} exit codes (0 pass, 1 fail, 3 no verdict): counts; green; overloaded; stopped early")
    for name in names:
        mine = [r for r in runs if r["condition"] == name]
        codes = defaultdict(int)
        for r in mine:
            codes[r["exit"]] += 1
        overloaded = sum(1 for r in mine if r.get("load_generator_overloaded"))
        stopped = [r for r in mine if r["verdict"] == "error" and not r["results"]]
        listing = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
        print(
            f"{name:20} {listing}; {codes[0]}/{len(mine)} green; {overloaded}/{len(mine)}; {len(stopped)}/{len(mine)}"
        )
        if used := [n for r in mine if (n := trials_used(r))]:
            print(f"{'':20} trials made: median {statistics.median(used):g}, {min(used)}-{max(used)}")
        if stopped:
            why = "\n".join(stopped[0].get("problems", [])).strip() or "no reason given"
            print(f"{'':20} first stop: {why.splitlines()[0]}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--trials", type=int, default=8, help="runs per condition")
    p.add_argument("--run-time", default="2m")
    p.add_argument("--users", type=int, default=20)
    p.add_argument("--gate-trials", type=int, help="perf-gate --trials for each run (default: perf-gate's)")
    p.add_argument("--max-run-time", help="perf-gate --max-run-time: add trials until every rule is decided")
    p.add_argument("--backend", choices=["embedded", "compose"], default="embedded")
    p.add_argument("--thresholds", type=Path, default=ROOT / "thresholds.json")
    p.add_argument("--conditions", default=",".join(CONDITIONS), help="comma-separated names from the table")
    p.add_argument("--json", type=Path, help="every run's results, written as it finishes; resumed from")
    p.add_argument("--keep", type=Path, help="keep each run's results folder (raw samples included) under here")
    p.add_argument("--report", action="store_true", help="only print the tables of what --json holds")
    p.add_argument(
        "--markdown", action="store_true", help="also print the rule table in Markdown, as the README has it"
    )
    p.add_argument(
        "--rejudge",
        action="store_true",
        help="judge the runs kept under --keep again with this checkout's checker and --thresholds (no load)",
    )
    p.add_argument(
        "--rejudge-ratios",
        action="store_true",
        help="judge the runs in --json again from their trials' own ratios at --thresholds' tolerances "
        "(regression rules only; give the series' --run-time and --max-run-time)",
    )
    p.add_argument(
        "--shift",
        type=shift_arg,
        action="append",
        default=[],
        metavar="RULE=FACTOR",
        help="with --rejudge-ratios: the candidate slower by FACTOR in RULE's every trial (repeatable)",
    )
    args = p.parse_args()
    if args.shift and not args.rejudge_ratios:
        p.error("--shift needs --rejudge-ratios")
    names = [n.strip() for n in args.conditions.split(",")]
    if unknown := [n for n in names if n not in CONDITIONS]:
        p.error(f"--conditions: unknown {', '.join(map(repr, unknown))}; expected names from {', '.join(CONDITIONS)}")
    if importlib.util.find_spec("perfgate") is None:  # else every trial would fail the same way, silently
        sys.exit(f"perfgate is not installed for {sys.executable}: run `pip install --no-deps -e .` first")
    if args.rejudge:
        runs = rejudge(args, names)
    elif args.rejudge_ratios:
        runs = rejudge_ratios(args, names)
    elif args.report:
        runs = [r for r in json.loads(args.json.read_text()) if r["condition"] in names]
    else:
        runs = series(args, names)
    print(
        f"{args.trials} runs per condition asked, {len(runs)} made; run time {args.run_time}, {args.users} users, "
        f"{args.gate_trials or 'default'} fresh-start trials each (budget {args.max_run_time or 'none'}), "
        f"{args.backend} backend, "
        f"thresholds {args.thresholds.name}"
        + "".join(f"; candidate shifted x{factor:g} in {name}" for name, factor in args.shift)
    )
    tables(runs, names)
    if args.markdown:
        from perfgate import thresholds

        limits = thresholds.load(args.thresholds)
        print()
        print(
            "\n".join(
                markdown_table(
                    rule_rows(runs, names), {f"p{r.percentile} of {r.entry}": r.tolerance for r in limits.regressions}
                )
            )
        )


if __name__ == "__main__":
    main()
