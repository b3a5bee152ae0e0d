"""Charts where reviewers look: Mermaid `xychart-beta` blocks in the summary,
which GitHub renders in job summaries and pull request comments alike. An
image cannot go there: artifacts sit behind a login in a zip, and GitHub
strips `data:` images from Markdown.

Each chart draws the thing judged. For a comparison over fresh-start trials,
each trial's own candidate/baseline ratio with the tolerance and the
interval of their mean; for a comparison in one run, the ratio per window.
For a limit, the value per window with the limit: a percentile, the share of
requests that failed, requests per second. Response times, failure ratios
and rates are drawn from zero and ratios over at least 0.8 to 1.2, so a 3%
wobble looks like 3%. The x-axis is numeric (seconds, or the trial's
number), so Mermaid labels a few round values however long the run: a label
per window made a 9-trial run's axis a run of overlapping numbers."""

import math
import re

import numpy as np

from perfgate.check import PASS, RuleResult, fmt
from perfgate.samples import Samples
from perfgate.thresholds import AGGREGATE

MAX_CHARTS = 3
MAX_POINTS = 60  # longer runs are averaged into fewer points: a line of 60 stays legible
MIN_PER_WINDOW = 5  # samples (or requests) a window needs for a percentile or a failure ratio
# line colours in order: the measured series red, the limit grey, the interval blue
PALETTE = "#d62728, #7f7f7f, #1f77b4, #1f77b4"
RATIO_SPAN = (0.8, 1.2)
MIN_PERCENT_SPAN = 1.0  # a failure ratio's axis reaches at least 1%: a limit of 0 still has room
PERCENTILE_METRIC = re.compile(r"p(\d+(?:\.\d+)?)_ms")


def percentile_per_window(s: Samples, t0: float, window_s: float, q: float) -> list[tuple[float, float]]:
    """(window start, percentile q) of each window with at least MIN_PER_WINDOW samples, on a clock from t0."""
    idx = ((s.times - t0) // window_s).astype(int)
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(idx.max(initial=-1) + 2))
    out = []
    for w in np.flatnonzero(np.diff(bounds) >= MIN_PER_WINDOW):
        out.append((float(w * window_s), float(np.percentile(s.values[order[bounds[w] : bounds[w + 1]]], q))))
    return out


