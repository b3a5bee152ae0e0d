"""Looking at a comparison after each trial, and stopping once every rule is
decided, without raising the rate of false alarms.

Each look is another chance for noise to push an interval past the
tolerance, so the intervals of a sequential run are wider than a single
look's: the same z at every look (Pocock's boundary), chosen so that the
chance that any look's interval misses the true ratio on a given side stays
at (1 - confidence) / 2. The constant comes from simulating the looks (at
the given numbers of trials) as partial sums of independent trials, with a
fixed seed: the same looks always give the same confidence.
"""

import functools
import math

import numpy as np

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
