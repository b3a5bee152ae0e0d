"""Does the side started first, or the side itself, make a difference in A/A runs?

    python -m benchmarks.research.start_order aa-runs/AA aa-runs/AA-busy
    python -m benchmarks.research.start_order --by-window aa-runs/AA aa-runs/AA-busy

Reads the runs kept by `benchmarks.regression_detection --keep` (A/A: the
same commit on both sides). For every fresh-start trial it takes each
rule's own candidate/baseline ratio and which side came up first (from the
two backends' logs: the "backend up" line, with compose PostgreSQL's
start), then prints, per rule: the mean ratio over all trials with its 95%
interval (a systematic difference between the side called baseline and the
side called candidate would keep it off 1), and the mean ratio when the
candidate started first against when the baseline did (an effect of start
order). Numbers, not a verdict.

With `--by-window`, the effect of start order along a trial instead: per
window of the trial (the first one, warm-up, included), the mean of
ln(first started / second started) over all trials. An effect of warm-up
shrinks along the trial; one of the processes' placement or set-up lasts.
"""

import argparse
import math
import statistics
import sys
from pathlib import Path

import numpy as np
from scipy import stats

from benchmarks import trial_ratios
from perfgate import compare


def mean_interval(ys: list[float]) -> str:
    if len(ys) < 3:
        return f"{len(ys)} trials"
    mean, se = statistics.fmean(ys), statistics.stdev(ys) / math.sqrt(len(ys))
    t = stats.t.ppf(0.975, len(ys) - 1)
    return f"{math.exp(mean):.4f} ({math.exp(mean - t * se):.4f}–{math.exp(mean + t * se):.4f}, {len(ys)} trials)"


def first_over_second(run: Path, thresholds: Path) -> dict[str, dict[int, list[float]]]:
    """{rule: {window of the trial (0: warm-up): [ln(first started / second started), one per trial]}}."""
    kept = trial_ratios.load(run, thresholds)
    out: dict[str, dict[int, list[float]]] = {}
    for name, rule, base, cand in kept.rules:
        by_window = out.setdefault(name, {})
        for span, first in zip(kept.spans, kept.candidate_first, strict=True):
            if first is None:
                continue
            hb, hc, starts = compare.paired_windows(base, cand, kept.window_s, warmup_s=0, span=span)
            ys = np.log(compare.window_ratios(hb, hc, rule.percentile))
            for at, y in zip(starts, ys if first else -ys, strict=True):
                by_window.setdefault(round(at / kept.window_s), []).append(float(y))
    return out


def window_line(ys: list[float]) -> str:
    se = statistics.stdev(ys) / math.sqrt(len(ys)) if len(ys) > 1 else math.nan
    return f"{math.expm1(statistics.fmean(ys)):+.2%} ± {se:.2%} ({len(ys)})"


def by_window(runs: list[Path], thresholds: Path) -> dict[str, dict[int, list[float]]]:
    """first_over_second of every run, the trials put together."""
    by_rule: dict[str, dict[int, list[float]]] = {}
    for run in runs:
        for rule, windows in first_over_second(run, thresholds).items():
            for at, ys in windows.items():
                by_rule.setdefault(rule, {}).setdefault(at, []).extend(ys)
    return by_rule


def print_by_window(by_rule: dict[str, dict[int, list[float]]], runs: int) -> None:
    print(f"{runs} runs; first started / second started, mean ± standard error (trials), per window of a trial")
    for rule, windows in by_rule.items():
        print(rule)
        for at, ys in sorted(windows.items()):
            print(f"  window {at}{' (warm-up)' if at == 0 else ''}: {window_line(ys)}")


def by_start_order(runs: list[Path], thresholds: Path) -> dict[str, dict[str, list[float]]]:
    """{rule: {"all" | "candidate first" | "baseline first": [ln ratio of each trial]}}."""
    by_rule: dict[str, dict[str, list[float]]] = {}
    for run in runs:
        for rule, got in trial_ratios.of_run(run, thresholds).items():
            groups = by_rule.setdefault(rule, {"all": [], "candidate first": [], "baseline first": []})
            for y, first in zip(got["ln_ratios"], got["candidate_first"], strict=True):
                groups["all"].append(y)
                if first is not None:
                    groups["candidate first" if first else "baseline first"].append(y)
    return by_rule


def print_by_start_order(by_rule: dict[str, dict[str, list[float]]], runs: int) -> None:
    print(f"{runs} runs; ratio = candidate/baseline, geometric mean over trials, 95% interval")
    for rule, groups in by_rule.items():
        a, b = groups["candidate first"], groups["baseline first"]
        p_value = stats.ttest_ind(a, b, equal_var=False).pvalue if len(a) > 1 and len(b) > 1 else float("nan")
        print(f"{rule}\n  all trials:      {mean_interval(groups['all'])}")
        print(f"  candidate first: {mean_interval(a)}\n  baseline first:  {mean_interval(b)}")
        print(f"  start order: Welch's t-test p = {p_value:.3f}; trials' sd {np.std(groups['all'], ddof=1):.2%}")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", type=Path, help="a condition's folder of kept runs (e.g. aa-runs/AA)")
    p.add_argument("--thresholds", type=Path, default=Path(__file__).resolve().parents[2] / "thresholds.json")
    p.add_argument("--by-window", action="store_true", help="the start order's effect along a trial, window by window")
    args = p.parse_args(argv)
    if missing := [str(folder) for folder in args.folders if not folder.is_dir()]:
        sys.exit(f"no such folder: {', '.join(missing)}; expected folders of runs kept by regression_detection --keep")
    runs = [run for folder in args.folders for run in sorted(folder.iterdir()) if (run / "locust_raw.csv").exists()]
    collect, show = (by_window, print_by_window) if args.by_window else (by_start_order, print_by_start_order)
    by_rule = collect(runs, args.thresholds)
    if not by_rule:
        sys.exit(
            f"no kept runs with samples of {args.thresholds}'s regression rules under "
            + ", ".join(map(str, args.folders))
        )
    show(by_rule, len(runs))


if __name__ == "__main__":
    main()
