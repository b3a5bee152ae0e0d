"""Regressions judged side by side: baseline and candidate loaded at once, in
the same Locust run, so the machine's noise hits both alike.

Per entry, the run is cut into windows of `window_s`. In each window the
chosen percentile of the candidate's raw response times is divided by the
baseline's; the log ratios of the windows are paired samples, and a Student t
interval on their mean gives an interval for the ratio. A regression fails only
when the whole interval lies above 1 + tolerance; a pass needs the whole
interval at or below it; anything else is inconclusive, with the run length
that would decide.
"""

import csv
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from perfgate.errors import NoVerdict
from perfgate.thresholds import RegressionRule, Thresholds

BASELINE, CANDIDATE = "baseline", "candidate"
MIN_SAMPLES_PER_WINDOW = 20
MIN_WINDOWS = 5


@dataclass
class Samples:
    times: np.ndarray
    values: np.ndarray


@dataclass
class Comparison:
    entry: str
    percentile: int
    baseline: float  # whole-run percentile, ms
    candidate: float
    ratio: float  # geometric mean of the window ratios
    low: float
    high: float
    windows: int
    log_sd: float  # spread of the window log ratios: this machine's noise

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2


def split_label(name: str) -> tuple[str, str] | None:
    """'[candidate] /requests' -> ('candidate', '/requests')."""
    if not name.startswith("["):
        return None
    label, sep, rest = name[1:].partition("] ")
    return (label, rest) if sep else None


def load_samples(path: Path) -> dict[tuple[str, str], Samples]:
    """Successful samples per (label, entry); failures are judged by failure_ratio."""
    buckets: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
    try:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            for line, row in enumerate(reader, start=2):
                try:
                    split = split_label(row["name"])
                    if split is None or row["ok"] != "1":
                        continue
                    t, v = float(row["time"]), float(row["response_time_ms"])
                except (KeyError, TypeError, ValueError):
                    raise NoVerdict(f"{path}:{line}: unreadable raw sample {row}") from None
                label, name = split
                times, values = buckets.setdefault((label, f"{row['type']} {name}"), ([], []))
                times.append(t)
                values.append(v)
    except FileNotFoundError:
        raise NoVerdict(f"{path}: raw samples missing (Locust must run with --raw-samples)") from None
    return {key: Samples(np.asarray(t), np.asarray(v)) for key, (t, v) in buckets.items()}


def window_log_ratios(
    base: Samples, cand: Samples, percentile: float, window_s: float, skip_windows: int = 1
) -> np.ndarray:
    """Log of candidate/baseline percentile per window with enough samples on both sides.
    The first `skip_windows` windows (ramp-up, warm caches) are left out."""
    start = min(base.times.min(), cand.times.min())
    end = max(base.times.max(), cand.times.max())
    edges = np.arange(start + skip_windows * window_s, end, window_s)
    out = []
    for lo in edges:
        b = base.values[(base.times >= lo) & (base.times < lo + window_s)]
        c = cand.values[(cand.times >= lo) & (cand.times < lo + window_s)]
        if len(b) >= MIN_SAMPLES_PER_WINDOW and len(c) >= MIN_SAMPLES_PER_WINDOW:
            pb, pc = np.percentile(b, percentile), np.percentile(c, percentile)
            if pb > 0 and pc > 0:
                out.append(math.log(pc / pb))
    return np.asarray(out)


def ratio_interval(log_ratios: np.ndarray, confidence: float) -> tuple[float, float, float, float]:
    """(ratio, low, high, sd of log ratios): a t interval on the mean log ratio, back-transformed."""
    n = len(log_ratios)
    mean = float(log_ratios.mean())
    sd = float(log_ratios.std(ddof=1)) if n > 1 else float("inf")
    half = stats.t.ppf((1 + confidence) / 2, n - 1) * sd / math.sqrt(n) if n > 1 else float("inf")
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half), sd


