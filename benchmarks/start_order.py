"""Does the side started first, or the side itself, make a difference in A/A runs?

    python -m benchmarks.start_order aa-runs/AA aa-runs/AA-busy

Reads the runs kept by `benchmarks.regression_detection --keep` (A/A: the
same commit on both sides). For every fresh-start trial it takes each
rule's own candidate/baseline ratio and which side came up first (from the
"backend up" line of the two backends' logs), then prints, per rule: the
mean ratio over all trials with its 95% interval (a systematic difference
between the side called baseline and the side called candidate would keep
it off 1), and the mean ratio when the candidate started first against when
the baseline did (an effect of start order). Numbers, not a verdict.
"""

import argparse
import math
import re
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

UP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) .*backend up")


def started_at(log: Path) -> str | None:
    for line in log.read_text(errors="replace").splitlines():
        if m := UP.match(line):
            return m.group(1)
    return None


def trial_ratios(run: Path, thresholds: Path) -> list[tuple[str, int, float]]:
    """(rule, trial, ln ratio) for every rule and trial of one kept run."""
    from perfgate import compare, results, samples
    from perfgate import thresholds as limits_file

    limits = limits_file.load(thresholds)
    raw = samples.load(run / "locust_raw.csv").ok
    spans = results.load_run_info(run / "locust_run_info.json").trials
    out = []
    for rule in limits.regressions:
        base, cand = raw.get((samples.BASELINE, rule.entry)), raw.get((samples.CANDIDATE, rule.entry))
        if base is None or cand is None:
            continue
        for n, (start, _, stop) in enumerate(spans, 1):
            part = compare.paired_windows(base, cand, limits.window_s, span=(start, stop))
            ys = compare.trial_log_ratios([part], rule.percentile)
            if len(ys):
                out.append((f"p{rule.percentile} of {rule.entry}", n, float(ys[0])))
    return out


def mean_interval(ys: list[float]) -> str:
    if len(ys) < 3:
        return f"{len(ys)} trials"
    mean, se = statistics.fmean(ys), statistics.stdev(ys) / math.sqrt(len(ys))
    t = stats.t.ppf(0.975, len(ys) - 1)
    return f"{math.exp(mean):.4f} ({math.exp(mean - t * se):.4f}–{math.exp(mean + t * se):.4f}, {len(ys)} trials)"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="a condition's folder of kept runs (e.g. aa-runs/AA)")
    p.add_argument("--thresholds", type=Path, default=Path(__file__).resolve().parents[1] / "thresholds.json")
    args = p.parse_args(argv)
    by_rule: dict[str, dict[str, list[float]]] = {}
    runs = 0
    for folder in args.folders:
        for run in sorted(x for x in folder.iterdir() if (x / "locust_raw.csv").exists()):
            runs += 1
            for rule, n, y in trial_ratios(run, args.thresholds):
                base, cand = (started_at(run / f"backend-{side}-trial{n}.log") for side in ("baseline", "candidate"))
                first = "candidate first" if base and cand and cand < base else "baseline first"
                groups = by_rule.setdefault(rule, {"all": [], "candidate first": [], "baseline first": []})
                groups["all"].append(y)
                groups[first].append(y)
    if not by_rule:
        sys.exit("no kept runs with raw samples under " + ", ".join(map(str, args.folders)))
    print(f"{runs} runs; ratio = candidate/baseline, geometric mean over trials, 95% interval")
    for rule, groups in by_rule.items():
        a, b = groups["candidate first"], groups["baseline first"]
        p_value = stats.ttest_ind(a, b, equal_var=False).pvalue if len(a) > 1 and len(b) > 1 else float("nan")
        print(f"{rule}\n  all trials:      {mean_interval(groups['all'])}")
        print(f"  candidate first: {mean_interval(a)}\n  baseline first:  {mean_interval(b)}")
        print(f"  start order: Welch's t-test p = {p_value:.3f}; trials' sd {np.std(groups['all'], ddof=1):.2%}")


if __name__ == "__main__":
    main()
