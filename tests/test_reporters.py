import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET

import junitparser
import numpy as np

from perfgate import check_cli, reporters
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from tests.conftest import FIXTURES


def verdict() -> Verdict:
    return Verdict(
        results=[
            RuleResult("POST /requests", "p95_ms", 250, 312, FAIL, "p95 of POST /requests: 312 ms > limit 250 ms"),
            RuleResult("GET /a|b<c>", "p50_ms", 10, 5, PASS, "p50 of GET /a|b<c>: 5 ms <= limit 10 ms"),
            RuleResult(
                "ASYNC x",
                "p95_regression",
                0.1,
                110.04,
                INCONCLUSIVE,
                "p95 of ASYNC x: inconclusive",
                baseline=100,
                interval=(0.95, 1.25),
            ),
        ],
        warnings=["CPU 95%"],
    )


def test_junit_one_case_per_rule_with_failure_message():
    stream = io.StringIO()
    reporters.junit(verdict(), stream)
    root = ET.fromstring(stream.getvalue())
    cases = root.findall(".//testcase")
    assert [c.get("name") for c in cases] == [
        "p95 of POST /requests",
        "p50 of GET /a|b<c>",
        "p95 regression of ASYNC x",
    ]
    assert cases[0].find("failure").get("message") == "p95 of POST /requests: 312 ms > limit 250 ms"
    assert cases[1].find("failure") is None
    inconclusive = cases[2].find("error")
    assert cases[2].find("skipped") is None and inconclusive.get("type") == "inconclusive"
    assert inconclusive.get("message") == "inconclusive, not a regression: p95 of ASYNC x: inconclusive"


def test_junit_problem_is_an_error_case():
    stream = io.StringIO()
    reporters.junit(Verdict(problems=["zero requests recorded"]), stream)
    root = ET.fromstring(stream.getvalue())
    assert root.find(".//testcase/error").get("message") == "zero requests recorded"


def test_markdown_escapes_names_and_shows_both_tables():
    lines = reporters.markdown_lines(verdict())
    text = "\n".join(lines)
    assert lines[0] == "## Perf gate: ❌ fail"
    assert "GET /a\\|b\\<c\\>" in text
    assert "| POST /requests | p95\\_ms | 312 ms | ≤ 250 ms | ❌ fail |" in text
    assert "| ASYNC x | p95 | 100.0 ms | 110.0 ms | 1.100 | 0.950 – 1.250 | +10% | ❔ inconclusive |" in text
    assert "> **Warning:** CPU 95%" in text


def test_annotations_escape_workflow_command_data():
    v = Verdict(results=[RuleResult("GET /x", "p95_ms", 1, 2, FAIL, "50% slower\nsee: log")], problems=["none ran"])
    stream = io.StringIO()
    reporters.annotations(v, stream)
    assert stream.getvalue().splitlines() == [
        "::error title=perf gate - p95 of GET /x::50%25 slower%0Asee: log",
        "::error title=perf gate - no verdict::none ran",
    ]


def test_verdict_json_is_machine_readable():
    stream = io.StringIO()
    reporters.verdict_json(verdict(), stream)
    data = json.loads(stream.getvalue())
    assert data["verdict"] == FAIL and data["exit_code"] == 1
    assert data["results"][0]["measured"] == 312 and data["results"][0]["name"] == "p95 of POST /requests"
    assert data["results"][2]["interval"] == [0.95, 1.25]


def test_write_all(tmp_path):
    written = reporters.write_all(Verdict(problems=["x"]), tmp_path / "out")
    assert sorted(p.name for p in written) == ["junit.xml", "summary.md", "verdict.json"]
    assert json.loads((tmp_path / "out" / "verdict.json").read_text())["verdict"] == ERROR


def write_side_by_side(results, scale: float, seed: int = 5) -> None:
    """60 s of POSTs on both sides, the candidate `scale` times slower, with run info."""
    rng = np.random.default_rng(seed)
    t0 = 1_800_000_000.0
    with (results / "locust_raw.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "type", "name", "response_time_ms", "ok"])
        for label, factor in (("baseline", 1.0), ("candidate", scale)):
            for t in np.sort(rng.uniform(t0, t0 + 60, 3000)):
                w.writerow(
                    [f"{t:.4f}", "POST", f"[{label}] /requests", f"{20 * factor * rng.lognormal(0, 0.5):.3f}", 1]
                )
    info = {"start_time": t0, "spawning_complete_time": t0, "stop_time": t0 + 60}
    (results / "locust_run_info.json").write_text(json.dumps(info))


def test_an_inconclusive_comparison_is_not_passed_for_a_real_junit_parser(tmp_path):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / "compare", results)
    write_side_by_side(results, scale=1.10)
    thresholds = tmp_path / "t.json"
    thresholds.write_text(
        json.dumps(
            {
                "entries": {"POST /requests": {"p95_ms": 1000}},
                "regression": {"entries": {"POST /requests": {"p50": 0.10}}},
                "default_failure_ratio": 1,
            }
        )
    )
    args = check_cli.build_parser().parse_args(
        ["--results", str(results), "--thresholds", str(thresholds), "--compare"]
    )
    assert check_cli.run_check(args, {}, io.StringIO(), io.StringIO()) == 3
    assert json.loads((results / "verdict.json").read_text())["verdict"] == "inconclusive"
    xml = junitparser.JUnitXml.fromfile(str(results / "junit.xml"))
    cases = {case.name: case for suite in xml for case in suite}
    inconclusive = cases["p50 regression of POST /requests"]
    assert not inconclusive.is_passed and not inconclusive.is_skipped
    [result] = inconclusive.result
    assert isinstance(result, junitparser.Error) and result.message.startswith("inconclusive, not a regression: ")
    assert cases["p95 of POST /requests"].is_passed
    suite = next(iter(xml))
    assert suite.errors >= 1 and suite.skipped == 0


def test_a_configuration_error_is_an_error_case_naming_the_place(tmp_path):
    stream = io.StringIO()
    reporters.junit(Verdict(config_errors=['t.json: $.entries["GET /x"].p95_ms: NaN is not a finite number']), stream)
    path = tmp_path / "junit.xml"
    path.write_text(stream.getvalue())
    [case] = [case for suite in junitparser.JUnitXml.fromfile(str(path)) for case in suite]
    assert case.name == "configuration" and not case.is_passed
    assert case.result[0].message == 't.json: $.entries["GET /x"].p95_ms: NaN is not a finite number'


def test_multi_line_problems_keep_log_lines_out_of_the_markdown():
    """A backend's log under a problem renders as text, never as headings, lists or rules."""
    from markdown_it import MarkdownIt

    log = "\n".join(
        ["pg_ctl: could not start server", "# not a heading", "- not a list", "---", "1. nor this", "``` nor a fence"]
    )
    verdict = Verdict(problems=[f"docker compose up failed (1): port 8000 is already allocated\n{log}"])
    html = MarkdownIt("commonmark").render("\n".join(reporters.markdown_lines(verdict)))
    assert "<blockquote>" in html and "port 8000 is already allocated" in html.split("</blockquote>")[0]
    for tag in ("<h1>", "<ul>", "<ol>", "<hr />"):
        assert tag not in html, html
    code = html.split("<code>")[1].split("</code>")[0]
    assert code.splitlines() == log.splitlines()
