"""Would another estimator of a trial's ratio make the comparison tighter?

    python -m benchmarks.research.quantile_estimators aa-runs/AA aa-runs/AA-busy

Reads runs kept by `benchmarks.regression_detection --keep` and, for every
rule and fresh-start trial, estimates ln(candidate / baseline) four ways
from the same samples (the trial's first window, warm-up, left out):

- histogram: what the gate does (percentiles of 0.6%-wide log bins);
- samples: numpy's percentile of the raw response times;
- Harrell-Davis: a weighted sum of every order statistic (scipy's
  `mstats.hdquantiles`), smoother than one order statistic;
- windows' mean: the mean over the trial's 5 s windows of each window's
  ratio, which cancels what both sides share within a window.

The interval over trials is only as narrow as the trials' spread, so what
it prints per rule is the spread (standard deviation of the trials' ln
ratios within a run, median over runs) and each estimator's spread as a
multiple of the histogram's (median over runs). Below 1 is tighter.
"""

import argparse
import math
from pathlib import Path

import numpy as np
from scipy.stats import mstats

from benchmarks import trial_ratios
from perfgate import compare

ESTIMATORS = ("histogram", "samples", "Harrell-Davis", "windows' mean")
MIN_TRIALS = 4


def trial_estimates(base, cand, span, window_s: float, percentile: float) -> tuple[float, ...] | None:
    """ln(candidate / baseline) of one trial by each estimator, or None for a trial too thin to judge."""
    hb, hc, _ = compare.paired_windows(base, cand, window_s, span=span)
    if len(hb) < compare.MIN_WINDOWS_FOR_RATIO:
        return None
    b, c = compare._within(base, *span), compare._within(cand, *span)
    start = min(b.times.min(), c.times.min()) + window_s  # as paired_windows: the first window is warm-up
    bv, cv = b.values[b.times >= start], c.values[c.times >= start]
    q = percentile / 100
    return (
        float(compare.trial_log_ratios([(hb, hc, np.zeros(len(hb)))], percentile)[0]),
        math.log(np.percentile(cv, percentile) / np.percentile(bv, percentile)),
        math.log(float(mstats.hdquantiles(cv, prob=[q])[0]) / float(mstats.hdquantiles(bv, prob=[q])[0])),
        float(np.log(compare.window_ratios(hb, hc, percentile)).mean()),
    )


def spreads(runs: list[Path], thresholds: Path) -> dict[str, list[np.ndarray]]:
    """{rule: [per run, the trials' spread by each estimator]} for runs of MIN_TRIALS trials or more."""
    out: dict[str, list[np.ndarray]] = {}
    for run in runs:
        kept = trial_ratios.load(run, thresholds)
        for name, rule, base, cand in kept.rules:
            rows = [trial_estimates(base, cand, span, kept.window_s, rule.percentile) for span in kept.spans]
            rows = [row for row in rows if row is not None]
            if len(rows) >= MIN_TRIALS:
                out.setdefault(name, []).append(np.std(np.array(rows), axis=0, ddof=1))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of kept runs (one subfolder per run)")
    parser.add_argument("--thresholds", type=Path, default=Path(__file__).resolve().parents[2] / "thresholds.json")
    args = parser.parse_args(argv)
    runs = [
        run for folder in args.folders for run in sorted(folder.iterdir()) if (run / "locust_run_info.json").exists()
    ]
    found = spreads(runs, args.thresholds)
    print(f"{'rule':36} {'runs':>4} {'spread':>7}  " + "  ".join(f"{e:>13}" for e in ESTIMATORS[1:]))
    for name, per_run in sorted(found.items()):
        s = np.array(per_run)
        factors = [float(np.median(s[:, i] / s[:, 0])) for i in range(1, len(ESTIMATORS))]
        line = f"{name:36} {len(s):4d} {np.median(s[:, 0]) * 100:6.2f}%  "
        print(line + "  ".join(f"{f:12.3f}x" for f in factors))


if __name__ == "__main__":
    main()
