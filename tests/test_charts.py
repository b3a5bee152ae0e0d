"""Mermaid charts for the summary: what is drawn, its axes, and what is chosen."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from perfgate import charts
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult
from perfgate.samples import Samples
from tests.conftest import ROOT

T0 = 1_800_000_000.0
NINE_TRIALS = [(45.0 * t + 5.0 * w, 1.1 + 0.01 * (w % 3)) for t in range(9) for w in range(1, 9)][:75]


def ratio_rule(status=FAIL, n=12, name="POST /requests", value=1.1, **kw) -> RuleResult:
    return RuleResult(
        name, "p50_regression", 0.05, 110.0, status, "m", baseline=100.0, interval=(1.06, 1.13),
        per_window=[(5.0 * (i + 1), value + 0.01 * (i % 3)) for i in range(n)], window_s=5.0, **kw,
    )  # fmt: skip


def failure_rule(status=FAIL, entry="POST /requests", n=12) -> RuleResult:
    per_window = [(5.0 * i, 0.2 if i in (4, 5) else 0.0) for i in range(n)]
    return RuleResult(entry, "failure_ratio", 0.0, 0.03, status, "m", per_window=per_window, window_s=5.0)


def latency_rule(status=FAIL, n=2) -> RuleResult:
    per_window = [(5.0 * i, 90.0 + 40 * (i % 2)) for i in range(n)]
    return RuleResult("GET /x", "p99_ms", 100, 130, status, "m", per_window=per_window, window_s=5)


def parse(block: list[str]) -> dict:
    text = "\n".join(block)
    y = re.search(r'y-axis "([^"]*)" ([\d.]+) --> ([\d.]+)', text)
    x = re.search(r'x-axis "([^"]*)" ([\d.]+) --> ([\d.]+)', text)
    lines = [[float(v) for v in m.split(", ")] for m in re.findall(r"line \[([^\]]*)\]", text)]
    return {
        "y": y[1], "low": float(y[2]), "high": float(y[3]),
        "x": x[1], "first": float(x[2]), "last": float(x[3]), "lines": lines, "text": text,
    }  # fmt: skip


def test_a_ratio_chart_has_the_ratio_the_tolerance_and_the_interval_on_an_honest_axis():
    block = charts.chart(ratio_rule())
    assert block[0] == "```mermaid" and "xychart-beta" in block
    chart = parse(block[: block.index("```", 1) + 1])
    ratio, tolerated, low, high = chart["lines"]
    assert len(ratio) == 12 and (chart["first"], chart["last"]) == (5, 60) and set(tolerated) == {1.05}
    assert set(low) == {1.06} and set(high) == {1.13}
    assert chart["low"] <= 0.8 and chart["high"] >= 1.2  # a 3% wobble cannot fill the chart
    assert block[-1].startswith("Red: the ratio in each window; grey: tolerated ≤ ×1.05; blue:")


def test_a_latency_chart_starts_at_zero_with_the_limit():
    chart = parse(charts.chart(latency_rule()))
    assert chart["low"] == 0 and chart["high"] >= 130
    assert chart["lines"] == [[90.0, 130.0], [100.0, 100.0]]


def slow_rule() -> RuleResult:
    per_window = [(5.0 * i, 12_345.6 + i) for i in range(4)]
    return RuleResult("ASYNC s", "p95_ms", 1000, 12_000, FAIL, "m", per_window=per_window, window_s=5)


def test_large_numbers_are_never_in_exponent_notation_which_mermaid_refuses():
    text = "\n".join(charts.chart(slow_rule()))
    assert "e+" not in text and "12350, 12350" in text and "0 --> 13600" in text


def test_names_cannot_break_the_chart_or_its_fence():
    block = charts.chart(ratio_rule(name='GET "/a"\n```\n/b'))
    title = next(line for line in block if line.strip().startswith("title"))
    assert title.count('"') == 2 and "```" not in title and "\n" not in title


@pytest.mark.parametrize("windows", [75, 500, 5000])
def test_the_x_axis_is_a_range_of_seconds_however_long_the_run(windows):
    """A label per window made a 9-trial run's axis unreadable: a numeric axis
    gets a few round labels from Mermaid, and the points are averaged to at most
    MAX_POINTS, evenly spaced as Mermaid draws them."""
    block = charts.chart(ratio_rule(n=windows))
    chart = parse(block)
    assert "[" not in next(line for line in block if "x-axis" in line)  # no list of labels
    assert len(chart["lines"][0]) <= charts.MAX_POINTS and all(
        len(line) == len(chart["lines"][0]) for line in chart["lines"]
    )
    step = (chart["last"] - chart["first"]) / (len(chart["lines"][0]) - 1)
    assert chart["first"] == 5 and step % 5 == 0 and chart["last"] <= 5.0 * windows


def test_windows_are_put_on_an_even_grid_and_gaps_between_trials_drawn_through():
    first, step, values = charts.even([(0.0, 1.0), (5.0, 1.0), (10.0, 2.0), (30.0, 4.0), (35.0, 4.0)], 5.0)
    assert (first, step) == (0.0, 5.0)
    assert values == [1.0, 1.0, 2.0, 2.5, 3.0, 3.5, 4.0, 4.0]  # 15-25 s: between trials, on the line through them
    first, step, values = charts.even(NINE_TRIALS, 5.0)
    assert first == 5.0 and step == 10.0 and len(values) <= charts.MAX_POINTS


def test_a_comparison_over_trials_draws_each_trials_own_ratio():
    trials = [1.08, 1.12, 1.09, 1.11, 1.13, 1.08, 1.10, 1.12, 1.09]
    block = charts.chart(_with_trials(trials))  # 75 windows too: the trials are what is judged
    chart = parse(block)
    assert (chart["x"], chart["first"], chart["last"]) == ("trial", 1, 9)
    ratios, tolerated, low, high = chart["lines"]
    assert ratios == trials and set(tolerated) == {1.05} and set(low) == {1.06} and set(high) == {1.13}
    assert "per trial" in chart["text"] and block[-1].startswith("Red: each trial's own candidate/baseline ratio")
    assert "tolerated ≤ ×1.05" in block[-1]


def _with_trials(trials: list[float]) -> RuleResult:
    r = ratio_rule(n=75)
    r.trial_ratios = trials
    return r


def test_a_failure_ratio_is_drawn_in_percent_from_zero_with_its_limit():
    chart = parse(charts.chart(failure_rule()))
    values, limit = chart["lines"]
    assert chart["y"] == "% failed" and chart["low"] == 0 and chart["high"] >= 20
    assert max(values) == 20 and set(limit) == {0}
    assert "failure ratio of POST /requests per 5 s window" in chart["text"]
    assert (
        charts.chart(failure_rule())[-1]
        == "Red: failure ratio of POST /requests in each window; grey: the limit, 0.00%."
    )


def test_what_did_not_pass_is_drawn_never_a_rule_that_passed_in_its_place():
    failing = [ratio_rule(FAIL, name=f"E{i}") for i in range(5)]
    drawn = "\n".join(charts.charts([ratio_rule(PASS, name="P"), *failing]))
    assert drawn.count("```mermaid") == charts.MAX_CHARTS and 'title "p50 regression of P' not in drawn
    # failure ratios failed: their chart, not the p99 that passed nearest its limit
    drawn = "\n".join(charts.charts([failure_rule(), latency_rule(PASS)]))
    assert drawn.count("```mermaid") == 1 and "failure ratio of POST /requests" in drawn and "p99" not in drawn
    # what did not pass cannot be drawn: nothing is, rather than something else
    unjudged = RuleResult("POST /requests", "p50_regression", 0.07, None, ERROR, "why")
    assert charts.charts([unjudged, ratio_rule(INCONCLUSIVE, n=1), latency_rule(PASS)]) == []


def test_when_all_passed_the_rule_closest_to_its_limit_is_drawn():
    near = ratio_rule(PASS, name="near")
    near.interval = (1.0, 1.049)
    far = ratio_rule(PASS, name="far")
    far.interval = (0.95, 1.0)
    text = "\n".join(charts.charts([far, near, failure_rule(PASS)]))
    assert text.count("```mermaid") == 1 and "of near" in text


def test_percentile_per_window_and_latency_windows_for_the_right_side():
    rng = np.random.default_rng(1)
    times = np.sort(rng.uniform(T0, T0 + 20, 400))
    values = np.where(times < T0 + 10, 10.0, 20.0) + rng.uniform(0, 1, 400)
    s = Samples(times, values)
    windows = charts.percentile_per_window(s, T0, 5.0, 50)
    assert [w for w, _ in windows] == [0.0, 5.0, 10.0, 15.0]
    assert all(10 <= v <= 11 for _, v in windows[:2]) and all(20 <= v <= 21 for _, v in windows[2:])
    rules = [
        RuleResult("POST /r", "p95_ms", 50, 21, PASS, "m"),
        RuleResult("POST /r", "failure_ratio", 0.01, 0, PASS, "m"),
    ]
    both_sides = {("candidate", "POST /r"): s, ("baseline", "POST /r"): Samples(times, values * 9)}
    charts.add_latency_windows(rules, both_sides, "candidate", 5.0)
    assert len(rules[0].per_window) == 4 and max(v for _, v in rules[0].per_window) < 22
    assert rules[1].per_window is None


def samples_at(times: list[float]) -> Samples:
    return Samples(T0 + np.array(times, dtype=float), np.ones(len(times)))


def test_failure_ratios_and_request_rates_per_window_from_ok_and_failed_samples():
    """The candidate's requests only; the aggregate pools its entries; a window
    with fewer than MIN_PER_WINDOW requests has no failure ratio."""
    ok = {
        ("candidate", "POST /r"): samples_at([0, 1, 2, 3, 5, 6, 7, 8, 9, 10.5]),
        ("candidate", "GET /r"): samples_at([0.5, 5.5, 6.5, 16]),
        ("baseline", "POST /r"): samples_at([0, 1, 2, 3, 4, 5, 6, 7]),
    }
    failed = {
        ("candidate", "POST /r"): samples_at([4, 9.5]),
        ("baseline", "POST /r"): samples_at([5, 6, 7, 8, 9]),
    }
    rules = [
        RuleResult("POST /r", "failure_ratio", 0.0, 2 / 12, FAIL, "m"),
        RuleResult("Aggregated", "failure_ratio", 0.0, 2 / 16, FAIL, "m"),
        RuleResult("Aggregated", "min_rps", 5, 1.0, FAIL, "m"),
        RuleResult("GET /r", "p95_ms", 100, 1, PASS, "m"),
        RuleResult("DELETE /never", "failure_ratio", 0.0, None, ERROR, "m"),
    ]
    charts.add_outcome_windows(rules, ok, failed, "candidate", 5.0)
    assert rules[0].per_window == [(0.0, 0.2), (5.0, 1 / 6)] and rules[0].window_s == 5.0  # 10-15 s: 1 request
    assert rules[1].per_window == [(0.0, 1 / 6), (5.0, 1 / 8)]
    assert rules[2].per_window == [(0.0, 1.2), (5.0, 1.6), (10.0, 0.2), (15.0, 0.2)]
    assert rules[3].per_window is None and rules[4].per_window is None


def test_no_samples_no_windows():
    rules = [RuleResult("POST /r", "failure_ratio", 0.0, 0.0, PASS, "m")]
    charts.add_outcome_windows(rules, {}, {}, "", 5.0)
    charts.add_latency_windows(rules, {}, "", 5.0)
    assert rules[0].per_window is None


def test_failures_the_samples_do_not_hold_are_not_drawn_as_none():
    """Failures are counted from Locust's stats: samples without them would draw a flat 0."""
    rules = [RuleResult("POST /r", "failure_ratio", 0.0, 0.1, FAIL, "m")]
    charts.add_outcome_windows(rules, {("", "POST /r"): samples_at(list(range(20)))}, {}, "", 5.0)
    assert rules[0].per_window is None