def outcomes_per_window(ok: np.ndarray, failed: np.ndarray, t0: float, window_s: float) -> tuple[np.ndarray, ...]:
    """(window starts, requests, failed requests) of every window from t0 to the last request."""
    ok_idx = ((ok - t0) // window_s).astype(int)
    failed_idx = ((failed - t0) // window_s).astype(int)
    n = 1 + max(ok_idx.max(initial=-1), failed_idx.max(initial=-1))
    failures = np.bincount(failed_idx, minlength=n)
    return np.arange(n) * window_s, np.bincount(ok_idx, minlength=n) + failures, failures


def _label(text: str) -> str:
    """Mermaid strings are double-quoted, one line, inside a fenced block."""
    return " ".join(text.replace('"', "'").replace("`", "'").split())[:90]


def _number(x: float, digits: int = 4) -> str:
    """Never in exponent notation, which Mermaid's grammar refuses (1.65e+03)."""
    return np.format_float_positional(x, precision=digits, fractional=False, trim="-")


def even(points: list[tuple[float, float]], window_s: float | None) -> tuple[float, float, list[float]]:
    """(first x, step, values) on an even grid: Mermaid spaces a line's points
    evenly between the ends of a numeric axis. Windows are averaged into at
    most MAX_POINTS steps of whole windows; a step with none (between trials)
    takes the value a line through its neighbours has there."""
    xs = np.array([x for x, _ in points], dtype=float)
    ys = np.array([y for _, y in points], dtype=float)
    x0, span = float(xs.min()), float(xs.max() - xs.min())
    gaps = np.diff(np.unique(xs))
    base = window_s or (float(gaps.min()) if len(gaps) else 1.0)
    step = base * math.ceil((round(span / base) + 1) / MAX_POINTS)
    idx = np.floor((xs - x0) / step + 1e-9).astype(int)
    counts, sums = np.bincount(idx), np.bincount(idx, weights=ys)
    grid = np.arange(len(counts)) * step
    filled = counts > 0
    values = np.interp(grid, grid[filled], sums[filled] / counts[filled])
    return x0, step, values.tolist()


def _block(
    title: str, x_label: str, first: float, step: float, lines: list[list[float]], y: tuple[str, float, float]
) -> list[str]:
    numbers = lambda values: ", ".join(map(_number, values))  # noqa: E731
    last = first + step * (len(lines[0]) - 1)
    return [
        "```mermaid",
        f'%%{{init: {{"themeVariables": {{"xyChart": {{"plotColorPalette": "{PALETTE}"}}}}}}}}%%',
        "xychart-beta",
        f'    title "{_label(title)}"',
        f'    x-axis "{x_label}" {_number(first, 6)} --> {_number(last, 6)}',
        f'    y-axis "{_label(y[0])}" {_number(y[1], 3)} --> {_number(y[2], 3)}',
        *[f"    line [{numbers(values)}]" for values in lines],
        "```",
    ]


def _ratio_span(values: list[float], r: RuleResult) -> tuple[str, float, float]:
    """At least 0.8 to 1.2 whatever the data: a 3% wobble must not fill the chart."""
    low, high = r.interval or (1.0, 1.0)
    return "ratio", min(RATIO_SPAN[0], *values, low) * 0.95, max(RATIO_SPAN[1], *values, 1 + r.limit, high) * 1.05


def trials_chart(r: RuleResult) -> list[str]:
    """Each trial's own ratio: what a comparison over trials judges, one point a trial."""
    ratios = r.trial_ratios or []
    low, high = r.interval or (math.nan, math.nan)
    k = len(ratios)
    lines = [ratios, [1 + r.limit] * k, [low] * k, [high] * k]
    caption = (
        f"Red: each trial's own candidate/baseline ratio; grey: tolerated ≤ {fmt(r.metric, r.limit)}; "
        f"blue: the interval of their mean, {low:.3f}–{high:.3f}, which the verdict is judged on."
    )
    title = f"{r.name}: candidate / baseline per trial"
    return [*_block(title, "trial", 1, 1, lines, _ratio_span(ratios, r)), "", caption]


def chart(r: RuleResult) -> list[str]:
    """The chart of one rule, with a caption saying which line is which; [] with nothing to draw."""
    if r.trial_ratios and len(r.trial_ratios) >= 2 and r.interval is not None:
        return trials_chart(r)
    if not r.per_window or len({x for x, _ in r.per_window}) < 2:
        return []
    first, step, values = even(r.per_window, r.window_s)
    n = len(values)
    window = f"per {r.window_s:g} s window" if r.window_s else "per window"
    if r.interval is not None:  # a comparison in one run: the ratio per window
        low, high = r.interval
        lines = [values, [1 + r.limit] * n, [low] * n, [high] * n]
        caption = (
            f"Red: the ratio in each window; grey: tolerated ≤ {fmt(r.metric, r.limit)}; "
            f"blue: the run's {low:.3f}–{high:.3f} interval."
        )
        title = f"{r.name}: candidate / baseline {window}"
        return [*_block(title, "seconds", first, step, lines, _ratio_span(values, r)), "", caption]
    limit = r.limit
    if r.metric == "failure_ratio":  # in percent, as the tables show it
        values, limit = [100 * v for v in values], 100 * r.limit
        y = ("% failed", 0.0, max(*values, limit, MIN_PERCENT_SPAN) * 1.1)
    else:  # requests per second or a response time, from zero
        unit = {"min_rps": "requests/s", "peak_memory_mb": "MB", "cpu_ms_per_request": "CPU ms/request"}
        y = (unit.get(r.metric, "ms"), 0.0, max(*values, limit) * 1.1)
    bound = "floor" if r.metric.startswith("min_") else "limit"
    caption = f"Red: {r.name} in each window; grey: the {bound}, {fmt(r.metric, r.limit)}."
    return [*_block(f"{r.name} {window}", "seconds", first, step, [values, [limit] * n], y), "", caption]


def drawable(r: RuleResult) -> bool:
    return bool(chart(r))


def charts(results: list[RuleResult]) -> list[str]:
    """What did not pass, in the order given, at most MAX_CHARTS; when every
    rule passed, the one closest to its limit. A rule that passed is never
    drawn in place of one that did not: nothing is drawn then."""
    not_passed = [r for r in results if r.status != PASS]
    if not_passed:
        chosen = [r for r in not_passed if drawable(r)][:MAX_CHARTS]
    else:
        candidates = [r for r in results if drawable(r)]
        chosen = [max(candidates, key=_closeness)] if candidates else []
    lines: list[str] = []
    for r in chosen:
        lines += [*chart(r), ""]
    return lines


def _closeness(r: RuleResult) -> float:
    """How near the limit: the ratio's upper bound over the tolerance, or the measured over the limit."""
    if r.interval is not None:
        return r.interval[1] / (1 + r.limit)
    if r.metric.startswith("min_"):
        return r.limit / r.measured if r.measured else 0.0
    return (r.measured or 0.0) / r.limit if r.limit else 0.0


def _t0(*groups: dict[tuple[str, str], Samples]) -> float | None:
    starts = [float(s.times.min()) for group in groups for s in group.values() if len(s.times)]
    return min(starts) if starts else None


def add_latency_windows(results: list[RuleResult], ok: dict[tuple[str, str], Samples], label: str, window_s: float):
    """Give each percentile limit (`p95_ms`, ...) its value per window, from the
    raw samples of `label` ('' for a plain run, 'candidate' in a comparison)."""
    if (t0 := _t0(ok)) is None:
        return
    for r in results:
        match = PERCENTILE_METRIC.fullmatch(r.metric)
        if match and r.per_window is None and (s := ok.get((label, r.entry))) is not None:
            r.per_window, r.window_s = percentile_per_window(s, t0, window_s, float(match[1])), window_s


def _times(samples: dict[tuple[str, str], Samples], label: str, entry: str) -> np.ndarray:
    """The times of `entry`'s samples of `label`; of every entry's for the aggregate."""
    if entry != AGGREGATE:
        s = samples.get((label, entry))
        return np.empty(0) if s is None else s.times
    return np.concatenate([np.empty(0), *(s.times for (side, _), s in samples.items() if side == label)])


def add_outcome_windows(
    results: list[RuleResult],
    ok: dict[tuple[str, str], Samples],
    failed: dict[tuple[str, str], Samples],
    label: str,
    window_s: float,
):
    """Give each `failure_ratio` limit its failed share per window (windows
    with at least MIN_PER_WINDOW requests) and each `min_rps` floor its
    requests per second in every window, from the raw samples of `label`, ok
    and failed alike; the aggregate pools every entry of that label."""
    if (t0 := _t0(ok, failed)) is None:
        return
    for r in results:
        if r.metric not in ("failure_ratio", "min_rps") or r.per_window is not None:
            continue
        good, bad = _times(ok, label, r.entry), _times(failed, label, r.entry)
        if not len(good) + len(bad) or r.metric == "failure_ratio" and r.measured and not len(bad):
            continue  # nothing, or not the failures Locust's stats counted: no chart rather than a wrong one
        starts, requests, failures = outcomes_per_window(good, bad, t0, window_s)
        if r.metric == "failure_ratio":
            keep = requests >= MIN_PER_WINDOW
            values = failures[keep] / requests[keep]
            starts = starts[keep]
        else:
            first, last = np.flatnonzero(requests)[[0, -1]]  # from the first request to the last
            starts, values = starts[first : last + 1], requests[first : last + 1] / window_s
        r.per_window = list(zip(starts.tolist(), values.tolist(), strict=True))
        r.window_s = window_s
