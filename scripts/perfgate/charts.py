"""Charts where reviewers look: Mermaid `xychart-beta` blocks in the summary,
which GitHub renders in job summaries and pull request comments alike. An
image cannot go there: artifacts sit behind a login in a zip, and GitHub
strips `data:` images from Markdown.

For a comparison, the thing judged: the candidate/baseline ratio per window,
with the tolerance and the run's interval as flat lines. For a latency limit,
the percentile per window with the limit. Response times are drawn from
zero and ratios over at least 0.8 to 1.2, so a 3% wobble looks like 3%."""

import math
import re

import numpy as np

from perfgate.check import PASS, RuleResult
from perfgate.samples import Samples

MAX_CHARTS = 3
MAX_POINTS = 60  # a chart's x-axis stays readable; longer runs are averaged into fewer points
# line colours in order: the measured series red, the limit grey, the interval blue
PALETTE = "#d62728, #7f7f7f, #1f77b4, #1f77b4"
RATIO_SPAN = (0.8, 1.2)
PERCENTILE_METRIC = re.compile(r"p(\d+(?:\.\d+)?)_ms")


def percentile_per_window(s: Samples, t0: float, window_s: float, q: float) -> list[tuple[float, float]]:
    """(window start, percentile q) of each window with at least 5 samples, on a clock from t0."""
    idx = ((s.times - t0) // window_s).astype(int)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(idx.max(initial=-1) + 2))
    out = []
    for w in np.flatnonzero(np.diff(bounds) >= 5):
        out.append((float(w * window_s), float(np.percentile(s.values[order[bounds[w] : bounds[w + 1]]], q))))
    return out


def _label(text: str) -> str:
    """Mermaid strings are double-quoted, one line, inside a fenced block."""
    return " ".join(text.replace('"', "'").replace("`", "'").split())[:90]


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    step = math.ceil(len(points) / MAX_POINTS)
    return [(points[i][0], float(np.mean([v for _, v in points[i : i + step]]))) for i in range(0, len(points), step)]


def _block(
    title: str, x_label: str, y_label: str, xs: list[float], lines: list[list[float]], span: tuple[float, float]
) -> list[str]:
    numbers = lambda values: ", ".join(f"{v:.4g}" for v in values)  # noqa: E731
    return [
        "```mermaid",
        f'%%{{init: {{"themeVariables": {{"xyChart": {{"plotColorPalette": "{PALETTE}"}}}}}}}}%%',
        "xychart-beta",
        f'    title "{_label(title)}"',
        f'    x-axis "{x_label}" [{", ".join(f"{x:.0f}" for x in xs)}]',
        f'    y-axis "{_label(y_label)}" {span[0]:.3g} --> {span[1]:.3g}',
        *[f"    line [{numbers(values)}]" for values in lines],
        "```",
    ]


def chart(r: RuleResult) -> list[str]:
    """The chart of one rule, with a caption saying which line is which; [] without windows."""
    if not r.per_window or len(r.per_window) < 2:
        return []
    points = _thin(r.per_window)
    xs, values = [x for x, _ in points], [v for _, v in points]
    window = f"per {r.window_s:g} s window" if r.window_s else "per window"
    if r.interval is not None:  # a comparison: the ratio
        tolerated = 1 + r.limit
        low, high = r.interval
        # at least 0.8 to 1.2 whatever the data: a 3% wobble must not fill the chart
        span = (min(RATIO_SPAN[0], *values, low) * 0.95, max(RATIO_SPAN[1], *values, tolerated, high) * 1.05)
        lines = [values, [tolerated] * len(xs), [low] * len(xs), [high] * len(xs)]
        title = f"{r.name}: candidate / baseline {window}"
        caption = (
            f"Red: the ratio in each window; grey: tolerated ×{tolerated:.2f}; "
            f"blue: the run's {low:.3f}–{high:.3f} interval."
        )
        return [*_block(title, "seconds", "ratio", xs, lines, span), "", caption]
    span = (0.0, max(*values, r.limit) * 1.1)  # response times from zero
    lines = [values, [r.limit] * len(xs)]
    caption = f"Red: {r.name} in each window; grey: the limit, {r.limit:g} ms."
    return [*_block(f"{r.name} {window}", "seconds", "ms", xs, lines, span), "", caption]


def charts(results: list[RuleResult]) -> list[str]:
    """The rules worth a look, at most MAX_CHARTS: those that did not pass, else
    the one closest to its limit."""
    drawable = [r for r in results if r.per_window and len(r.per_window) >= 2]
    chosen = [r for r in drawable if r.status != PASS][:MAX_CHARTS]
    if not chosen and drawable:
        chosen = [max(drawable, key=_closeness)]
    lines: list[str] = []
    for r in chosen:
        lines += [*chart(r), ""]
    return lines


def _closeness(r: RuleResult) -> float:
    """How near the limit: the ratio's upper bound over the tolerance, or the measured over the limit."""
    if r.interval is not None:
        return r.interval[1] / (1 + r.limit)
    return (r.measured or 0.0) / r.limit if r.limit else 0.0


def add_latency_windows(results: list[RuleResult], ok: dict[tuple[str, str], Samples], label: str, window_s: float):
    """Give each percentile limit (`p95_ms`, ...) its value per window, from the
    raw samples of `label` ('' for a plain run, 'candidate' in a comparison)."""
    if not ok:
        return
    t0 = min(float(s.times.min()) for s in ok.values())
    for r in results:
        match = PERCENTILE_METRIC.fullmatch(r.metric)
        if match and r.per_window is None and (s := ok.get((label, r.entry))) is not None:
            r.per_window, r.window_s = percentile_per_window(s, t0, window_s, float(match[1])), window_s