MERMAID = ROOT / "tests" / "mermaid"


def test_mermaid_itself_parses_every_chart_the_summary_draws(tmp_path):
    """Mermaid's own parser (tests/mermaid, installed by .ci/run with npm ci), as GitHub renders the summary."""
    if shutil.which("node") is None or not (MERMAID / "node_modules" / "mermaid").exists():
        pytest.skip("Mermaid's parser is not installed: npm ci --prefix tests/mermaid")
    rate = RuleResult("Aggregated", "min_rps", 20, 15, FAIL, "m", per_window=[(i * 5.0, 15.0) for i in range(9)])
    rules = [
        ratio_rule(),
        ratio_rule(INCONCLUSIVE, n=500, name='GET "/a"\n```|<b>'),
        latency_rule(n=300),
        _with_trials([1.1, 1.2, 1.05]),
        failure_rule(n=75),
        rate,
        slow_rule(),
    ]
    files = []
    for i, rule in enumerate(rules):
        block = charts.chart(rule)
        files.append(tmp_path / f"{i}.mmd")
        files[-1].write_text("\n".join(block[1 : block.index("```", 1)]))
    broken = tmp_path / "broken.mmd"
    broken.write_text(files[0].read_text().replace("]", "", 1))
    proc = subprocess.run(["node", str(MERMAID / "check.mjs"), *map(str, files), str(broken)], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    lines = proc.stdout.splitlines()
    assert lines[:-1] == [f"{f}: ok" for f in files], proc.stdout + proc.stderr
    assert lines[-1].startswith(f"{broken}: Parse error") and proc.returncode == 1
