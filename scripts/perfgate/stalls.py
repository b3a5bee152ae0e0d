"""Stalls: spans of a run in which an entry's successful requests collapse.

Whole-run percentiles and failure ratios can look healthy while the backend
stood still for a while: the requests that would have been slow were simply
never made, or never finished. A stall is a span, while every user was
running, in which an entry's successes per second stayed below a fraction of
its own average over the run, for at least `min_duration_s` and long enough
that at least MIN_EXPECTED successes were due. It is judged from the raw
samples and the run's start and stop times, so it holds for any backend.
"""

from dataclasses import dataclass

import numpy as np

from perfgate.check import FAIL, PASS, RuleResult
from perfgate.results import RunInfo
from perfgate.samples import RawSamples
from perfgate.thresholds import StallRule

BIN_S = 1.0
MIN_EXPECTED = 20  # fewer successes due in a span than this is not evidence of a stall
BASELINE, CANDIDATE = "baseline", "candidate"


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
    None when the entry cannot be judged: no success in the span to measure its
    rate by (e.g. a log-in done once per user), or too few for the span's length."""
    span = stop - start
    inside = times[(times >= start) & (times < stop)]
    if not span > 0 or len(inside) == 0:
        return None
    rate = len(inside) / span
    shortest = max(rule.min_duration_s, MIN_EXPECTED / rate)
    if shortest > span:
        return None
    edges = start + np.arange(int(span // bin_s) + 1) * bin_s
    if stop - edges[-1] > 1e-9:
        edges = np.append(edges, stop)
    counts, _ = np.histogram(inside, bins=edges)
    low = counts < rule.rate_below * rate * np.diff(edges)
    stalls, i = [], 0
    while i < len(low):
        if not low[i]:
            i += 1
            continue
        j = i
        while j + 1 < len(low) and low[j + 1]:
            j += 1
        if edges[j + 1] - edges[i] >= shortest - 1e-9:
            stalls.append(Stall(float(edges[i]), float(edges[j + 1]), int(counts[i : j + 1].sum())))
        i = j + 1
    return rate, stalls


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


def judge(raw: RawSamples, info: RunInfo, rule: StallRule) -> tuple[list[RuleResult], list[str]]:
    """One rule per entry that ran often enough to judge; a stalled baseline
    is a problem (its comparison means nothing), not a failure of the change."""
    start = info.spawning_complete_time or info.start_time
    if start is None or info.stop_time is None or info.start_time is None:
        return [], [f"{info.path}: no start and stop times; cannot look for stalls (run Locust with --run-info)"]
    results, problems = [], []
    for (label, entry), samples in sorted(raw.ok.items()):
        found = find_stalls(samples.times, start, info.stop_time, rule)
        if found is None:
            continue
        rate, stalls = found
        if label == BASELINE:
            problems += [f"baseline {describe(entry, rate, s, info.start_time, rule)}" for s in stalls]
            continue
        longest = max((s.duration for s in stalls), default=0.0)
        if stalls:
            message = "; ".join(describe(entry, rate, s, info.start_time, rule) for s in stalls)
        else:
            message = (
                f"stall of {entry}: none of {rule.min_duration_s:g} s or more below {rule.rate_below:.0%} "
                f"of its average {rate:.1f}/s"
            )
        results.append(RuleResult(entry, "stall", rule.min_duration_s, longest, FAIL if stalls else PASS, message))
    return results, problems
