"""Looking after each trial and stopping once decided keeps false alarms at the planned rate."""

import math

import numpy as np
import pytest

from perfgate import sequential


def test_one_look_keeps_the_confidence_and_more_looks_widen_it():
    assert sequential.confidence_for(0.95, (1,)) == 0.95
    two = sequential.confidence_for(0.95, (1, 2))
    assert two == pytest.approx(0.9706, abs=0.002)  # Pocock's boundary for 2 looks: z = 2.178
    four = sequential.confidence_for(0.95, (1, 2, 3, 4))
    assert four == pytest.approx(0.9818, abs=0.002)  # 4 looks: z = 2.361
    assert 0.95 < sequential.confidence_for(0.95, (3, 4)) < two  # later looks share more data: less to pay
    assert sequential.confidence_for(0.95, (3, 4, 5, 6)) == sequential.confidence_for(0.95, (3, 4, 5, 6))


def z_for(confidence: float) -> float:
    """The two-sided normal quantile, by bisection (no scipy needed here)."""
    low, high = 0.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if math.erf(mid / math.sqrt(2)) < confidence else (low, mid)
    return low


def test_stopping_at_the_first_look_that_decides_keeps_false_alarms_at_the_planned_rate():
    """A/A runs (no slowdown, tolerance 0) looked at after 3..8 trials: a false alarm is an
    interval wholly above 1 at any look. Naive 95% intervals at every look raise far more
    than the 2.5% one look allows; the sequential ones do not."""
    rng = np.random.default_rng(1)
    looks = (3, 4, 5, 6, 7, 8)
    trials = rng.standard_normal((20_000, looks[-1]))  # each trial's log-ratio estimate, in units of its SE
    means = {n: trials[:, :n].mean(axis=1) * math.sqrt(n) for n in looks}  # z of the pooled estimate

    def alarm_rate(confidence: float) -> float:
        z = z_for(confidence)
        return float(np.mean(np.any([means[n] > z for n in looks], axis=0)))

    naive = alarm_rate(0.95)
    planned = alarm_rate(sequential.confidence_for(0.95, looks))
    assert naive > 0.05
    assert planned == pytest.approx(0.025, abs=0.005)


def test_looks_are_parsed_and_checked():
    assert sequential.parse_looks("3,4,5") == (3, 4, 5)
    with pytest.raises(ValueError, match="trial counts"):
        sequential.parse_looks("3,x")
    for text in ("5,4", "3,3", "0", "0,2"):
        with pytest.raises(ValueError, match="increasing"):
            sequential.parse_looks(text)
    with pytest.raises(ValueError, match="increasing"):
        sequential.confidence_for(0.95, (4, 3))


def test_intervals_over_trials_looked_at_after_each_keep_false_alarms_at_the_planned_rate():
    """The same over the trials' own ratios, with the spread estimated from them
    (Student's t): looks after 6..15 trials, a different seed and a different
    spread per run than the boundaries were simulated with."""
    rng = np.random.default_rng(7)
    looks = tuple(range(6, 16))
    runs = rng.standard_normal((20_000, looks[-1])) * rng.uniform(0.01, 0.08, (20_000, 1))
    bounds = sequential.t_boundaries(0.95, looks)

    def alarm_rate(critical: list[float]) -> float:
        alarms = np.zeros(len(runs), dtype=bool)
        for n, c in zip(looks, critical, strict=True):
            y = runs[:, :n]
            alarms |= y.mean(axis=1) - c * y.std(axis=1, ddof=1) / math.sqrt(n) > 0
        return float(alarms.mean())

    from scipy import stats

    naive = alarm_rate([stats.t.ppf(0.975, n - 1) for n in looks])
    assert naive > 0.05
    assert alarm_rate(list(bounds)) == pytest.approx(0.025, abs=0.005)
    assert bounds[0] > bounds[-1] > stats.t.ppf(0.975, looks[-1] - 1)  # strict early, little paid at the last
    assert sequential.t_boundaries(0.95, (6,)) == pytest.approx(stats.t.ppf(0.975, 5))
    with pytest.raises(ValueError, match="from 2"):
        sequential.t_boundaries(0.95, (1, 2))


@pytest.mark.parametrize("order_from", [4, 6])
def test_looks_at_the_two_start_orders_mean_keep_false_alarms_at_the_planned_rate(order_from):
    """Trials alternating between two start orders, each order shifting the ratio
    its own way (by a different amount per run): looked at after 4..10 trials,
    the plain mean before `order_from` trials and the two orders' mean from
    then on, the intervals miss on the high side 2.5% of the time."""
    rng = np.random.default_rng(11)
    looks = tuple(range(4, 11))
    n = 20_000
    order = np.where(np.arange(looks[-1]) % 2 == 0, 1.0, -1.0) * rng.uniform(0, 0.01, (n, 1))
    runs = rng.standard_normal((n, looks[-1])) * rng.uniform(0.01, 0.08, (n, 1)) + order
    bounds = sequential.t_boundaries(0.95, looks, order_from=order_from)
    alarms = np.zeros(n, dtype=bool)
    for k, c in zip(looks, bounds, strict=True):
        if k < order_from:
            y = runs[:, :k]
            alarms |= y.mean(axis=1) - c * y.std(axis=1, ddof=1) / math.sqrt(k) > 0
            continue
        first, second = runs[:, 0:k:2], runs[:, 1:k:2]
        ss = ((first - first.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        ss += ((second - second.mean(axis=1, keepdims=True)) ** 2).sum(axis=1)
        se = np.sqrt(ss / (k - 2)) * sequential.order_se_factor(first.shape[1], second.shape[1])
        alarms |= (first.mean(axis=1) + second.mean(axis=1)) / 2 - c * se > 0
    assert alarms.mean() == pytest.approx(0.025, abs=0.005)
    assert bounds[-1] > sequential.t_boundaries(0.95, looks)[-1]  # a degree of freedom fewer at the last look
    from scipy import stats

    assert sequential.t_boundaries(0.95, (6,), order_from=4) == pytest.approx(stats.t.ppf(0.975, 4))
    assert sequential.t_boundaries(0.95, (5,), order_from=6) == pytest.approx(stats.t.ppf(0.975, 4))  # plain: k - 1
    with pytest.raises(ValueError, match="4 trials"):
        sequential.t_boundaries(0.95, (3, 4), order_from=3)
