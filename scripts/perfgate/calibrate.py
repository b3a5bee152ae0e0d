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

from perfgate.compare import ORDER_FROM, Comparison, Unjudged, compare_entry
from perfgate.samples import RawSamples
from perfgate.thresholds import Thresholds

DETECTION_POWER = 0.95
FILES = ("calibration.md", "calibration.json")


@dataclass
class Noise:
    entry: str
    percentile: int
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
    lengths_s: tuple[int, ...] = (120, 300),
    trials: list[tuple[float, float, float]] | None = None,
    candidate_first: list[bool] | None = None,
) -> list[Noise]:
    samples = raw.ok
    trial_s = statistics.median(stop - start for start, _, stop in trials) if trials and len(trials) > 1 else None
    out = []
    for rule in thresholds.regressions:
        c = compare_entry(samples, rule, thresholds.window_s, thresholds.confidence, trials, (1,), candidate_first)
        if isinstance(c, Unjudged):
            continue

        this_run = sum(stop - start for start, _, stop in trials) if trials else (c.windows + 1) * thresholds.window_s
        detectable = {}
        for name, length in ((f"{this_run:.0f}s (this run)", this_run), *((f"{x}s", x) for x in lengths_s)):
            detectable[name] = detectable_in(
                c, length, trial_s, rule.tolerance, thresholds.window_s, thresholds.confidence
            )
        noise = Noise(
            rule.entry,
            rule.percentile,
            rule.tolerance,
            c.windows,
            thresholds.window_s,
            c.ratio,
            c.half_width,
            c.se_log,
            c.between_log,
            c.within_log,
            detectable,
            c.start_order_log,
        )
        out.append(noise)
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
            f"| {n.entry} | p{n.percentile} | +{n.tolerance:.0%} | {n.aa_ratio:.3f} | ±{n.half_width:.1%} | "
            f"{n.se_log:.1%} | {n.within_log:.1%} | {n.between_log:.1%} | {order} | " + " | ".join(cells) + " |\n"
        )


def write(noise: list[Noise], out_dir: Path) -> None:
    md, js = FILES
    with (out_dir / md).open("w") as f:
        markdown(noise, f)
    (out_dir / js).write_text(json.dumps([asdict(n) for n in noise], indent=2) + "\n")