def decide(low: float, high: float, tolerance: float) -> str:
    limit = 1 + tolerance
    if low > limit:
        return FAIL
    if high <= limit:
        return PASS
    return INCONCLUSIVE


def run_length_factor(c: Comparison, tolerance: float) -> float:
    """How many times longer a run must be for the interval to clear 1 + tolerance
    (the half-width shrinks with the square root of the number of windows)."""
    distance = abs(math.log(c.ratio) - math.log(1 + tolerance))
    half = (math.log(c.high) - math.log(c.low)) / 2
    return math.inf if distance == 0 else max(1.0, (half / distance) ** 2)


def compare_entry(samples: dict, rule: RegressionRule, window_s: float, confidence: float) -> Comparison | str:
    base, cand = samples.get((BASELINE, rule.entry)), samples.get((CANDIDATE, rule.entry))
    if base is None or cand is None:
        return f"no successful samples of {rule.entry} for {'the baseline' if base is None else 'the candidate'}"
    logs = window_log_ratios(base, cand, rule.percentile, window_s)
    if len(logs) < MIN_WINDOWS:
        return (
            f"only {len(logs)} window(s) of {window_s:g}s with {MIN_SAMPLES_PER_WINDOW}+ samples on both sides; "
            f"need {MIN_WINDOWS}: run longer"
        )
    ratio, low, high, sd = ratio_interval(logs, confidence)
    return Comparison(
        entry=rule.entry,
        percentile=rule.percentile,
        baseline=float(np.percentile(base.values, rule.percentile)),
        candidate=float(np.percentile(cand.values, rule.percentile)),
        ratio=ratio,
        low=low,
        high=high,
        windows=len(logs),
        log_sd=sd,
    )


def judge_comparison(c: Comparison, rule: RegressionRule, window_s: float, confidence: float) -> RuleResult:
    status = decide(c.low, c.high, rule.tolerance)
    label = f"p{rule.percentile} of {rule.entry}"
    text = (
        f"{label}: candidate/baseline {c.ratio:.3f} ({confidence:.0%} interval {c.low:.3f}–{c.high:.3f}, "
        f"{c.windows} windows of {window_s:g}s); tolerated up to {1 + rule.tolerance:.3f}"
    )
    if status == FAIL:
        text += f": regression ({c.baseline:.1f} ms -> {c.candidate:.1f} ms)"
    elif status == INCONCLUSIVE:
        factor = run_length_factor(c, rule.tolerance)
        seconds = factor * c.windows * window_s
        text += (
            f": inconclusive; a run about {factor:.1f}x as long (~{seconds / 60:.1f} min of measurement) would decide"
            if math.isfinite(factor)
            else ": inconclusive; the ratio sits on the tolerance"
        )
    return RuleResult(
        rule.entry,
        f"p{rule.percentile}_regression",
        rule.tolerance,
        c.candidate,
        status,
        text,
        baseline=c.baseline,
        interval=(c.low, c.high),
    )


def compare_run(verdict: Verdict, raw_path: Path, thresholds: Thresholds) -> list[Comparison]:
    """Adds one RuleResult per regression rule to `verdict`; returns the comparisons."""
    if not thresholds.regressions:
        verdict.problems.append(f"{thresholds.path}: $.regression.entries: no regression rules; nothing to compare")
        return []
    samples = load_samples(raw_path)
    done = []
    for rule in thresholds.regressions:
        c = compare_entry(samples, rule, thresholds.window_s, thresholds.confidence)
        if isinstance(c, str):
            verdict.results.append(
                RuleResult(
                    rule.entry,
                    f"p{rule.percentile}_regression",
                    rule.tolerance,
                    None,
                    ERROR,
                    f"p{rule.percentile} of {rule.entry}: {c}",
                )
            )
            continue
        verdict.results.append(judge_comparison(c, rule, thresholds.window_s, thresholds.confidence))
        done.append(c)
    return done
