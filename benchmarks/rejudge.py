"""What would a stored series' runs have decided at other tolerances,
confidence or slowdowns? The series judged again, without load: from its
trials' own ratios (`rejudge_ratios`, with each run's looks replayed), or
from kept raw samples with this checkout's whole checker (`rejudge`).
`--shift` lays a known slowdown over an A/A series' own noise, `--catch`
tabulates what each rule catches. Run through regression_detection:

    python -m benchmarks.regression_detection --rejudge-ratios --run-time 2m --max-run-time 5m \\
        --conditions "A/A,A/A busy" --json benchmarks/results/aa-embedded.json --thresholds other.json
    python -m benchmarks.regression_detection --rejudge --conditions "A/A" --keep aa-runs

No load: `--rejudge-ratios` is arithmetic on the JSON and takes seconds;
`--rejudge` is one checker pass per kept run, a few seconds each.
"""

import argparse
import io
import json
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

from benchmarks import trial_ratios
from benchmarks.research import outlier_trials


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


class Replay(NamedTuple):
    """A run's looks replayed: the trials its decision used, the trials stored, the results there."""

    used: int
    stored: int
    results: list[dict]


def replay_looks(
    trials: dict[str, dict],
    tolerance: dict[str, float],
    confidence: float,
    looks: tuple[int, ...],
    shift: dict,
    by_order: bool = True,
    drop_outlier: float | None = None,
) -> Replay:
    """A run's looks replayed from its trials' stored ratios: after the planned
    trials and each one after, every rule judged on the trials so far, the
    run stopping at the first look where all are decided, or at its last
    stored trial. Only the pooled windows' se is stored; at an earlier look
    it is taken as that se times sqrt(stored / k), since it shrinks with the
    square root of the windows. A run of fixed length has one look, at its
    planned trials, however many were stored. With each trial's start order
    stored (and `by_order`), it is taken out as the gate does."""
    rules = {name: got for name, got in trials.items() if name in tolerance and len(got["ln_ratios"]) >= 3}
    stored = max((len(got["ln_ratios"]) for got in rules.values()), default=0)
    results: list[dict] = []
    last = min(looks[-1], stored)
    for k in range(min(looks[0], stored), last + 1):
        results = []
        for name, got in rules.items():
            ys = [y + math.log(shift.get(name, 1.0)) for y in got["ln_ratios"][:k]]
            if len(ys) < 3:
                continue
            within = got["within_log"] * math.sqrt(len(got["ln_ratios"]) / len(ys))
            order = stored_order(got, len(ys)) if by_order else None
            if drop_outlier:
                ys, order = outlier_trials.without_outlier(ys, order, drop_outlier)
            status, low, high = trial_ratios.judge(ys, within, tolerance[name], confidence, looks, order)
            ratio = math.sqrt(low * high)  # the interval is symmetric around it in logs
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
            return Replay(k, stored, results)
    return Replay(last, stored, results)


def stored_order(got: dict, k: int) -> list[bool] | None:
    """The first k trials' start orders, when every one of them is known."""
    firsts = got.get("candidate_first")
    if not firsts or len(firsts) != len(got["ln_ratios"]) or None in firsts[:k]:
        return None
    return firsts[:k]


def rejudge_ratios(args: argparse.Namespace, names: list[str], stored: list[dict] | None = None) -> list[dict]:
    """The runs in --json judged again from their trials' own ratios at --thresholds'
    tolerances and confidence (regression rules only; absolute thresholds are
    not re-checked), their looks replayed (`replay_looks`). --shift multiplies
    a rule's every trial ratio: an A/A series' own noise around a known
    slowdown, to see what the tolerances would catch. `stored` is --json's
    runs when the caller has them already."""
    from perfgate import thresholds

    limits = thresholds.load(args.thresholds)
    tolerance = {f"p{r.percentile} of {r.entry}": r.tolerance for r in limits.regressions}
    looks, runs = looks_of(args), []
    shift = dict(args.shift)
    if unknown := sorted(set(shift) - set(tolerance)):
        sys.exit(f"--shift: no regression rule {', '.join(map(repr, unknown))}; expected one of {', '.join(tolerance)}")
    for run in json.loads(args.json.read_text()) if stored is None else stored:
        if run["condition"] not in names or not run.get("trials"):
            continue
        replay = replay_looks(
            run["trials"], tolerance, limits.confidence, looks, shift, not args.plain_trials, args.drop_outlier
        )
        statuses = {r["status"] for r in replay.results}
        code = 1 if "fail" in statuses else 3 if statuses - {"pass"} else 0
        # undecided where the run, as made, had stopped: the gate would have gone on, the replay cannot
        cut_short = code == 3 and replay.used < looks[-1] and replay.used >= replay.stored
        runs.append(
            {
                "condition": run["condition"],
                "trial": run["trial"],
                "exit": code,
                "verdict": "",
                "results": replay.results,
                "cut_short": cut_short,
            }
        )
    return runs


def rejudge(args: argparse.Namespace, names: list[str]) -> list[dict]:
    """The kept runs' raw samples judged again: another estimator, tolerance or
    window against the same load, in seconds instead of hours. The original
    run's looks (a sequential run) are not known here: one look."""

    from perfgate import check_cli

    runs = []
    for name in names:
        folder = trial_ratios.kept_folder(args.keep, name)
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


def catch_table(args: argparse.Namespace, names: list[str], factors: list[float]) -> list[str]:
    """Markdown: per regression rule, in how many of the runs it fails when its
    every trial ratio is `factor` times larger (that rule alone shifted); in
    brackets, in how many more it was still undecided where the run, as
    made, had stopped (unknown: the gate would have gone on loading)."""
    from perfgate import thresholds

    limits, stored = thresholds.load(args.thresholds), json.loads(args.json.read_text())
    head = "| rule (tolerance) | " + " | ".join(f"+{round((factor - 1) * 100, 1):g}%" for factor in factors) + " |"
    lines = [head, "| --- |" + " ---: |" * len(factors)]
    for rule in limits.regressions:
        name = f"p{rule.percentile} of {rule.entry}"
        cells = []
        for factor in factors:
            runs = rejudge_ratios(argparse.Namespace(**{**vars(args), "shift": [(name, factor)]}), names, stored)
            status = [next((r["status"] for r in run["results"] if r["name"] == name), None) for run in runs]
            caught = status.count("fail")
            cut = sum(1 for run, got in zip(runs, status, strict=True) if run["cut_short"] and got == "inconclusive")
            cells.append(f"{caught}/{len(runs)}" + (f" (+{cut}?)" if cut else ""))
        lines.append(
            f"| {name.replace('ASYNC ', '')} ({round(rule.tolerance * 100, 1):g}%) | " + " | ".join(cells) + " |"
        )
    return lines
