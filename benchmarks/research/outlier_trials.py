"""One trial left out of a rule when it is an outlier among that rule's
trials: whether a trial disturbed by a burst of work beside the gate (every
rule moving together on one side) is what keeps A/A runs undecided. The
gate itself does not do this (docs/research-series.md: Outlying trials).

    python -m benchmarks.research.outlier_trials --level 0.01 --json aa.json \\
        --conditions "A/A,A/A busy" --run-time 2m --max-run-time 5m --trials 30

judges a stored series again from its trials' ratios (no load, seconds)
twice, every trial kept and then the outlier left out, and prints both
tables. Every option but --level goes to `benchmarks.regression_detection
--rejudge-ratios`, whose `--drop-outlier P` is the second judgement alone.
"""

import argparse
import math

import numpy as np
from scipy import stats

MIN_TRIALS = 6  # fewer leave too little to tell an outlier from the spread


def studentized(ys: np.ndarray, groups: np.ndarray, i: int) -> tuple[float, int]:
    """Trial i's externally studentized residual: its distance from the mean
    of the other trials of its start order, in units of the others' pooled
    spread (and the mean's own se), with the spread's degrees of freedom.
    0 for a trial alone in its start order: nothing to measure it against."""
    others = np.arange(len(ys)) != i
    own = ys[others & (groups == groups[i])]
    rest = [chosen for kind in (True, False) if len(chosen := ys[others & (groups == kind)])]
    df = int(others.sum()) - len(rest)
    spread = math.sqrt(sum(float(((c - c.mean()) ** 2).sum()) for c in rest) / df) if df > 0 else 0.0
    if not len(own) or spread == 0:
        return 0.0, df
    return (ys[i] - float(own.mean())) / (spread * math.sqrt(1 + 1 / len(own))), df


def without_outlier(
    ys: list[float], candidate_first: list[bool] | None, alpha: float
) -> tuple[list[float], list[bool] | None]:
    """The trials' ln ratios (and start orders) without the one furthest from
    the rest, when it is an outlier at `alpha` (Bonferroni over the trials);
    else as given. A trial alone in its start order is never left out: there
    is nothing to measure it against."""
    k = len(ys)
    if k < MIN_TRIALS:
        return ys, candidate_first
    groups = np.asarray(candidate_first if candidate_first is not None else [True] * k, dtype=bool)
    values = np.asarray(ys, dtype=float)
    residuals = [studentized(values, groups, i) for i in range(k)]
    worst = max(range(k), key=lambda i: abs(residuals[i][0]))
    t, df = residuals[worst]
    if df < 2 or 2 * stats.t.sf(abs(t), df) * k >= alpha:
        return ys, candidate_first
    kept = [y for n, y in enumerate(ys) if n != worst]
    order = None if candidate_first is None else [f for n, f in enumerate(candidate_first) if n != worst]
    return kept, order


def main(argv: list[str] | None = None) -> None:
    from benchmarks import regression_detection

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--level", type=regression_detection.level_arg, default=0.01, help="outlier at this P (Bonferroni)")
    args, rest = p.parse_known_args(argv)
    for title, extra in (
        ("every trial kept", []),
        (f"the outlier left out at {args.level:g}", ["--drop-outlier", str(args.level)]),
    ):
        print(f"== {title}", flush=True)
        regression_detection.main(["--rejudge-ratios", *extra, *rest])
        print()


if __name__ == "__main__":
    main()
