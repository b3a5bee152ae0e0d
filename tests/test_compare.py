"""The side-by-side statistics on synthetic samples with known effects (fixed seeds)."""

import csv
import math
import statistics
from pathlib import Path

import numpy as np
import pytest

from perfgate import compare
from perfgate import samples as raw_samples
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, Verdict
from perfgate.samples import BASELINE, CANDIDATE, Samples
from perfgate.thresholds import RegressionRule, ResourceRule, Thresholds


def samples(seed: int, scale: float = 1.0, seconds: float = 120, rate: float = 100, median_ms: float = 20):
    """Lognormal response times with a shared, drifting machine load (what both backends feel)."""
    rng = np.random.default_rng(seed)
    times = np.sort(rng.uniform(0, seconds, int(seconds * rate)))
    drift = 1 + 0.3 * np.sin(times / 7)  # the machine gets slower and faster for both
    values = median_ms * drift * rng.lognormal(0, 0.5, len(times)) * scale
    return raw_samples.Samples(times + 1_800_000_000, values)


def judge(base, cand, tolerance: float, q: int = 95):
    rule = RegressionRule("POST /requests", q, tolerance)
    data = {("baseline", "POST /requests"): base, ("candidate", "POST /requests"): cand}
    c = compare.compare_entry(data, rule, window_s=5, confidence=0.95)
    return c, compare.judge_comparison(c, rule, 5, 0.95)


def test_an_entry_that_ran_unlabelled_says_why_it_has_no_sides():
    """A user class the plugin does not pair (not an HttpUser) loads --host only."""
    rule = RegressionRule("grpc /Greeter/SayHello", 50, 0.05)
    alone = compare.compare_entry({("", rule.entry): samples(1)}, rule, window_s=5, confidence=0.9)
    assert isinstance(alone, compare.Unjudged)
    assert "for the baseline: it ran unlabelled, against --host only" in alone.reason
    assert "could not be paired" in alone.reason
    missing = compare.compare_entry({}, rule, window_s=5, confidence=0.9)
    assert missing == compare.Unjudged(
        rule.entry, 50, "no successful samples of grpc /Greeter/SayHello for the baseline"
    )


def test_histogram_percentiles_match_numpy_within_a_bin():
    s = samples(1)
    hist = compare.window_histograms(s, s.times.min(), 1000, 1)
    for q in (50, 95, 99):
        assert compare.hist_percentiles(hist, q)[0] == pytest.approx(np.percentile(s.values, q), rel=0.006)


def test_no_effect_passes_with_an_interval_around_one():
    c, result = judge(samples(1), samples(2), tolerance=0.05)
    assert c.low < 1 < c.high
    assert c.high < 1.05 and result.status == PASS


def test_clear_effect_fails_and_names_the_entry():
    c, result = judge(samples(1), samples(2, scale=1.3), tolerance=0.05)
    assert 1.2 < c.low < c.ratio < c.high < 1.4
    assert result.status == FAIL
    assert result.name == "p95 regression of POST /requests"
    assert "regression" in result.message and "tolerated ≤ ×1.05" in result.message


def test_borderline_effect_is_inconclusive_and_says_how_long_to_run():
    c, result = judge(samples(1), samples(2, scale=1.05), tolerance=0.05)
    assert c.low < 1.05 < c.high
    assert result.status == INCONCLUSIVE
    assert "as long" in result.message


def test_a_faster_candidate_passes():
    _, result = judge(samples(1), samples(2, scale=0.8), tolerance=0.05)
    assert result.status == PASS


def test_same_samples_same_verdict():
    a = judge(samples(1), samples(2, scale=1.07), tolerance=0.05)[0]
    b = judge(samples(1), samples(2, scale=1.07), tolerance=0.05)[0]
    assert (a.low, a.high) == (b.low, b.high)


def test_shared_drift_cancels_out():
    """A machine that slows both sides alike must not look like a regression."""
    base, cand = samples(1), samples(2)
    late = cand.times > np.median(cand.times)
    cand.values[late] *= 1.5
    base.values[base.times > np.median(base.times)] *= 1.5
    c, result = judge(base, cand, tolerance=0.10)
    assert result.status == PASS


def test_too_few_windows_is_an_error():
    short = samples(1, seconds=15)
    rule = RegressionRule("POST /requests", 95, 0.1)
    got = compare.compare_entry(
        {("baseline", "POST /requests"): short, ("candidate", "POST /requests"): short}, rule, 5, 0.95
    )
    assert isinstance(got, compare.Unjudged) and "run longer" in got.reason


