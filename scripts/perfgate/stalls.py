"""Stalls: spans of a run in which an entry's successful requests collapse.

Whole-run percentiles and failure ratios can look healthy while the backend
stood still for a while: the requests that would have been slow were simply
never made, or never finished. A stall is a span, while every user was
running, in which an entry's successes per second stayed below a fraction of
its own average over the run, for at least `min_duration_s` and long enough
that at least MIN_EXPECTED successes were due. It is judged from the raw
samples and the run's start and stop times, so it holds for any backend.
"""

import math
from dataclasses import dataclass

import numpy as np

from perfgate.check import FAIL, PASS, RuleResult
from perfgate.results import RunInfo
from perfgate.samples import BASELINE, RawSamples
from perfgate.thresholds import StallRule

BIN_S = 1.0
MIN_EXPECTED = 20  # fewer successes due in a span than this is not evidence of a stall
EVERY_ENTRY = "every entry"
NAMED = 10  # entries named in the message of the passed rule
CHUNK_CELLS = 4_000_000  # entries x bins per matrix in `screen`


@dataclass(frozen=True)
class Stall:
    start: float  # Unix seconds
    end: float
    seen: int  # successes inside the span

    @property
    def duration(self) -> float:
        return self.end - self.start


def _grid(start: float, stop: float, rule: StallRule, bin_s: float) -> tuple[int, int]:
    """(bins in a window of min_duration_s, whole bins in [start, stop))."""
    k = int(math.ceil(rule.min_duration_s / bin_s - 1e-9))
    return k, int((stop - start) // bin_s) if stop > start else 0


def _low_windows(
    series: list[np.ndarray], start: float, stop: float, rule: StallRule, bin_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each series: successes in [start, stop), cumulative counts per bin
    (a leading 0), and for every window of min_duration_s sliding over the
    bins whether it held fewer than `rate_below` of what the average predicts."""
    k, n = _grid(start, stop, rule, bin_s)
    times = np.concatenate(series)
    owner = np.repeat(np.arange(len(series)), [len(t) for t in series])
    inside = (times >= start) & (times < stop)
    total = np.bincount(owner[inside], minlength=len(series))
    bins = ((times[inside] - start) // bin_s).astype(np.intp)
    keep = bins < n  # the partial last bin counts toward the rate only
    counts = np.bincount(owner[inside][keep] * n + bins[keep], minlength=len(series) * n).reshape(len(series), n)
    cum = np.concatenate([np.zeros((len(series), 1)), np.cumsum(counts, axis=1)], axis=1)
    rate = total / (stop - start)
    low = (cum[:, k:] - cum[:, :-k]) < rule.rate_below * rate[:, None] * k * bin_s
    return total, cum, low


def find_stalls(
    times: np.ndarray, start: float, stop: float, rule: StallRule, bin_s: float = BIN_S
) -> tuple[float, list[Stall]] | None:
    """(mean successes per second in [start, stop), the stalls in that span);
    None when the entry cannot be judged: fewer than MIN_EXPECTED successes in
    the span (e.g. a log-in done once per user), or a span shorter than a stall.

    Overlapping low windows (see _low_windows) make one stall, kept when the
    rate outside it says at least MIN_EXPECTED successes were due inside."""
    k, n = _grid(start, stop, rule, bin_s)
    if len(times) < MIN_EXPECTED or n < k:
        return None
    [total], [cum], [low] = _low_windows([times], start, stop, rule, bin_s)
    if total < MIN_EXPECTED:
        return None
    span = stop - start
    covered = np.zeros(n + 1, dtype=int)
    np.add.at(covered, np.flatnonzero(low), 1)
    np.add.at(covered, np.flatnonzero(low) + k, -1)
    stalled = np.cumsum(covered)[:n] > 0
    found = []
    for first, last in _runs(stalled):
        seen = int(cum[last + 1] - cum[first])
        duration = (last + 1 - first) * bin_s
        outside_rate = (total - seen) / max(span - duration, bin_s)
        if outside_rate * duration >= MIN_EXPECTED:
            end = stop if last == n - 1 else start + (last + 1) * bin_s  # through the last whole bin: to the stop
            found.append(Stall(start + first * bin_s, end, seen))
    return total / span, found


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    edges = np.diff(np.concatenate([[0], flags.astype(int), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1, strict=True))


def describe(entry: str, rate: float, stall: Stall, run_start: float, rule: StallRule) -> str:
    if stall.seen == 0:
        what = "no successful request"
    else:
        plural = "s" if stall.seen > 1 else ""
        what = f"{stall.seen} successful request{plural}, below {rule.rate_below:.0%} of its rate,"
    return (
        f"stall of {entry}: {what} from {stall.start - run_start:.1f} s to {stall.end - run_start:.1f} s "
        f"of the run ({stall.duration:.1f} s; {rate:.1f}/s on average while every user ran)"
    )


def screen(
    series: list[np.ndarray], start: float, stop: float, rule: StallRule, bin_s: float = BIN_S
) -> tuple[set[int], set[int]]:
    """(indexes of the series that can be judged, those with a low window):
    find_stalls's test for many entries at once, in chunks of the entries x
    bins matrix, so that only the few suspects need the exact look."""
    k, n = _grid(start, stop, rule, bin_s)
    candidates = [i for i, times in enumerate(series) if len(times) >= MIN_EXPECTED]
    if n < k:
        return set(), set()
    judged: set[int] = set()
    suspect: set[int] = set()
    chunk = max(1, CHUNK_CELLS // n)
    for first in range(0, len(candidates), chunk):
        ids = candidates[first : first + chunk]
        total, _, low = _low_windows([series[i] for i in ids], start, stop, rule, bin_s)
        enough = total >= MIN_EXPECTED
        judged |= {ids[j] for j in np.flatnonzero(enough)}
        suspect |= {ids[j] for j in np.flatnonzero(enough & low.any(axis=1))}
    return judged, suspect


def judge(raw: RawSamples, info: RunInfo, rule: StallRule) -> tuple[list[RuleResult], list[str]]:
    """A failed rule per stalled entry, or one passed rule naming the entries
    judged; a stalled baseline is a problem (its comparison means nothing),
    not a failure of the change."""
    spans = info.spans()
    if not spans:
        return [], [f"{info.path}: no start and stop times; cannot look for stalls (run Locust with --run-info)"]
    keys = sorted(raw.ok)
    series = [raw.ok[key].times for key in keys]
    eligible: set[int] = set()
    found: dict[int, list[tuple[float, Stall]]] = {}
    for _, start, stop in spans:  # each trial on its own: the pause between two is no stall
        judged_here, suspect = screen(series, start, stop, rule)
        eligible |= judged_here
        for i in suspect:
            if (got := find_stalls(series[i], start, stop, rule)) is not None:
                rate, stalls = got
                found.setdefault(i, []).extend((rate, stall) for stall in stalls)
    run_start = spans[0][0]
    results, problems, judged = [], [], []
    for i, (label, entry) in enumerate(keys):
        if i not in eligible:
            continue  # too sparse, or a run too short, to tell a stall from a pause
        stalls = found.get(i, [])
        described = [describe(entry, rate, stall, run_start, rule) for rate, stall in stalls]
        if label == BASELINE:
            problems += [f"baseline {text}" for text in described]
        elif stalls:
            longest = max(stall.duration for _, stall in stalls)
            results.append(RuleResult(entry, "stall", rule.min_duration_s, longest, FAIL, "; ".join(described)))
        else:
            judged.append(entry)
    if judged and not results:
        names = ", ".join(judged[:NAMED]) + (f" and {len(judged) - NAMED} more" if len(judged) > NAMED else "")
        message = (
            f"stalls: none of {rule.min_duration_s:g} s or more below {rule.rate_below:.0%} of an entry's rate, "
            f"in {len(judged)} entries with enough requests to tell ({names})"
        )
        results.append(RuleResult(EVERY_ENTRY, "stall", rule.min_duration_s, 0.0, PASS, message))
    return results, problems
