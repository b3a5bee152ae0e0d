"""What this machine can tell apart: an A/A run (baseline and candidate at the
same commit) measures the noise of the window ratios, and from it the smallest
slowdown a run of a given length detects (95% of the time) at the tolerances
in thresholds.json."""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from scipy import stats

from perfgate.compare import compare_entry, load_samples
from perfgate.thresholds import Thresholds

DETECTION_POWER = 0.95


@dataclass
class Noise:
    entry: str
    percentile: int
    tolerance: float
    windows: int
    window_s: float
    aa_ratio: float
    half_width: float  # of the ratio interval, as a fraction
    window_sd: float  # of the log ratios
    detectable: dict[str, float]  # run length -> smallest detectable slowdown (fraction)


def smallest_detectable(sd: float, windows: int, tolerance: float, confidence: float) -> float:
    """Slowdown s whose interval clears 1 + tolerance with 95% probability:
    ln(1+s) = ln(1+tol) + t*se + z_power*se."""
    se = sd / math.sqrt(windows)
    t = stats.t.ppf((1 + confidence) / 2, max(windows - 1, 1))
    z = stats.norm.ppf(DETECTION_POWER)
    return math.exp(math.log(1 + tolerance) + (t + z) * se) - 1


def calibrate(raw: Path, thresholds: Thresholds, lengths_s: tuple[int, ...] = (60, 120, 300)) -> list[Noise]:
    samples = load_samples(raw)
    out = []
    for rule in thresholds.regressions:
        c = compare_entry(samples, rule, thresholds.window_s, thresholds.confidence)
        if isinstance(c, str):
            continue
        measured_s = c.windows * thresholds.window_s
        detectable = {
            f"{measured_s:g}s (this run)": smallest_detectable(
                c.log_sd, c.windows, rule.tolerance, thresholds.confidence
            )
        }
        for length in lengths_s:
            n = max(2, int(length / thresholds.window_s) - 1)  # the first window is warm-up
            detectable[f"{length}s"] = smallest_detectable(c.log_sd, n, rule.tolerance, thresholds.confidence)
        out.append(
            Noise(
                rule.entry,
                rule.percentile,
                rule.tolerance,
                c.windows,
                thresholds.window_s,
                c.ratio,
                (c.high - c.low) / 2,
                c.log_sd,
                detectable,
            )
        )
    return out


def markdown(noise: list[Noise], stream: TextIO) -> None:
    if not noise:
        stream.write("No entry had enough windows to calibrate: run longer.\n")
        return
    lengths = list(noise[0].detectable)
    stream.write("## Calibration (A/A: baseline and candidate at the same commit)\n\n")
    stream.write(
        "| entry | metric | tolerated | A/A ratio | ± interval | window sd | "
        + " | ".join(f"detectable in {x}" for x in lengths)
        + " |\n"
    )
    stream.write("| --- | --- | ---: | ---: | ---: | ---: |" + " ---: |" * len(lengths) + "\n")
    for n in noise:
        cells = [f"+{n.detectable[x]:.1%}" for x in lengths]
        stream.write(
            f"| {n.entry} | p{n.percentile} | +{n.tolerance:.0%} | {n.aa_ratio:.3f} | ±{n.half_width:.1%} | "
            f"{n.window_sd:.1%} | " + " | ".join(cells) + " |\n"
        )


def write(noise: list[Noise], out_dir: Path) -> None:
    with (out_dir / "calibration.md").open("w") as f:
        markdown(noise, f)
    (out_dir / "calibration.json").write_text(json.dumps([asdict(n) for n in noise], indent=2) + "\n")
