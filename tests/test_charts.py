"""Mermaid charts for the summary: what is drawn, its axes, and what is chosen."""

import re
import shutil
import subprocess

import numpy as np
import pytest

from perfgate import charts
from perfgate.check import FAIL, INCONCLUSIVE, PASS, RuleResult
from perfgate.samples import Samples
from tests.conftest import ROOT

T0 = 1_800_000_000.0


def ratio_rule(status=FAIL, n=12, name="POST /requests", value=1.1) -> RuleResult:
    return RuleResult(
        name, "p50_regression", 0.05, 110.0, status, "m", baseline=100.0, interval=(1.06, 1.13),
        per_window=[(5.0 * (i + 1), value + 0.01 * (i % 3)) for i in range(n)], window_s=5.0,
    )  # fmt: skip


def parse(block: list[str]) -> dict:
    text = "\n".join(block)
    y = re.search(r'y-axis "[^"]*" ([\d.]+) --> ([\d.]+)', text)
    xs = re.search(r"x-axis \"[^\"]*\" \[([^\]]*)\]", text)[1].split(", ")
    lines = [[float(v) for v in m.split(", ")] for m in re.findall(r"line \[([^\]]*)\]", text)]
    return {"low": float(y[1]), "high": float(y[2]), "xs": xs, "lines": lines, "text": text}


def test_a_ratio_chart_has_the_ratio_the_tolerance_and_the_interval_on_an_honest_axis():
    block = charts.chart(ratio_rule())
    assert block[0] == "```mermaid" and "xychart-beta" in block
    chart = parse(block[: block.index("```", 1) + 1])
    ratio, tolerated, low, high = chart["lines"]
    assert len(chart["xs"]) == len(ratio) == 12 and set(tolerated) == {1.05}
    assert set(low) == {1.06} and set(high) == {1.13}
    assert chart["low"] <= 0.8 and chart["high"] >= 1.2  # a 3% wobble cannot fill the chart
    assert block[-1].startswith("Red: the ratio in each window; grey: tolerated ×1.05; blue:")


def test_a_latency_chart_starts_at_zero_with_the_limit():
    rule = RuleResult("GET /x", "p95_ms", 100, 130, FAIL, "m", per_window=[(0, 90.0), (5, 130.0)], window_s=5)
    chart = parse(charts.chart(rule))
    assert chart["low"] == 0 and chart["high"] >= 130
    assert chart["lines"] == [[90.0, 130.0], [100.0, 100.0]]


def test_names_cannot_break_the_chart_or_its_fence():
    block = charts.chart(ratio_rule(name='GET "/a"\n```\n/b'))
    title = next(line for line in block if line.strip().startswith("title"))
    assert title.count('"') == 2 and "```" not in title and "\n" not in title


def test_a_long_run_is_averaged_to_a_readable_number_of_points():
    chart = parse(charts.chart(ratio_rule(n=500)))
    assert len(chart["xs"]) <= charts.MAX_POINTS and len(chart["lines"][0]) == len(chart["xs"])


def test_rules_that_did_not_pass_are_drawn_else_the_closest_to_its_limit():
    failing = [ratio_rule(FAIL, name=f"E{i}") for i in range(5)]
    drawn = charts.charts([ratio_rule(PASS, name="P"), *failing])
    assert "\n".join(drawn).count("```mermaid") == charts.MAX_CHARTS and 'title "p50 regression of P' not in "\n".join(
        drawn
    )
    near = ratio_rule(PASS, name="near")
    near.interval = (1.0, 1.049)
    far = ratio_rule(PASS, name="far")
    far.interval = (0.95, 1.0)
    text = "\n".join(charts.charts([far, near, ratio_rule(INCONCLUSIVE, n=1)]))
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


MERMAID = ROOT / "tests" / "mermaid"


def test_mermaid_itself_parses_every_chart_the_summary_draws(tmp_path):
    """Mermaid's own parser (tests/mermaid, installed by .ci/run with npm ci), as GitHub renders the summary."""
    if shutil.which("node") is None or not (MERMAID / "node_modules" / "mermaid").exists():
        pytest.skip("Mermaid's parser is not installed: npm ci --prefix tests/mermaid")
    latency = RuleResult("GET /x", "p95_ms", 100, 130, FAIL, "m", per_window=[(0, 90.0), (5, 130.0)], window_s=5)
    rules = [ratio_rule(), ratio_rule(INCONCLUSIVE, n=500, name='GET "/a"\n```|<b>'), latency]
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
