"""The Markdown summary, rendered as GitHub would (CommonMark with tables)."""

from markdown_it import MarkdownIt

from perfgate import summary
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from perfgate.context import RunContext


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
    assert "×1.230 (interval 1.200–1.300, tolerated ×1.05)" in under


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
        text.splitlines()[2]
        == "**all 1 rules passed** · largest ratio: p50 regression of A ×0.990 (interval 0.970–1.010, tolerated ×1.05)"
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