def write_raw(path: Path, rows) -> Path:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "type", "name", "response_time_ms", "ok"])
        w.writerows(rows)
    return path


def test_compare_run_from_raw_csv(tmp_path):
    base, cand = samples(1), samples(2, scale=1.5)
    rows = [(t, "POST", "[baseline] /requests", v, 1) for t, v in zip(base.times, base.values, strict=True)]
    rows += [(t, "POST", "[candidate] /requests", v, 1) for t, v in zip(cand.times, cand.values, strict=True)]
    rows += [(1_800_000_010, "POST", "[candidate] /requests", 99999, 0), (1_800_000_010, "POST", "/plain", 1, 1)]
    raw = write_raw(tmp_path / "raw.csv", rows)
    t = Thresholds(
        Path("thresholds.json"),
        [],
        regressions=[RegressionRule("POST /requests", 95, 0.1), RegressionRule("GET /missing", 95, 0.1)],
    )
    verdict = Verdict()
    compare.compare_run(verdict, raw_samples.load(raw), t)
    assert [r.status for r in verdict.results] == [FAIL, ERROR]
    assert verdict.exit_code == 1
    assert verdict.results[0].baseline < verdict.results[0].measured


def test_no_regression_rules_is_a_problem():
    verdict = Verdict()
    compare.compare_run(verdict, raw_samples.RawSamples(Path("unused"), {}), Thresholds(Path("thresholds.json"), []))
    assert "no regression rules" in verdict.problems[0]


def test_resource_rules_alone_are_rules_to_compare_by():
    t = Thresholds(Path("thresholds.json"), [], resource_rules=[ResourceRule("cpu_per_request", 0.03)])
    verdict = Verdict()
    assert compare.compare_run(verdict, raw_samples.RawSamples(Path("unused"), {}), t) == []
    assert verdict.problems == [] and verdict.results == []


@pytest.mark.parametrize("low, high, status", [(1.11, 1.3, FAIL), (0.9, 1.1, PASS), (1.0, 1.2, INCONCLUSIVE)])
def test_decide(low, high, status):
    assert compare.decide(low, high, 0.10) == status


@pytest.mark.parametrize(
    ("ratio", "low", "high"),
    [
        (0.971, 0.860, 1.109),  # an asymmetric interval: the symmetric half-width said 1.0x
        (1.021, 0.826, 1.246),
        (1.15, 1.05, 1.30),  # above the tolerance, the low side crosses it
    ],
)
def test_run_length_advice_asks_for_a_longer_run_than_the_one_that_was_made(ratio, low, high):
    c = compare.Comparison("GET", 95, 10.0, 10.0 * ratio, ratio, low, high, windows=8, se_log=0.05)
    factor = compare.run_length_factor(c, 0.10)
    assert factor > 1
    advice = compare.run_length_advice(factor, c.windows, 5.0)
    shown = float(advice.split("about ")[1].split("x")[0])
    assert shown > 1.0 and "would decide" in advice


def test_trials_advice_counts_trials_and_says_how_to_get_them():
    c = compare.Comparison("GET", 95, 10.0, 10.2, 1.02, 0.95, 1.12, windows=40, se_log=0.03, trials=8, method="trials")
    advice = compare.trials_advice(compare.run_length_factor(c, 0.10), c.trials, 30.0)
    needed = int(advice.split("about ")[1].split(" trials")[0])
    assert needed > 8 and f"~{needed * 0.5:.1f} min of load" in advice and "--max-run-time" in advice
    samples, spans = trials_data(2, k=4, tau=0.05, trial_s=20)
    rule = RegressionRule("E", 50, 0.0)  # on the tolerance or near it: undecided
    c = compare.compare_entry(samples, rule, 5, 0.95, spans)
    assert c.trial_s == 20
    text = compare.judge_comparison(c, rule, 5, 0.95).message
    assert "inconclusive; about 46 trials of 20 s (~15.3 min of load) would decide" in text, text


def test_run_length_advice_when_the_ratio_sits_on_the_tolerance():
    c = compare.Comparison("GET", 95, 10.0, 11.0, 1.1, 1.0, 1.2, windows=8, se_log=0.05)
    advice = compare.run_length_advice(compare.run_length_factor(c, 0.10), 8, 5.0)
    assert advice == "the ratio sits on the tolerance: no run of useful length would decide"
    assert "inf" not in advice


