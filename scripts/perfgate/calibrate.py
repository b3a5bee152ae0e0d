"""What this machine can tell apart: an A/A run (baseline and candidate at the
same commit) measures the noise of the window ratios, and from it the smallest
slowdown a run of a given length detects (95% of the time) at the tolerances
in thresholds.json."""

import json
import math
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from scipy import stats

from perfgate import resource_use
from perfgate.check import metric_label
from perfgate.compare import (
    MIN_TRIALS_FOR_SPREAD,
    ORDER_FROM,
    Comparison,
    Unjudged,
    compare_entry,
    look_interval,
    start_order_effect,
)
from perfgate.errors import NoVerdict
from perfgate.results import RunInfo
from perfgate.samples import BASELINE, CANDIDATE, RawSamples
from perfgate.thresholds import RESOURCE_MEASURES, SERVICE, ResourceRule, Thresholds

DETECTION_POWER = 0.95
FILES = ("calibration.md", "calibration.json")


@dataclass
class Noise:
    entry: str
    rule: str  # "p95", "CPU per request"
    tolerance: float
    windows: int
    window_s: float
    aa_ratio: float
    half_width: float  # of the ratio interval, as a fraction
    se_log: float  # standard error of ln(ratio), within trials and between them
    between_log: float  # standard deviation of ln(ratio) between fresh-start trials beyond their own noise
    within_log: float  # the windows' share of se_log: what one run's own noise gives
    detectable: dict[str, float]  # run length -> smallest detectable slowdown (fraction)
    # ln ratio with the candidate started first minus with the baseline first; None when not told apart
    start_order_log: float | None = None


@dataclass(frozen=True)
class RunLengths:
    """This run's trials, and the run lengths to say what a run of each would detect."""

    trials: list[tuple[float, float, float]] | None
    trial_s: float | None  # a trial's length (median), when there are several
    lengths_s: tuple[int, ...]


def smallest_detectable(
    se_log: float,
    windows: int,
    measured_windows: int,
    tolerance: float,
    confidence: float,
    critical: float | None = None,
) -> float:
    """Slowdown s whose interval clears 1 + tolerance with 95% probability in a
    run of `windows` windows (or trials): ln(1+s) = ln(1+tol) + (c + z_power) * se,
    with se scaled from this run's by sqrt(measured_windows / windows) and c
    the interval's critical value (the normal's, unless given)."""
    se = se_log * math.sqrt(measured_windows / windows)
    c = stats.norm.ppf((1 + confidence) / 2) if critical is None else critical
    return math.exp(math.log(1 + tolerance) + (c + stats.norm.ppf(DETECTION_POWER)) * se) - 1


