"""How much of each trial's start to leave out, measured on kept series.

The comparison leaves each trial's first window (5 s) out as warm-up: a sixth
of a 30 s trial's samples. This judges the same kept runs again with other
cuts: each trial's ratios recomputed from its raw samples with the windows
starting `cut` seconds after its first sample, then the series replayed look
by look as the gate judges it (`--rejudge-ratios`). It prints, per cut, the
trials' spread per rule (pooled over the runs, start order taken out) and
each condition's exit codes, so a narrower spread can be told from more
runs decided. It first asks whether the first window carries an effect
that lasts a run (the same in all its trials): the trials' spread cannot
see one, so leaving less out would move the ratio without widening the
interval:

    python -m benchmarks.research.warmup_cut --json aa.json --keep aa-runs --conditions "A/A,A/A busy" \\
        --cuts 5,1,0 --run-time 2m --max-run-time 5m
"""

import argparse
import json
import math
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks import rejudge, trial_ratios
from perfgate import compare

ROOT = Path(__file__).resolve().parents[2]


def pooled_spread(runs: list[dict], rule: str) -> float:
    """The trials' ln ratios' standard deviation around their own start order's
    mean, pooled over runs of 6 trials or more (the gate's model from its 6th)."""
    squares, dof = 0.0, 0
    for run in runs:
        got = run["trials"].get(rule)
        if not got or len(got["ln_ratios"]) < 6 or None in got["candidate_first"]:
            continue
        ys, first = np.array(got["ln_ratios"]), np.array(got["candidate_first"], dtype=bool)
        groups = [ys[first], ys[~first]]
        squares += sum(float(((g - g.mean()) ** 2).sum()) for g in groups if len(g))
        dof += len(ys) - sum(1 for g in groups if len(g))
    return math.sqrt(squares / dof) if dof else math.nan


def recut(stored: list[dict], keep: Path, names: list[str], thresholds: Path, cut: float | None) -> list[dict]:
    """The stored runs whose raw samples were kept, their trials' ratios recomputed with `cut`.
    The windows' se is the stored one: it stands in only for trials whose ratios are all the same."""
    runs = []
    for run in stored:
        folder = trial_ratios.kept_folder(keep, run["condition"], run["trial"])
        if run["condition"] in names and (folder / "locust_raw.csv").exists():
            trials = trial_ratios.of_run(folder, thresholds, cut, bootstrap=False)
            for name, got in trials.items():
                got["within_log"] = run.get("trials", {}).get(name, {}).get("within_log", math.nan)
            runs.append({**run, "trials": trials})
    return runs


def first_window_ratios(folder: Path, thresholds: Path) -> dict[str, tuple[list[float], list[bool | None]]]:
    """Per rule, each trial's ratio over its first window alone, and its start order."""
    kept = trial_ratios.load(folder, thresholds)
    out = {}
    for name, rule, base, cand in kept.rules:
        ys, firsts = [], []
        for span, first in zip(kept.spans, kept.candidate_first, strict=True):
            hb, hc, starts = compare.paired_windows(base, cand, kept.window_s, 0.0, span=span)
            if len(starts) and starts[0] == 0:
                q = rule.percentile
                ys.append(math.log(compare.hist_percentiles(hc[:1], q)[0] / compare.hist_percentiles(hb[:1], q)[0]))
                firsts.append(first)
        out[name] = (ys, firsts)
    return out


def run_level(per_run: list[tuple[list[float], list[bool | None]]]) -> float:
    """F: how much the runs' mean ratios spread across runs against what their
    trials' spread within each run predicts (about 1 when nothing lasts a run).
    The start order is taken out as the gate takes it out."""
    means, expected = [], []
    for ys, firsts in per_run:
        if len(ys) < 6 or None in firsts or len(set(firsts)) < 2:
            continue
        y, first = np.array(ys), np.array(firsts, dtype=bool)
        a, b = y[first], y[~first]
        var = (((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()) / (len(y) - 2)
        means.append((a.mean() + b.mean()) / 2)
        expected.append(var * (1 / len(a) + 1 / len(b)) / 4)
    return float(np.var(means, ddof=1) / np.mean(expected)) if len(means) > 2 else math.nan


def cuts_arg(text: str) -> list[float]:
    try:
        cuts = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        cuts = []
    if not cuts or any(not 0 <= c < 60 for c in cuts):
        raise argparse.ArgumentTypeError(f"expected seconds from 0 to 60 like 5,1,0, got {text!r}")
    return cuts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, required=True, help="the series' results (regression_detection --json)")
    p.add_argument("--keep", type=Path, required=True, help="its kept runs (regression_detection --keep)")
    p.add_argument("--conditions", required=True)
    p.add_argument("--cuts", type=cuts_arg, default=[5.0, 1.0, 0.0], help="seconds left out, e.g. 5,1,0")
    p.add_argument("--thresholds", type=Path, default=ROOT / "thresholds.json")
    p.add_argument("--run-time", default="2m", help="the series' --run-time")
    p.add_argument("--max-run-time", default="5m", help="the series' --max-run-time")
    p.add_argument("--gate-trials", type=int, default=None)
    args = p.parse_args(argv)
    names = [n.strip() for n in args.conditions.split(",")]
    stored = json.loads(args.json.read_text())
    replay = argparse.Namespace(**vars(args), shift=[], plain_trials=False, drop_outlier=None)
    folders = [
        trial_ratios.kept_folder(args.keep, run["condition"], run["trial"])
        for run in stored
        if run["condition"] in names
    ]
    firsts = [first_window_ratios(f, args.thresholds) for f in folders if (f / "locust_raw.csv").exists()]
    print(f"the first window alone, {len(firsts)} kept runs: F, the spread of the runs' means against their trials'")
    for rule in sorted({rule for run in firsts for rule in run}):
        print(f"  {rule:40} F {run_level([run[rule] for run in firsts if rule in run]):5.2f}")
    for cut in args.cuts:
        runs = recut(stored, args.keep, names, args.thresholds, cut)
        rules = sorted({rule for run in runs for rule in run["trials"]})
        print(f"cut {cut:g} s, {len(runs)} kept runs: the trials' spread (start order taken out)")
        for rule in rules:
            print(f"  {rule:40} {pooled_spread(runs, rule) * 100:6.2f}%")
        judged = rejudge.rejudge_ratios(replay, names, runs)
        for name in names:
            codes = Counter(r["exit"] for r in judged if r["condition"] == name)
            shown = ", ".join(f"{code}: {n}" for code, n in sorted(codes.items()))
            print(f"  {name:20} exit codes {shown} (0 pass, 1 fail, 3 no verdict)")


if __name__ == "__main__":
    main()
