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
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks import trial_ratios


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
            for rule, got in trial_ratios.of_run(run, args.thresholds).items():
                groups = by_rule.setdefault(rule, {"all": [], "candidate first": [], "baseline first": []})
                for y, first in zip(got["ln_ratios"], got["candidate_first"], strict=True):
                    groups["all"].append(y)
                    if first is not None:
                        groups["candidate first" if first else "baseline first"].append(y)
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
