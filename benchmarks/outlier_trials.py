"""One trial left out of a rule when it is an outlier among that rule's
trials: whether a trial disturbed by a burst of work beside the gate (every
rule moving together on one side) is what keeps A/A runs undecided.
`--rejudge-ratios --drop-outlier P` replays a stored series with it; the
gate itself does not do this (README: the fresh A/A series)."""

import math

import numpy as np
from scipy import stats

MIN_TRIALS = 6  # fewer leave too little to tell an outlier from the spread


def studentized(ys: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, int]:
    """Each trial's externally studentized residual: its distance from the mean
    of the other trials of its start order, in units of the others' pooled
    spread (and the mean's own se). Returns them and their degrees of freedom."""
    k = len(ys)
    t = np.zeros(k)
    df = 0
    for i in range(k):
        others = np.arange(k) != i
        sums, n_own, mean_own, kinds = 0.0, 0, 0.0, 0
        for kind in (True, False):
            chosen = ys[others & (groups == kind)]
            if len(chosen):
                kinds += 1
                sums += float(((chosen - chosen.mean()) ** 2).sum())
                if kind == groups[i]:
                    n_own, mean_own = len(chosen), float(chosen.mean())
        df = k - 1 - kinds
        spread = math.sqrt(sums / df) if df > 0 else 0.0
        if n_own and spread > 0:
            t[i] = (ys[i] - mean_own) / (spread * math.sqrt(1 + 1 / n_own))
    return t, df


def without_outlier(
    ys: list[float], candidate_first: list[bool] | None, alpha: float
) -> tuple[list[float], list[bool] | None]:
    """The trials' ln ratios (and start orders) without the one furthest from
    the rest, when it is an outlier at `alpha` (Bonferroni over the trials);
    else as given. A trial alone in its start order is never left out: there
    is nothing to measure it against."""
    k = len(ys)
    if k < MIN_TRIALS:
        return ys, candidate_first
    groups = np.asarray(candidate_first if candidate_first is not None else [True] * k, dtype=bool)
    t, df = studentized(np.asarray(ys, dtype=float), groups)
    worst = int(np.argmax(np.abs(t)))
    if df < 2 or 2 * stats.t.sf(abs(t[worst]), df) * k >= alpha:
        return ys, candidate_first
    kept = [y for n, y in enumerate(ys) if n != worst]
    order = None if candidate_first is None else [f for n, f in enumerate(candidate_first) if n != worst]
    return kept, order