def detectable_in(
    c: Comparison, length_s: float, trial_s: float | None, tolerance: float, window_s: float, confidence: float
) -> float:
    """The smallest slowdown a run of `length_s` detects: over trials of
    `trial_s` like this run's (Student's t; with the start order taken out
    when this run took it out and that run is long enough), else over windows."""
    if c.method == "trials" and trial_s:
        n = max(3, int(length_s // trial_s))
        by_order = c.start_order_log is not None and n >= ORDER_FROM  # the start order taken out: a degree fewer
        critical = float(stats.t.ppf((1 + confidence) / 2, n - (2 if by_order else 1)))
        return smallest_detectable(c.se_log, n, c.trials, tolerance, confidence, critical)
    n = max(2, int(length_s / window_s) - 1)  # minus warm-up
    return smallest_detectable(c.se_log, n, c.windows, tolerance, confidence)


def calibrate(
    raw: RawSamples,
    thresholds: Thresholds,
    *,
    lengths_s: tuple[int, ...] = (120, 300),
    info: RunInfo | None = None,
    readings: Path | None = None,
    reasons: dict[str, str] | None = None,
) -> list[Noise]:
    """Each latency rule's noise, then each resource rule's from `readings`
    (perfgate.resource_use; `reasons`: how each side was read, from the run context)."""
    trials = info.trials if info else None
    candidate_first = info.candidate_first if info else None
    trial_s = statistics.median(stop - start for start, _, stop in trials) if trials and len(trials) > 1 else None
    run = RunLengths(trials, trial_s, lengths_s)
    out = []
    for rule in thresholds.regressions:
        c = compare_entry(raw.ok, rule, thresholds.window_s, thresholds.confidence, trials, (1,), candidate_first)
        if isinstance(c, Unjudged):
            continue
        label = f"p{rule.percentile}"
        out.append(noise_of(c, rule=label, tolerance=rule.tolerance, thresholds=thresholds, run=run))
    if info is not None and readings is not None and trials and trial_s:
        for rule, c in resource_comparisons(raw, thresholds, info, readings, reasons):
            label = metric_label(rule.metric)
            out.append(noise_of(c, rule=label, tolerance=rule.tolerance, thresholds=thresholds, run=run))
    return out


def noise_of(
    c: Comparison,
    *,
    rule: str,
    tolerance: float,
    thresholds: Thresholds,
    run: RunLengths,
) -> Noise:
    trials = run.trials
    this_run = sum(stop - start for start, _, stop in trials) if trials else (c.windows + 1) * thresholds.window_s
    detectable = {
        name: detectable_in(c, length, run.trial_s, tolerance, thresholds.window_s, thresholds.confidence)
        for name, length in ((f"{this_run:.0f}s (this run)", this_run), *((f"{x}s", x) for x in run.lengths_s))
    }
    return Noise(
        entry=c.entry,
        rule=rule,
        tolerance=tolerance,
        windows=c.windows,
        window_s=thresholds.window_s,
        aa_ratio=c.ratio,
        half_width=c.half_width,
        se_log=c.se_log,
        between_log=c.between_log,
        within_log=c.within_log,
        detectable=detectable,
        start_order_log=c.start_order_log,
    )


def resource_comparisons(
    raw: RawSamples, thresholds: Thresholds, info: RunInfo, readings: Path, reasons: dict[str, str] | None
) -> list[tuple[ResourceRule, Comparison]]:
    """Each resource rule's trial ratios as a comparison over trials: a
    counter has no noise within a trial, so all of it is between trials."""
    try:
        found = resource_use.load(readings)
    except NoVerdict:
        return []
    found = resource_use.readable(found, reasons)
    sides = {BASELINE: BASELINE, CANDIDATE: CANDIDATE}
    if set(found) != set(sides):
        return []
    judged = resource_use.judged_spans(raw, info, thresholds.window_s)
    read = resource_use.uses(raw, info, found, sides, judged=judged, window_s=thresholds.window_s)
    out = []
    for rule in thresholds.resource_rules:
        ys, picked = resource_use.log_ratios(RESOURCE_MEASURES[rule.metric], read[BASELINE], read[CANDIDATE])
        if len(ys) < MIN_TRIALS_FOR_SPREAD:
            continue
        first = resource_use.orders_of(info.candidate_first, picked, len(read[BASELINE]))
        found_interval = look_interval(ys, resource_use.FLOOR_LOG, thresholds.confidence, (1,), first)
        taken_out = found_interval.order
        c = Comparison(
            entry=SERVICE,
            percentile=0,
            baseline=0.0,
            candidate=0.0,
            ratio=found_interval.ratio,
            low=found_interval.low,
            high=found_interval.high,
            windows=len(ys),
            se_log=found_interval.se,
            between_log=found_interval.between,
            trials=len(ys),
            within_log=0.0,
            method="trials",
            start_order_log=start_order_effect(ys, taken_out) if taken_out is not None else None,
        )
        out.append((rule, c))
    return out


def markdown(noise: list[Noise], stream: TextIO) -> None:
    if not noise:
        stream.write("No entry had enough windows to calibrate: run longer.\n")
        return
    lengths = list(noise[0].detectable)
    stream.write("## Calibration (A/A: baseline and candidate at the same commit)\n\n")
    stream.write(
        "| entry | metric | tolerated | A/A ratio | ± interval | se of ln ratio | within trials | between trials | "
        "started first | " + " | ".join(f"detectable in {x}" for x in lengths) + " |\n"
    )
    stream.write("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |" + " ---: |" * len(lengths) + "\n")
    for n in noise:
        cells = [f"+{n.detectable[x]:.1%}" for x in lengths]
        # half the two orders' difference: how much slower a side measures when it is started first
        order = "—" if n.start_order_log is None else f"{math.exp(n.start_order_log / 2) - 1:+.1%}"
        stream.write(
            f"| {n.entry} | {n.rule} | +{n.tolerance:.0%} | {n.aa_ratio:.3f} | ±{n.half_width:.1%} | "
            f"{n.se_log:.1%} | {n.within_log:.1%} | {n.between_log:.1%} | {order} | " + " | ".join(cells) + " |\n"
        )


def write(noise: list[Noise], out_dir: Path) -> None:
    md, js = FILES
    with (out_dir / md).open("w") as f:
        markdown(noise, f)
    (out_dir / js).write_text(json.dumps([asdict(n) for n in noise], indent=2) + "\n")
