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


MARKERS = "osD^v<>p"


def draw(all_series: list[Series], path: Path, window_s: float, limits: dict[str, float] | None = None) -> None:
    """Latency on a log axis labelled 1-2-5 (no crowded minor labels), with each
    entry's p95 limit as a dotted line in its colour; throughput from zero, so a
    5% wobble looks like 5%. Entries differ in marker and width as well as
    colour: a submission's POST and its submit-to-complete have the same
    throughput, and one line must not hide the other."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    from matplotlib import pyplot as plt
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    fig, (lat, thr) = plt.subplots(2, 1, figsize=(12, 7), sharex=True, constrained_layout=True)
    entries = sorted({s.entry for s in all_series})
    look = {
        entry: {"color": f"C{i}", "marker": MARKERS[i % len(MARKERS)], "linewidth": max(1.0, 3.0 - 0.6 * i)}
        for i, entry in enumerate(entries)
    }
    for s in all_series:
        style = "--" if s.label == BASELINE else "-"
        name = f"{s.entry} [{s.label}]" if s.label else s.entry
        mid = s.start + window_s / 2
        every = max(1, len(mid) // 12)
        kw = {**look[s.entry], "markevery": every, "markersize": 5}
        lat.plot(mid, s.p95, style, label=f"{name} p95", **kw)
        lat.plot(mid, s.p50, style, color=look[s.entry]["color"], alpha=0.4, linewidth=1)
        thr.plot(mid, s.rps, style, label=name, **kw)
    for entry, limit in (limits or {}).items():
        if entry in look:
            lat.axhline(limit, linestyle=":", color=look[entry]["color"], linewidth=1.5, label=f"{entry} p95 limit")
    lat.set_yscale("log")
    lat.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    lat.yaxis.set_minor_formatter(NullFormatter())
    lat.set_ylabel("response time, ms (p95; faint: p50)")
    lat.set_title(f"per {window_s:g} s window" + ("; dashed: baseline" if any(s.label for s in all_series) else ""))
    lat.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    lat.grid(True, which="both", alpha=0.3)
    thr.set_ylim(bottom=0)
    thr.set_ylabel("requests/s")
    thr.set_xlabel("seconds since the first request")
    thr.grid(True, alpha=0.3)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_timeline(
    samples: dict[tuple[str, str], Samples],
    out_dir: Path,
    window_s: float = 5.0,
    limits: dict[str, float] | None = None,
) -> Path | None:
    """timeline.png from the raw samples; None when there is nothing to draw."""
    path = out_dir / FILE
    path.unlink(missing_ok=True)  # never leave an earlier run's picture
    drawn = series(samples, window_s)
    if not drawn:
        return None
    draw(drawn, path, window_s, limits)
    return path
