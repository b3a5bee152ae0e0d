"""Looking at a comparison after each trial, and stopping once every rule is
decided, without raising the rate of false alarms.

Each look is another chance for noise to push an interval past the
tolerance, so the intervals of a sequential run are wider than a single
look's, chosen so that the chance that any look's interval misses the true
ratio on a given side stays at (1 - confidence) / 2. Over the trials' own
ratios (Student's t, 3 trials or more; or the two start orders' mean, 4 or
more), looks before the last are strict
and the last gets the rest of the error rate (Haybittle and Peto's way:
the run stops early on clear decisions only, and the full run loses little
against a single look). Over one trial's windows (a known-variance
bootstrap), the same z at every look (Pocock's boundary). The constants
come from simulating the looks with a fixed seed: the same looks always
give the same intervals.
"""

import functools
import math

import numpy as np
from scipy import stats

SIMULATIONS = 200_000
SEED = 20261126


def _phi(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@functools.cache
def confidence_for(confidence: float, looks_at: tuple[int, ...]) -> float:
    """The two-sided confidence each look's interval needs when the data are
    looked at after `looks_at` trials (e.g. (3, 4, 5, 6)); a single look keeps
    `confidence`."""
    if len(looks_at) <= 1:
        return confidence
    if list(looks_at) != sorted(set(looks_at)) or looks_at[0] < 1:
        raise ValueError(f"looks must be increasing trial counts from 1, got {looks_at}")
    rng = np.random.default_rng(SEED)
    sums = np.cumsum(rng.standard_normal((SIMULATIONS, looks_at[-1]), dtype=np.float32), axis=1)
    at = np.array(looks_at) - 1
    z = sums[:, at] / np.sqrt(np.array(looks_at, dtype=np.float32))
    boundary = float(np.quantile(z.max(axis=1), 1 - (1 - confidence) / 2))
    return 2 * _phi(boundary) - 1


def parse_looks(text: str) -> tuple[int, ...]:
    """'3,4,5,6' -> (3, 4, 5, 6)."""
    try:
        looks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise ValueError(f"expected trial counts like 3,4,5,6, got {text[:60]!r}") from None
    if not looks:
        raise ValueError("expected at least one trial count")
    return looks


EARLY_SHARE = 0.1  # of each side's error rate, for each look before the last


def _t_stats(y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """t of the mean over the first k trials, for each k in `at` (one row per simulated run)."""
    sums, squares = np.cumsum(y, axis=1)[:, at - 1], np.cumsum(y**2, axis=1)[:, at - 1]
    means = sums / at
    return means / np.sqrt(np.maximum(squares - at * means**2, 0) / (at - 1) / at)


def _t_stats_by_order(y: np.ndarray, at: np.ndarray) -> np.ndarray:
    """The same for the two start orders' mean (trials alternate: odd ones one
    order, even ones the other), with their pooled spread (k - 2 degrees of freedom)."""
    out = []
    for k in at:
        first, second = y[:, 0:k:2], y[:, 1:k:2]
        m1, m2 = first.mean(axis=1), second.mean(axis=1)
        ss = ((first - m1[:, None]) ** 2).sum(axis=1) + ((second - m2[:, None]) ** 2).sum(axis=1)
        se = np.sqrt(ss / (k - 2)) * order_se_factor(first.shape[1], second.shape[1])
        out.append((m1 + m2) / 2 / se)
    return np.stack(out, axis=1)


def order_se_factor(n1: int, n2: int) -> float:
    """se of the two groups' mean per unit of their common spread."""
    return math.sqrt(1 / n1 + 1 / n2) / 2


@functools.cache
def t_boundaries(confidence: float, looks_at: tuple[int, ...], by_start_order: bool = False) -> tuple[float, ...]:
    """Critical values c, one per look, for intervals mean ± c·sd/√k over k
    trials' own ratios. Looks before the last are strict (each at a tenth of
    the error rate: Student's t far out, so only a clear decision stops a run
    early); the last gets what is left, found by simulating the looks, so that
    the chance that any look misses the true ratio on a given side is
    (1 - confidence) / 2. A single look is Student's t with k - 1 degrees of
    freedom. `by_start_order`: the same for the mean of the two start orders'
    means (trials alternating between them), k - 2 degrees of freedom."""
    lost = 2 if by_start_order else 1  # degrees of freedom the means take
    fewest = 4 if by_start_order else 2  # two orders need two trials each for a spread of their own
    if list(looks_at) != sorted(set(looks_at)) or looks_at[0] < fewest:
        raise ValueError(f"looks must be increasing trial counts from {fewest}, got {looks_at}")
    side = (1 - confidence) / 2
    early = [float(stats.t.ppf(1 - side * EARLY_SHARE, k - lost)) for k in looks_at[:-1]]
    if not early:
        return (float(stats.t.ppf(1 - side, looks_at[0] - lost)),)
    rng = np.random.default_rng(SEED)
    y = rng.standard_normal((SIMULATIONS, looks_at[-1]))
    t = (_t_stats_by_order if by_start_order else _t_stats)(y, np.array(looks_at))
    stopped = (t[:, :-1] > np.array(early)).any(axis=1)
    last = np.where(stopped, -np.inf, t[:, -1])
    return (*early, float(np.quantile(last, 1 - (side - stopped.mean()))))
