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
from perfgate.samples import RawSamples
from perfgate.thresholds import StallRule

BIN_S = 1.0
MIN_EXPECTED = 20  # fewer successes due in a span than this is not evidence of a stall
BASELINE, CANDIDATE = "baseline", "candidate"
EVERY_ENTRY = "every entry"
NAMED = 10  # entries named in the message of the passed rule
CHUNK_CELLS = 4_000_000  # entries x bins per matrix in `suspects`


@dataclass(frozen=True)
class Stall:
    start: float  # Unix seconds
    end: float
    seen: int  # successes inside the span

    @property
    def duration(self) -> float:
        return self.end - self.start


def find_stalls(
    times: np.ndarray, start: float, stop: float, rule: StallRule, bin_s: float = BIN_S
) -> tuple[float, list[Stall]] | None:
    """(mean successes per second in [start, stop), the stalls in that span);
    None when the entry cannot be judged: fewer than MIN_EXPECTED successes in
    the span (e.g. a log-in done once per user), or a span shorter than a stall.

    Every window of `min_duration_s` sliding over the span is low when it holds
    fewer than `rate_below` of the successes the run's average rate predicts;
    overlapping low windows make one stall, kept when the rate outside it says
    at least MIN_EXPECTED successes were due inside."""
    span = stop - start
    k = int(math.ceil(rule.min_duration_s / bin_s - 1e-9))
    n = int(span // bin_s) if span > 0 else 0
    if len(times) < MIN_EXPECTED or n < k:
        return None
    inside = times[(times >= start) & (times < stop)]
    if len(inside) < MIN_EXPECTED:
        return None
    rate = len(inside) / span
    counts = np.bincount(np.minimum(((inside - start) // bin_s).astype(np.intp), n), minlength=n + 1)[:n]
    cum = np.concatenate([[0], np.cumsum(counts)])
    low = (cum[k:] - cum[:-k]) < rule.rate_below * rate * k * bin_s  # window starting at each bin
    covered = np.zeros(n + 1, dtype=int)
    np.add.at(covered, np.flatnonzero(low), 1)
    np.add.at(covered, np.flatnonzero(low) + k, -1)
    stalled = np.cumsum(covered)[:n] > 0
    found = []
    for first, last in _runs(stalled):
        seen = int(cum[last + 1] - cum[first])
        duration = (last + 1 - first) * bin_s
        outside_rate = (len(inside) - seen) / max(span - duration, bin_s)
        if outside_rate * duration >= MIN_EXPECTED:
            end = stop if last == n - 1 else start + (last + 1) * bin_s  # through the last whole bin: to the stop
            found.append(Stall(start + first * bin_s, end, seen))
    return rate, found


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


def suspects(series: list[np.ndarray], start: float, stop: float, rule: StallRule, bin_s: float = BIN_S) -> set[int]:
    """Indexes of the series with at least one low window: the same test as
    find_stalls, for many entries at once (a matrix of entries x bins, in
    chunks), so that only those few need the exact look."""
    k = int(math.ceil(rule.min_duration_s / bin_s - 1e-9))
    n = int((stop - start) // bin_s) if stop > start else 0
    candidates = [i for i, times in enumerate(series) if len(times) >= MIN_EXPECTED]
    if n < k or not candidates:
        return set()
    found: set[int] = set()
    chunk = max(1, CHUNK_CELLS // n)
    for first in range(0, len(candidates), chunk):
        ids = candidates[first : first + chunk]
        times = np.concatenate([series[i] for i in ids])
        owner = np.repeat(np.arange(len(ids)), [len(series[i]) for i in ids])
        inside = (times >= start) & (times < stop)
        rate = np.bincount(owner[inside], minlength=len(ids)) / (stop - start)
        bins = ((times[inside] - start) // bin_s).astype(np.intp)
        keep = bins < n
        flat = owner[inside][keep] * n + bins[keep]
        counts = np.bincount(flat, minlength=len(ids) * n).reshape(len(ids), n)
        cum = np.concatenate([np.zeros((len(ids), 1)), np.cumsum(counts, axis=1)], axis=1)
        low = (cum[:, k:] - cum[:, :-k]) < rule.rate_below * rate[:, None] * k * bin_s
        found |= {ids[j] for j in np.flatnonzero(low.any(axis=1) & (rate * (stop - start) >= MIN_EXPECTED))}
    return found


def judge(raw: RawSamples, info: RunInfo, rule: StallRule) -> tuple[list[RuleResult], list[str]]:
    """A failed rule per stalled entry, or one passed rule naming the entries
    judged; a stalled baseline is a problem (its comparison means nothing),
    not a failure of the change."""
    start = info.spawning_complete_time or info.start_time
    if start is None or info.stop_time is None or info.start_time is None:
        return [], [f"{info.path}: no start and stop times; cannot look for stalls (run Locust with --run-info)"]
    keys = sorted(raw.ok)
    series = [raw.ok[key].times for key in keys]
    suspect = suspects(series, start, info.stop_time, rule)
    results, problems, judged = [], [], []
    for i, (label, entry) in enumerate(keys):
        found = find_stalls(series[i], start, info.stop_time, rule) if i in suspect else None
        if found is None:
            if label != BASELINE and len(series[i]) >= MIN_EXPECTED and i not in suspect:
                judged.append(entry)  # enough samples; no low window at all
            continue
        rate, stalls = found
        if label == BASELINE:
            problems += [f"baseline {describe(entry, rate, s, info.start_time, rule)}" for s in stalls]
        elif stalls:
            message = "; ".join(describe(entry, rate, s, info.start_time, rule) for s in stalls)
            longest = max(s.duration for s in stalls)
            results.append(RuleResult(entry, "stall", rule.min_duration_s, longest, FAIL, message))
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
