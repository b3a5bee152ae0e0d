"""Stalls found from sample times alone: gaps, collapses, and what is not one."""

from pathlib import Path

import numpy as np
import pytest

from perfgate import stalls
from perfgate.check import FAIL, PASS
from perfgate.results import RunInfo
from perfgate.samples import RawSamples, Samples
from perfgate.thresholds import StallRule

T0 = 1_800_000_000.0
RULE = StallRule(min_duration_s=5, rate_below=0.1)


def steady(rate: float, start: float = 0, end: float = 60, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return T0 + np.sort(rng.uniform(start, end, int(rate * (end - start))))


def without(times: np.ndarray, start: float, end: float) -> np.ndarray:
    return times[(times < T0 + start) | (times >= T0 + end)]


def find(times: np.ndarray, stop: float = 60):
    return stalls.find_stalls(times, T0, T0 + stop, RULE)


def spans(found) -> list[tuple[float, float, int]]:
    return [(s.start - T0, s.end - T0, s.seen) for s in found[1]]


def test_a_steady_run_has_no_stall():
    rate, found = find(steady(20))
    assert rate == pytest.approx(20, rel=0.01) and found == []


def test_a_gap_is_a_stall_with_its_span():
    assert spans(find(without(steady(20), 20, 30))) == [(20, 30, 0)]


def test_a_gap_until_the_stop_is_a_stall_ending_at_the_stop():
    assert spans(find(without(steady(20), 45, 60))) == [(45, 60, 0)]
    assert spans(find(without(steady(20), 45, 60), stop=59.8)) == [(45, pytest.approx(59.8), 0)]


def test_a_collapse_below_the_fraction_is_a_stall_and_a_halving_is_not():
    trickle = np.concatenate([without(steady(20), 20, 30), steady(1, 20, 30, seed=2)])
    [(start, end, seen)] = spans(find(np.sort(trickle)))
    assert (start, end) == (20, 30) and 5 <= seen <= 15
    halved = np.concatenate([without(steady(20), 20, 30), steady(10, 20, 30, seed=2)])
    assert find(np.sort(halved))[1] == []


def test_shorter_than_the_minimum_is_not_a_stall():
    assert find(without(steady(20), 20, 24))[1] == []


def test_a_sparse_entry_needs_a_longer_gap_to_count():
    sparse = steady(1, end=120)
    assert find(without(sparse, 20, 35), stop=120)[1] == []  # 15 s without: 15 were due, fewer than MIN_EXPECTED
    assert spans(find(without(sparse, 20, 50), stop=120)) == [(20, 50, 0)]


@pytest.mark.parametrize("times", [np.array([]), steady(20, 70, 80)])
def test_nothing_in_the_span_cannot_be_judged(times):
    assert find(times) is None


def test_a_run_shorter_than_the_minimum_cannot_be_judged():
    assert find(steady(20, 0, 4), stop=4) is None


def info(**times) -> RunInfo:
    return RunInfo(Path("info.json"), **times)


def raw(series: dict[tuple[str, str], np.ndarray]) -> RawSamples:
    ok = {key: Samples(times, np.full(len(times), 5.0)) for key, times in series.items()}
    return RawSamples(Path("raw.csv"), ok)


def test_judge_fails_the_stalled_entry_and_names_the_span_in_seconds_of_the_run():
    samples = raw({("", "POST /requests"): steady(20), ("", "ASYNC x"): without(steady(20), 30, 60)})
    run = info(start_time=T0 - 2, spawning_complete_time=T0, stop_time=T0 + 60)
    results, problems = stalls.judge(samples, run, RULE)
    assert problems == []
    [failed] = results  # the entry that ran steadily needs no row of its own
    assert (failed.entry, failed.status, failed.measured) == ("ASYNC x", FAIL, 30)
    assert failed.message.startswith("stall of ASYNC x: no successful request from 32.0 s to 62.0 s of the run")


def test_judge_passes_once_naming_the_entries_it_could_judge():
    samples = raw({("", "POST /requests"): steady(20), ("", "GET /sparse"): steady(0.2)})
    [passed] = stalls.judge(samples, info(start_time=T0, stop_time=T0 + 60), RULE)[0]
    assert (passed.entry, passed.status) == ("every entry", PASS)
    assert passed.message.endswith("in 1 entries with enough requests to tell (POST /requests)")


def test_a_stalled_baseline_is_no_verdict_not_a_failure_of_the_change():
    samples = raw({("baseline", "POST x"): without(steady(20), 30, 60), ("candidate", "POST x"): steady(20)})
    results, problems = stalls.judge(samples, info(start_time=T0, stop_time=T0 + 60), RULE)
    assert [(r.entry, r.status) for r in results] == [("every entry", PASS)]
    assert problems and problems[0].startswith("baseline stall of POST x")


def test_without_run_times_stalls_cannot_be_looked_for():
    results, problems = stalls.judge(raw({("", "POST x"): steady(20)}), info(), RULE)
    assert results == [] and "no start and stop times" in problems[0]


@pytest.mark.parametrize("seed", range(5))
def test_the_matrix_screen_misses_no_stall_the_exact_look_finds(seed):
    rng = np.random.default_rng(seed)
    series = []
    for _ in range(60):
        times = steady(rng.uniform(0.2, 40), seed=int(rng.integers(1 << 30)))
        if rng.random() < 0.4:
            a = rng.uniform(0, 55)
            times = without(times, a, a + rng.uniform(2, 30))
        series.append(times)
    suspect = stalls.screen(series, T0, T0 + 60, RULE)[1]
    for i, times in enumerate(series):
        found = find(times)
        if found and found[1]:
            assert i in suspect
    assert any(find(series[i])[1] for i in suspect)  # the screen is not vacuous


def test_the_passed_rule_names_only_entries_that_could_be_judged():
    short = info(start_time=T0, stop_time=T0 + 4)  # shorter than a stall
    assert stalls.judge(raw({("", "POST /requests"): steady(20, 0, 4)}), short, RULE) == ([], [])
    late = steady(20, 0, 60)[:10]  # 10 in the span: too few to judge, however many came after it
    late = np.concatenate([late, steady(20, 70, 80)])
    assert stalls.judge(raw({("", "POST x"): late}), info(start_time=T0, stop_time=T0 + 60), RULE) == ([], [])
