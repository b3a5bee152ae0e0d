"""The Markdown summary, rendered as GitHub would (CommonMark with tables)."""

import io
import re

import numpy as np
from markdown_it import MarkdownIt

from perfgate import charts, summary
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from perfgate.compare import Comparison, judge_comparison
from perfgate.context import RunContext
from perfgate.samples import Samples
from perfgate.thresholds import RegressionRule

T0 = 1_800_000_000.0


def rule(entry: str, metric: str, status: str, **kw) -> RuleResult:
    return RuleResult(entry, metric, kw.pop("limit", 100), kw.pop("measured", 50), status, f"{entry} {status}", **kw)


def mixed() -> Verdict:
    return Verdict(
        results=[
            rule("GET /a|b<c>", "p50_ms", PASS),
            rule("POST /requests", "p95_ms", FAIL, limit=250, measured=312),
            rule("GET /x", "failure_ratio", PASS, limit=0.01, measured=0.0, default=True),
            rule("ASYNC x", "p95_regression", PASS, limit=0.1, measured=101.0, baseline=100.0, interval=(0.98, 1.03)),
            rule("POST /requests", "p50_regression", FAIL, limit=0.05, measured=123, baseline=100, interval=(1.2, 1.3)),
            rule("GET /y", "p95_regression", INCONCLUSIVE, limit=0.1, measured=110, baseline=100, interval=(0.9, 1.3)),
        ],
        warnings=["CPU 95%"],
        context=RunContext(
            users=20,
            spawn_rate=10,
            duration_s=60.2,
            backend="embedded",
            candidate="a" * 40,
            baseline="b" * 40,
            cpus=2,
            placement="Locust on CPU 0, the services on CPU 1",
            max_cpu_percent=41.0,
        ),
    )


def render(verdict: Verdict):
    md = MarkdownIt("commonmark").enable("table")
    text = "\n".join(summary.markdown_lines(verdict))
    return md.parse(text), md.render(text), text


