"""Latency and throughput over time, as a picture in the results folder.

A whole-run percentile hides a backend that got slow for twenty seconds, or a
baseline and candidate that drifted apart half-way; a timeline shows both. The
picture is drawn from the raw samples, so it has the same resolution as the
comparison, and it is a report only: it never changes the verdict.
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfgate.samples import BASELINE, Samples

FILE = "timeline.png"


@dataclass
class Series:
    label: str  # '' (a plain run), 'baseline' or 'candidate'
    entry: str
    start: np.ndarray  # seconds since the first sample, one per window
    p50: np.ndarray  # ms; NaN in a window without samples
    p95: np.ndarray
    rps: np.ndarray


def series(samples: dict[tuple[str, str], Samples], window_s: float) -> list[Series]:
    """Per (label, entry): p50, p95 and requests/s in windows on one shared clock."""
    if not samples:
        return []
    t0 = min(s.times.min() for s in samples.values())
    t1 = max(s.times.max() for s in samples.values())
    n = max(1, math.ceil((t1 - t0) / window_s))
    out = []
    for (label, entry), s in sorted(samples.items()):
        idx = np.minimum(((s.times - t0) // window_s).astype(int), n - 1)
        order = np.argsort(idx, kind="stable")
        bounds = np.searchsorted(idx[order], np.arange(n + 1))
        p50, p95 = np.full(n, np.nan), np.full(n, np.nan)
        rps = np.diff(bounds) / window_s
        for w in np.flatnonzero(np.diff(bounds)):
            p50[w], p95[w] = np.percentile(s.values[order[bounds[w] : bounds[w + 1]]], [50, 95])
        out.append(Series(label, entry, np.arange(n) * window_s, p50, p95, rps))
    return out


def draw(all_series: list[Series], path: Path, window_s: float) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (lat, thr) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, constrained_layout=True)
    colours = {entry: f"C{i}" for i, entry in enumerate(sorted({s.entry for s in all_series}))}
    for s in all_series:
        style = "--" if s.label == BASELINE else "-"
        name = f"{s.entry} [{s.label}]" if s.label else s.entry
        mid = s.start + window_s / 2
        lat.plot(mid, s.p95, style, color=colours[s.entry], label=f"{name} p95")
        lat.plot(mid, s.p50, style, color=colours[s.entry], alpha=0.4, linewidth=1)
        thr.plot(mid, s.rps, style, color=colours[s.entry], label=name)
    lat.set_yscale("log")
    lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    lat.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:g}"[0] in "235" else ""))
    lat.set_ylabel("response time, ms (p95; faint: p50)")
    lat.set_title(f"per {window_s:g} s window" + ("; dashed: baseline" if any(s.label for s in all_series) else ""))
    lat.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    lat.grid(True, which="both", alpha=0.3)
    thr.set_ylabel("requests/s")
    thr.set_xlabel("seconds since the first request")
    thr.grid(True, alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_timeline(samples: dict[tuple[str, str], Samples], out_dir: Path, window_s: float = 5.0) -> Path | None:
    """timeline.png from the raw samples; None when there is nothing to draw."""
    path = out_dir / FILE
    path.unlink(missing_ok=True)  # never leave an earlier run's picture
    drawn = series(samples, window_s)
    if not drawn:
        return None
    draw(drawn, path, window_s)
    return path
