"""Looking at a comparison after each trial, and stopping once every rule is
decided, without raising the rate of false alarms.

Each look is another chance for noise to push an interval past the
tolerance, so the intervals of a sequential run are wider than a single
look's, chosen so that the chance that any look's interval misses the true
ratio on a given side stays at (1 - confidence) / 2. Over the trials' own
ratios (Student's t, 3 trials or more; or, later, the two start orders'
mean), looks before the last are strict
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
    if list(looks) != sorted(set(looks)) or looks[0] < 1:
        raise ValueError(f"expected increasing trial counts from 1, got {text[:60]!r}")
    return looks


EARLY_SHARE = 0.1  # of each side's error rate, for each look before the last


def _t_stats(y: np.ndarray, k: int) -> np.ndarray:
    """t of the mean over the first k trials (one value per simulated run)."""
    head = y[:, :k]
    return head.mean(axis=1) / (head.std(axis=1, ddof=1) / math.sqrt(k))


def _t_stats_by_order(y: np.ndarray, k: int) -> np.ndarray:
    """The same for the two start orders' mean (trials alternate: odd ones one
    order, even ones the other), with their pooled spread (k - 2 degrees of freedom)."""
    first, second = y[:, 0:k:2], y[:, 1:k:2]
    m1, m2 = first.mean(axis=1), second.mean(axis=1)
    ss = ((first - m1[:, None]) ** 2).sum(axis=1) + ((second - m2[:, None]) ** 2).sum(axis=1)
    se = np.sqrt(ss / (k - 2)) * order_se_factor(first.shape[1], second.shape[1])
    return (m1 + m2) / 2 / se


def order_se_factor(n1: int, n2: int) -> float:
    """se of the two groups' mean per unit of their common spread."""
    return math.sqrt(1 / n1 + 1 / n2) / 2


def by_order(k: int, order_from: int | None) -> bool:
    """Whether a look after k trials takes the start order out."""
    return order_from is not None and k >= order_from


@functools.cache
def t_boundaries(confidence: float, looks_at: tuple[int, ...], order_from: int | None = None) -> tuple[float, ...]:
    """Critical values c, one per look, for intervals mean ± c·sd/√k over k
    trials' own ratios. Looks before the last are strict (each at a tenth of
    the error rate: Student's t far out, so only a clear decision stops a run
    early); the last gets what is left, found by simulating the looks, so that
    the chance that any look misses the true ratio on a given side is
    (1 - confidence) / 2. A single look is Student's t with k - 1 degrees of
    freedom. From `order_from` trials on, a look is over the two start
    orders' mean instead (trials alternating between them), with k - 2."""
    if list(looks_at) != sorted(set(looks_at)) or looks_at[0] < 2:
        raise ValueError(f"looks must be increasing trial counts from 2, got {looks_at}")
    if order_from is not None and order_from < 4:
        raise ValueError(f"two start orders need 4 trials for a spread of their own, got {order_from}")
    side = (1 - confidence) / 2
    df = [k - (2 if by_order(k, order_from) else 1) for k in looks_at]
    early = [float(stats.t.ppf(1 - side * EARLY_SHARE, d)) for d in df[:-1]]
    if not early:
        return (float(stats.t.ppf(1 - side, df[0])),)
    rng = np.random.default_rng(SEED)
    y = rng.standard_normal((SIMULATIONS, looks_at[-1]))
    t = np.stack([(_t_stats_by_order if by_order(k, order_from) else _t_stats)(y, k) for k in looks_at], axis=1)
    stopped = (t[:, :-1] > np.array(early)).any(axis=1)
    last = np.where(stopped, -np.inf, t[:, -1])
    return (*early, float(np.quantile(last, 1 - (side - stopped.mean()))))