def headings(tokens) -> list[tuple[str, str]]:
    return [(t.tag, tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"]


def table_rows(tokens) -> list[list[str]]:
    """Each table's body rows as lists of cell texts."""
    rows, row, in_body = [], None, False
    for i, t in enumerate(tokens):
        if t.type == "tbody_open":
            in_body = True
        elif t.type == "tbody_close":
            in_body = False
        elif in_body and t.type == "tr_open":
            row = []
        elif in_body and t.type == "td_open":
            row.append(tokens[i + 1].content)
        elif in_body and t.type == "tr_close":
            rows.append(row)
    return rows


def test_the_verdict_is_the_first_and_only_top_level_heading_with_one_line_under_it():
    tokens, html, text = render(mixed())
    found = headings(tokens)
    assert found[0] == ("h2", "Perf gate: ❌ fail")
    assert all(tag not in ("h1", "h2") for tag, _ in found[1:]), found
    under = text.split("\n")[2]
    assert under.startswith("**2 of 6 rules failed** · 1 inconclusive · worst regression: p50 regression of POST")
    assert "×1.230 (interval 1.200–1.300, tolerated ≤ ×1.05)" in under


def test_failures_come_first_and_metric_names_match_junit():
    tokens, _, _ = render(mixed())
    rows = table_rows(tokens)
    compared = [r for r in rows if len(r) == 8]
    absolute = [r for r in rows if len(r) == 5]
    assert [r[-1] for r in compared] == ["❌ fail", "⚠️ inconclusive", "✅ pass"]
    assert [r[-1] for r in absolute] == ["❌ fail", "✅ pass", "✅ pass"]
    assert [r[1] for r in absolute] == ["p95", "p50", "failure ratio"]  # as in "p95 of POST /requests"
    assert compared[0][1] == "p50 regression"


def test_run_context_is_one_line():
    _, _, text = render(mixed())
    expected = (
        "20 users, 10/s, 60 s · embedded backend · candidate `aaaaaaaaaaaa` vs baseline `bbbbbbbbbbbb`"
        " · 2 CPUs · Locust on CPU 0, the services on CPU 1 · Locust CPU peak 41%"
    )
    assert expected in text.splitlines()


def test_a_pass_says_so_with_the_largest_ratio():
    verdict = Verdict(
        results=[rule("A", "p50_regression", PASS, limit=0.05, measured=99, baseline=100, interval=(0.97, 1.01))]
    )
    _, _, text = render(verdict)
    assert (
        text.splitlines()[2] == "**all 1 rules passed** · largest ratio: p50 regression of A ×0.990 "
        "(interval 0.970–1.010, tolerated ≤ ×1.05)"
    )


def test_inconclusive_and_no_verdict_headlines():
    inconclusive = Verdict(
        results=[
            rule("A", "p50_regression", INCONCLUSIVE, baseline=100, interval=(0.9, 1.2)),
            rule("B", "p50_ms", PASS),
        ]
    )
    assert summary.headline(inconclusive).startswith("**1 of 2 rules inconclusive**, none failed")
    broken = Verdict(problems=["docker compose up failed (1): port is already allocated\nlog line"])
    assert summary.headline(broken) == "**no verdict**: docker compose up failed (1): port is already allocated"
    assert summary.headline(Verdict(results=[rule("A", "p50_ms", ERROR)])) == "**1 of 1 rules could not be judged**"


def test_names_from_results_are_escaped():
    _, html, text = render(mixed())
    assert "GET /a\\|b\\<c\\>" in text and "<c>" not in html


def test_multi_line_problems_keep_log_lines_out_of_the_markdown():
    """A backend's log under a problem renders as text, never as headings, lists or rules."""
    log = "\n".join(
        ["pg_ctl: could not start server", "# not a heading", "- not a list", "---", "1. nor this", "``` nor a fence"]
    )
    verdict = Verdict(problems=[f"docker compose up failed (1): port 8000 is already allocated\n{log}"])
    tokens, html, _ = render(verdict)
    assert "<blockquote>" in html and "port 8000 is already allocated" in html.split("</blockquote>")[0]
    for tag in ("<h1>", "<h3>", "<ul>", "<ol>", "<hr />"):
        assert tag not in html, html
    [code] = [t for t in tokens if t.type == "fence"]
    assert code.content.splitlines() == log.splitlines()


def test_a_threshold_failure_names_the_rule_furthest_over_its_limit():
    verdict = Verdict(
        results=[
            rule("POST /requests", "p95_ms", FAIL, limit=100, measured=160),
            rule("GET /x", "p95_ms", FAIL, limit=100, measured=310),
            rule("Aggregated", "min_rps", FAIL, limit=20, measured=15),
        ]
    )
    assert (
        summary.headline(verdict)
        == "**3 of 3 rules failed** · furthest over its limit: p95 of GET /x 310 ms (≤ 100 ms)"
    )


def test_the_ratio_shown_is_the_one_judged():
    """Over trials the judged ratio is the trials' geometric mean, not the pooled percentiles' ratio."""
    r = rule(
        "GET /y", "p95_regression", PASS, limit=0.03, measured=105, baseline=100, interval=(0.99, 1.02), ratio=1.004
    )
    tokens, _, _ = render(Verdict(results=[r]))
    [row] = table_rows(tokens)
    assert "1.004" in row and "1.050" not in row


def summary_md(verdict: Verdict, tmp_path) -> str:
    """summary.md as the checker writes it."""
    text = io.StringIO()
    summary.markdown(verdict, text)
    (tmp_path / "summary.md").write_text(text.getvalue(), encoding="utf-8")
    return (tmp_path / "summary.md").read_text(encoding="utf-8")


def section(text: str, heading: str) -> str:
    """From a ### heading to the next."""
    return text.split(f"### {heading}\n", 1)[1].split("\n### ", 1)[0]


NOT_ENOUGH = "only 1 window(s) of 5s with 20+ samples on both sides; need 5: run longer"
ADVICE = (
    "about 14 trials of 30 s (~7.0 min of load) would decide (--max-run-time adds trials while a rule is undecided)"
)


def undecided() -> Verdict:
    return Verdict(
        results=[
            rule(
                "POST /requests", "p50_regression", PASS, limit=0.07, measured=99, baseline=100, interval=(0.97, 1.02)
            ),
            RuleResult("ASYNC x", "p50_regression", 0.07, None, ERROR, f"p50 of ASYNC x: {NOT_ENOUGH}"),
            rule(
                "GET /y",
                "p95_regression",
                INCONCLUSIVE,
                limit=0.07,
                measured=105,
                baseline=100,
                interval=(0.99, 1.09),
                advice=ADVICE,
            ),
            RuleResult("GET /x", "p95_ms", 100, None, ERROR, "p95 of GET /x: not measured (N/A)"),
            rule("GET /x", "p50_ms", PASS),
        ]
    )


def test_why_a_rule_was_not_judged_or_not_decided_is_right_under_its_table(tmp_path):
    text = summary_md(undecided(), tmp_path)
    against, thresholds = section(text, "Against the baseline"), section(text, "Thresholds")
    tokens = MarkdownIt("commonmark").enable("table").parse(against)
    unjudged = next(row for row in table_rows(tokens) if row[0] == "ASYNC x")
    assert unjudged == ["ASYNC x", "p50 regression", "—", "—", "—", "—", "≤ ×1.07", "⛔ error"]
    assert f"- p50 of ASYNC x: {NOT_ENOUGH}" in against.splitlines()
    assert (
        "- p95 regression of GET /y: not decided, ×1.050 (interval 0.990–1.090, tolerated ≤ ×1.07); " + ADVICE
    ) in against.splitlines()
    assert "- p95 of GET /x: not measured (N/A)" in thresholds.splitlines()
    assert [line[:12] for line in against.splitlines() if line.startswith("- ")] == ["- p50 of ASY", "- p95 regres"]


def test_an_inconclusive_rule_without_advice_still_says_why():
    verdict = Verdict(results=[rule("GET /y", "p95_regression", INCONCLUSIVE, baseline=100, interval=(0.9, 1.3))])
    assert "- GET /y inconclusive" in summary.markdown_lines(verdict)


def test_the_headline_on_a_fail_names_a_rule_that_failed():
    """Seen: '1 of 21 rules failed · largest ratio: p95 regression ... ×1.036' while the p50 had failed."""
    passing = [rule(f"GET /{i}", "p95_ms", PASS) for i in range(19)]
    p50 = rule("ASYNC s", "p50_regression", FAIL, limit=0.02, baseline=100, interval=(1.021, 1.040), ratio=1.030)
    p95 = rule("ASYNC s", "p95_regression", PASS, limit=0.07, baseline=100, interval=(1.0, 1.069), ratio=1.036)
    assert summary.headline(Verdict(results=[*passing, p95, p50])) == (
        "**1 of 21 rules failed** · worst regression: p50 regression of ASYNC s ×1.030 "
        "(interval 1.021–1.040, tolerated ≤ ×1.02)"
    )
    failures = rule("POST /r", "failure_ratio", FAIL, limit=0.0, measured=0.02)
    line = summary.headline(Verdict(results=[p95, failures, *passing]))
    assert line == "**1 of 21 rules failed** · over its limit: failure ratio of POST /r 2.00% (≤ 0.00%)"
    few = rule("Aggregated", "min_requests", FAIL, limit=100, measured=40)
    assert "furthest over its limit: failure ratio of POST /r" in summary.headline(Verdict(results=[few, failures]))


def test_an_undecided_run_names_the_rule_that_is_undecided():
    verdict = undecided()
    assert summary.headline(verdict).endswith(
        "undecided: p95 regression of GET /y ×1.050 (interval 0.990–1.090, tolerated ≤ ×1.07)"
    )


def test_tolerances_read_the_same_in_every_place(tmp_path):
    verdict = mixed()
    verdict.results[4].per_window = [(5.0, 1.2), (10.0, 1.3)]
    verdict.results[5].trial_ratios = [1.0, 1.2, 1.1]
    text = summary_md(verdict, tmp_path)
    said = re.findall(r"tolerated:? ([^|\s]\S* \S+)", text)  # not the table's header
    assert len(said) >= 3 and all(re.fullmatch(r"≤ ×1\.\d\d\d?[;,).]?", t) for t in said), said
    rows = [row for row in table_rows(render(verdict)[0]) if len(row) == 8]
    assert [row[6] for row in rows] == ["≤ ×1.05", "≤ ×1.10", "≤ ×1.10"]
    assert "+5%" not in text and "+10%" not in text and "≤ 0.05" not in text and "tolerated ×" not in text


def budget(trials: int, most: int) -> RunContext:
    return RunContext(users=20, run_time_s=270, trials=trials, max_trials=most)


def test_a_spent_trial_budget_is_said_with_how_to_give_more():
    verdict = undecided()
    verdict.context = budget(9, 9)
    text = "\n".join(summary.markdown_lines(verdict))
    note = next(line for line in text.splitlines() if line.startswith("**Trial budget spent:**"))
    assert "all 9 trials its budget allowed, and 1 rule is still undecided" in note and "`--max-run-time`" in note
    assert text.index(note) < text.index("### Thresholds")  # under the comparison's table
    for ctx in (budget(4, 10), None, RunContext(users=20)):
        verdict.context = ctx
        assert "Trial budget" not in "\n".join(summary.markdown_lines(verdict))
    decided = mixed()
    decided.results = [r for r in decided.results if r.status != INCONCLUSIVE]
    decided.context = budget(9, 9)
    assert "Trial budget" not in "\n".join(summary.markdown_lines(decided))


def test_a_failure_ratio_failure_draws_a_failure_ratio_chart(tmp_path):
    rng = np.random.default_rng(2)
    times = np.sort(rng.uniform(T0, T0 + 60, 600))
    failed = np.sort(rng.uniform(T0 + 20, T0 + 30, 30))
    ok = {("", "POST /r"): Samples(times, rng.uniform(10, 20, 600))}
    results = [
        RuleResult("POST /r", "failure_ratio", 0.0, 30 / 630, FAIL, "failure ratio of POST /r: 4.76% > limit 0.00%"),
        RuleResult("POST /r", "p99_ms", 250, 20, PASS, "p99 of POST /r: 20 ms <= limit 250 ms"),
    ]
    charts.add_latency_windows(results, ok, "", 5.0)
    charts.add_outcome_windows(results, ok, {("", "POST /r"): Samples(failed, np.ones(30))}, "", 5.0)
    drawn = section(summary_md(Verdict(results=results), tmp_path), "Over time")
    assert drawn.count("```mermaid") == 1
    assert 'title "failure ratio of POST /r per 5 s window"' in drawn and "p99" not in drawn


def test_a_comparison_over_trials_reports_its_trials_and_what_would_decide():
    rule_ = RegressionRule("GET /y", 95, 0.07)
    c = Comparison("GET /y", 95, 100.0, 104.0, 1.04, 0.99, 1.09, 40, 0.02, trials=5, method="trials", trial_s=30.0,
                   trial_ratios=[1.0, 1.1, 1.02, 1.06, 1.03])  # fmt: skip
    r = judge_comparison(c, rule_, 5.0, 0.9)
    assert r.status == INCONCLUSIVE and r.trial_ratios == [1.0, 1.1, 1.02, 1.06, 1.03]
    assert r.advice and r.advice.startswith("about ") and r.advice in r.message
    text = "\n".join(summary.markdown_lines(Verdict(results=[r])))
    assert f"not decided, ×1.040 (interval 0.990–1.090, tolerated ≤ ×1.07); {r.advice}" in text.replace("\\", "")
    assert 'x-axis "trial" 1 --> 5' in text and "per trial" in text
    windows = judge_comparison(Comparison("GET /y", 95, 100.0, 104.0, 1.04, 0.99, 1.09, 40, 0.02), rule_, 5.0, 0.9)
    assert windows.trial_ratios is None and windows.advice
    decided = judge_comparison(Comparison("GET /y", 95, 100.0, 101.0, 1.01, 0.98, 1.03, 40, 0.02), rule_, 5.0, 0.9)
    assert decided.status == PASS and decided.advice is None


def test_what_each_side_spent_is_a_table_and_resource_rules_show_their_units():
    from perfgate.check import SideUse

    cpu = rule(
        "the service", "cpu_per_request_regression", FAIL, limit=0.03, measured=1.234, baseline=1.1,
        interval=(1.08, 1.16), ratio=1.12,
    )  # fmt: skip
    memory = rule("the service", "peak_memory_regression", PASS, limit=0.05, measured=155.2, baseline=155.3)
    verdict = Verdict(
        results=[cpu, memory],
        resources=[
            SideUse("baseline", "proc", 1.1, 155.3, 9998, 4),
            SideUse("candidate", "cgroup", 1.234, 155.2, 9946, 4),
        ],
    )
    tokens, _, text = render(verdict)
    assert ("h3", "What the service spent") in headings(tokens)
    rows = table_rows(tokens)
    assert [
        "the service",
        "CPU per request regression",
        "1.10 ms",
        "1.23 ms",
        "1.120",
        "1.080 – 1.160",
        "≤ ×1.03",
        "❌ fail",
    ] in rows
    assert ["the service", "peak memory regression", "155.3 MB", "155.2 MB"] == rows[1][:4]
    assert ["baseline", "1.10 ms", "155.3 MB", "9998", "4", "process tree"] in rows
    assert ["candidate", "1.23 ms", "155.2 MB", "9946", "4", "containers' cgroups"] in rows
    assert "worst regression: CPU per request regression of the service ×1.120" in text


def test_a_run_without_readings_has_no_spending_table():
    _, _, text = render(mixed())
    assert "What the service spent" not in text