T0 = 1_800_000_000.0
BASE, CAND = (BASELINE, "E"), (CANDIDATE, "E")


def trials_data(seed: int, k: int, tau: float, trial_s: int = 30, rate: int = 40, order_effect: float = 0.0):
    """k trials with gaps between them; in each the candidate is exp(N(0, tau))
    times the baseline: no regression overall, but trials that disagree.
    `order_effect`: the side started first (the candidate in odd trials, see
    `alternating`) is exp(order_effect / 2) times slower, the other as much faster."""
    rng = np.random.default_rng(seed)
    parts, spans, t = {BASE: ([], []), CAND: ([], [])}, [], T0
    for first in alternating(k):
        effect = math.exp(rng.normal(0, tau) + (order_effect if first else -order_effect) / 2)
        for key, scale in ((BASE, 1.0), (CAND, effect)):
            parts[key][0].append(np.sort(rng.uniform(t, t + trial_s, trial_s * rate)))
            parts[key][1].append(10 * scale * rng.lognormal(0, 0.5, trial_s * rate))
        spans.append((t, t, t + trial_s))
        t += trial_s + 10
    samples = {key: Samples(np.concatenate(ts), np.concatenate(vs)) for key, (ts, vs) in parts.items()}
    return samples, spans


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
@pytest.mark.parametrize("tau", [0.0, 0.06])
def test_the_interval_over_trials_covers_the_truth_whatever_they_disagree(tau):
    rule = RegressionRule("E", 50, 0.05)
    covered = {"trials": 0, "one run": 0}
    for seed in range(30):
        samples, spans = trials_data(seed, k=8, tau=tau, trial_s=20)
        for name, given in (("trials", spans), ("one run", None)):
            c = compare.compare_entry(samples, rule, 5, 0.95, given)
            covered[name] += c.low <= 1.0 <= c.high
            assert c.method == ("trials" if given else "windows")
    assert covered["trials"] >= 27, covered  # about 95% whatever the spread
    if tau:
        assert covered["one run"] < 24, covered  # windows alone miss the variance between trials


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
def test_trials_that_agree_cost_little():
    rule = RegressionRule("E", 50, 0.05)
    widths = {"trials": [], "one run": []}
    for seed in range(12):
        samples, spans = trials_data(seed, k=10, tau=0.0, trial_s=20)
        for name, given in (("trials", spans), ("one run", None)):
            c = compare.compare_entry(samples, rule, 5, 0.95, given)
            widths[name].append(math.log(c.high / c.low))
    ratio = statistics.median(widths["trials"]) / statistics.median(widths["one run"])
    # Student's t for 9 degrees of freedom is 15% over the normal's 1.96, and each trial's first window is
    # warm-up
    assert ratio < 1.35, ratio


def test_two_trials_widen_the_windows_interval_by_their_disagreement():
    rule = RegressionRule("E", 50, 0.05)
    samples, spans = trials_data(3, k=2, tau=0.08)
    c = compare.compare_entry(samples, rule, 5, 0.95, spans)
    alone = compare.compare_entry(samples, rule, 5, 0.95, None)
    assert c.method == "windows" and c.between_log > 0
    assert math.log(c.high / c.low) > math.log(alone.high / alone.low)


def test_trial_windows_stay_inside_their_trial():
    samples, spans = trials_data(1, k=3, tau=0.0)
    c = compare.compare_entry(samples, RegressionRule("E", 50, 0.05), 5, 0.95, spans)
    starts = [s for s, _ in c.per_window]
    # 30 s trials 10 s apart, the first window of each left out: windows start 5..25, 45..65, 85..105
    assert [round(s) for s in starts][:5] == [5, 10, 15, 20, 25]
    assert all(not (30 <= s < 45) and not (70 <= s < 85) for s in starts), starts


