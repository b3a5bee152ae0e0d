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
with the same `--json` resumes where it stopped. A run is its --run-time of
load (up to --max-run-time while a rule is undecided) plus both backends'
fresh start in each of its trials: the command above (60 runs of each of 2
conditions) is more than 4 hours of load alone, the defaults (8 runs of each
of the 13 conditions) more than 3.5 hours. Commit a series' `--json` once, when the series
ends (stored series live in benchmarks/results/), not after every run.
`--keep` keeps each run's results folder, raw samples included,
so that the runs can be judged again offline. The tables give counts (x of N)
per condition and rule: fail, pass, inconclusive, the median measured ratio
and the median half-width of the interval, how often the 95% interval held
1.0 (for A/A it should be about 95%), and the gate's exit codes. Numbers, not
a verdict. `--report`, `--rejudge-ratios` and `--rejudge` put no load on
the machine: seconds, and for `--rejudge` a few seconds per kept run.
"""

import argparse
import importlib.util
import json
import math
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import rejudge, series_report, trial_ratios

ROOT = Path(__file__).resolve().parents[1]

# name -> candidate knobs (the baseline always runs with the defaults below)
BASE_ENV = {
    "BACKEND_PROCESSING_MS": "50",
    "BACKEND_API_LATENCY_MS": "0",
    "BACKEND_POST_CPU_US": "0",
    "BACKEND_GET_CPU_US": "0",
    "BACKEND_LEAK_BYTES": "0",
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
    # what the resource rules are for: about +3% of the service's CPU per request at 20 users (about
    # 1.12 ms; every POST and GET 45 µs more, and 35 µs measured +2.4%), and a leak of about 20 MB
    # over a 30 s trial
    "CPU +3%": {"BACKEND_GET_CPU_US": "45", "BACKEND_POST_CPU_US": "45"},
    "leak 20 MB": {"BACKEND_LEAK_BYTES": "10000"},
}


BUSY = "busy"  # conditions with this word run a CPU burner beside the gate
PINNED = "pinned"  # conditions with this word keep Locust apart from the services (--pin-cpus auto)


def burner() -> subprocess.Popen:
    """A process that keeps one core busy until it is stopped, or this benchmark dies."""
    from perfgate import backends

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], preexec_fn=backends.die_with_parent)


def trial(condition: dict[str, str], args: argparse.Namespace, out: Path, name: str = "") -> dict:
    from perfgate import context

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
    cmd += ["--max-run-time", args.max_run_time or args.run_time]  # without it, a fixed run: no default budget
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
    verdict["gate"] = context.commit(ROOT, "HEAD")  # a series resumed across changes says which gate made each run
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
                    kept = trial_ratios.kept_folder(args.keep, name, i)
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


def factors_arg(text: str) -> list[float]:
    """ "1.03,1.05" -> [1.03, 1.05]: slowdowns, each above 1."""
    try:
        factors = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        factors = []
    if not factors or not all(f > 1 for f in factors):
        raise argparse.ArgumentTypeError(f"expected factors above 1 like 1.03,1.05,1.10; got {text!r}")
    return factors


def level_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a level between 0 and 1 like 0.01; got {text!r}")
    return value


def main(argv: list[str] | None = None) -> None:
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
    p.add_argument("--markdown", action="store_true", help="also print the rule table in Markdown, as the docs have it")
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
        type=rejudge.shift_arg,
        action="append",
        default=[],
        metavar="RULE=FACTOR",
        help="with --rejudge-ratios: the candidate slower by FACTOR in RULE's every trial (repeatable)",
    )
    p.add_argument(
        "--catch",
        type=factors_arg,
        metavar="FACTORS",
        help="with --rejudge-ratios: a table of what each rule catches, slowed by each factor, e.g. 1.03,1.05,1.10",
    )
    p.add_argument(
        "--plain-trials",
        action="store_true",
        help="with --rejudge-ratios: leave the start order in the trials' spread (as perf-gate did before it "
        "took the order out)",
    )
    p.add_argument(
        "--drop-outlier",
        type=level_arg,
        metavar="P",
        help="with --rejudge-ratios: leave out of each rule the trial furthest from the rest when it is an outlier "
        "at P (Bonferroni over the trials; e.g. 0.01), as an experiment: perf-gate keeps every trial",
    )
    args = p.parse_args(argv)
    if (args.shift or args.catch or args.plain_trials or args.drop_outlier) and not args.rejudge_ratios:
        p.error("--shift, --catch, --plain-trials and --drop-outlier need --rejudge-ratios")
    names = [n.strip() for n in args.conditions.split(",")]
    if unknown := [n for n in names if n not in CONDITIONS]:
        p.error(f"--conditions: unknown {', '.join(map(repr, unknown))}; expected names from {', '.join(CONDITIONS)}")
    if importlib.util.find_spec("perfgate") is None:  # else every trial would fail the same way, silently
        sys.exit(f"perfgate is not installed for {sys.executable}: run `pip install --no-deps -e .` first")
    if args.rejudge:
        runs = rejudge.rejudge(args, names)
    elif args.rejudge_ratios:
        runs = rejudge.rejudge_ratios(args, names)
    elif args.report:
        runs = [r for r in json.loads(args.json.read_text()) if r["condition"] in names]
    else:
        runs = series(args, names)
    made = f"{args.trials} runs per condition asked, {len(runs)} made"
    asked = f"{len(runs)} runs of these conditions in {args.json}" if args.report else made
    print(
        f"{asked}; run time {args.run_time}, {args.users} users, "
        f"{args.gate_trials or 'default'} fresh-start trials each (budget {args.max_run_time or 'none'}), "
        f"{args.backend} backend, "
        f"thresholds {args.thresholds.name}"
        + "".join(f"; candidate shifted x{factor:g} in {name}" for name, factor in args.shift)
    )
    series_report.tables(runs, names)
    if args.markdown:
        from perfgate import check, thresholds

        rules = thresholds.load(args.thresholds)
        tolerance = {f"p{r.percentile} of {r.entry}": r.tolerance for r in rules.regressions} | {
            f"{check.metric_label(r.metric)} of {thresholds.SERVICE}": r.tolerance for r in rules.resource_rules
        }
        print("\n" + "\n".join(series_report.markdown_table(series_report.rule_rows(runs, names), tolerance)))
    if args.catch:
        print("\ncaught (failed), each rule alone slowed by each factor:")
        print("\n".join(rejudge.catch_table(args, names, args.catch)))


if __name__ == "__main__":
    main()