def alternating(k: int) -> list[bool]:
    """The gate's start orders: the candidate first in odd trials (1st, 3rd, ...)."""
    return [n % 2 == 0 for n in range(k)]


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
def test_the_start_order_is_taken_out_of_the_interval():
    """Starting first costs a side 4% here (8% between the two orders' ratios): the
    trials' ratios swing by it, so the plain interval is wide; told the order,
    it is narrow and still covers 1."""
    rule = RegressionRule("E", 50, 0.05)
    widths, covered = {"plain": [], "by order": []}, 0
    for seed in range(20):
        samples, spans = trials_data(seed, k=8, tau=0.0, trial_s=20, rate=200, order_effect=0.08)
        plain = compare.compare_entry(samples, rule, 5, 0.95, spans)
        ordered = compare.compare_entry(samples, rule, 5, 0.95, spans, candidate_first=alternating(8))
        assert plain.start_order_log is None
        assert ordered.start_order_log == pytest.approx(0.08, abs=0.03)
        widths["plain"].append(math.log(plain.high / plain.low))
        widths["by order"].append(math.log(ordered.high / ordered.low))
        covered += ordered.low <= 1.0 <= ordered.high
    assert statistics.median(widths["by order"]) < 0.8 * statistics.median(widths["plain"]), widths
    assert covered >= 18, covered


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
def test_taking_out_a_start_order_that_does_nothing_costs_little():
    """One more degree of freedom spent: t for 6 instead of 7 is 3% wider."""
    rule = RegressionRule("E", 50, 0.05)
    ratios = []
    for seed in range(12):
        samples, spans = trials_data(seed, k=8, tau=0.03, trial_s=20)
        plain = compare.compare_entry(samples, rule, 5, 0.95, spans)
        ordered = compare.compare_entry(samples, rule, 5, 0.95, spans, candidate_first=alternating(8))
        ratios.append(math.log(ordered.high / ordered.low) / math.log(plain.high / plain.low))
    assert statistics.median(ratios) < 1.15, ratios


@pytest.mark.parametrize(
    ("k", "firsts"),
    [
        (
            compare.ORDER_FROM - 1,
            alternating(compare.ORDER_FROM - 1),
        ),  # too few trials: the degree of freedom costs more
        (8, [True] * 8),  # one order only: nothing to take out
        (8, alternating(7)),  # not one per trial: not trusted
    ],
)
def test_the_start_order_is_left_in_when_it_cannot_be_taken_out(k, firsts):
    samples, spans = trials_data(1, k=k, tau=0.0, trial_s=20)
    c = compare.compare_entry(samples, RegressionRule("E", 50, 0.05), 5, 0.95, spans, (1,), firsts)
    assert c.method == "trials" and c.start_order_log is None


def test_a_sequential_run_takes_the_start_order_out_from_its_later_looks():
    samples, spans = trials_data(4, k=8, tau=0.0, trial_s=20)
    rule = RegressionRule("E", 50, 0.05)
    looks = tuple(range(3, 11))
    early = compare.compare_entry(samples, rule, 5, 0.95, spans[:4], looks, alternating(4))
    late = compare.compare_entry(samples, rule, 5, 0.95, spans, looks, alternating(8))
    assert early.start_order_log is None and late.start_order_log is not None


def test_the_rule_text_says_the_start_order_was_taken_out(tmp_path):
    samples, spans = trials_data(2, k=6, tau=0.0, trial_s=20)
    rule = RegressionRule("E", 50, 0.05)
    c = compare.compare_entry(samples, rule, 5, 0.95, spans, (4, 5, 6), alternating(6))
    assert "over 6 trials in both start orders" in compare.judge_comparison(c, rule, 5, 0.95).message


def test_latency_is_not_judged_when_one_sides_requests_fail_far_more_often():
    """A baseline refused quickly (another side's token) must not read as a faster baseline."""
    rule = RegressionRule("POST /carts", 50, 0.05)
    ok = {("baseline", rule.entry): samples(1), ("candidate", rule.entry): samples(2)}
    failed = {("baseline", rule.entry): Samples(np.arange(400.0) + 1e9, np.ones(400))}
    raw = raw_samples.RawSamples(Path("raw.csv"), ok, failed)
    verdict = Verdict()
    compare.compare_run(verdict, raw, Thresholds(Path("t.json"), [], regressions=[rule]))
    [result] = verdict.results
    assert result.status == "error" and result.interval is None
    assert "failed at different rates (baseline" in result.message and "candidate 0.00%" in result.message
    # the same few failures on both sides are chance: latency is judged
    few = Samples(np.arange(3.0) + 1e9, np.ones(3))
    raw = raw_samples.RawSamples(Path("raw.csv"), ok, {("baseline", rule.entry): few, ("candidate", rule.entry): few})
    assert compare.failures_differ(raw, rule) is None
