import csv
import io
import json
import shutil
import xml.etree.ElementTree as ET
from datetime import datetime
from pathlib import Path

import junitparser
import numpy as np
import pytest

from perfgate import check_cli, reporters
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from tests.conftest import FIXTURES, ROOT


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


XSD = ROOT.parent / "shared" / "schemas" / "junit-10.xsd"


def junit_of(tmp_path, case: str) -> Path:
    """junit.xml as perf-check writes it for a passing, failing, inconclusive or no-verdict run."""
    results = tmp_path / case / "results"
    thresholds = tmp_path / case / "t.json"
    loose = {"entries": {"POST /requests": {"p95_ms": 1000}}, "default_failure_ratio": 1}
    compare = []
    if case in ("pass", "fail"):
        shutil.copytree(FIXTURES / "healthy", results)
        shutil.copy(FIXTURES / "thresholds-loose.json", thresholds)
        if case == "fail":
            thresholds.write_text(thresholds.read_text().replace("200", "1"))
    elif case == "inconclusive":
        shutil.copytree(FIXTURES / "compare", results)
        write_side_by_side(results, scale=1.10)
        loose["regression"] = {"entries": {"POST /requests": {"p50": 0.10}}}
        thresholds.write_text(json.dumps(loose))
        compare = ["--compare"]
    else:  # nothing was recorded
        shutil.copytree(FIXTURES / "zero", results)
        thresholds.write_text(json.dumps(loose))
    args = check_cli.build_parser().parse_args(["--results", str(results), "--thresholds", str(thresholds), *compare])
    code = check_cli.run_check(args, {}, io.StringIO(), io.StringIO())
    assert code == {"pass": 0, "fail": 1, "inconclusive": 3, "no-verdict": 3}[case]
    return results / "junit.xml"


@pytest.mark.parametrize("case", ["pass", "fail", "inconclusive", "no-verdict"])
def test_junit_validates_against_jenkins_xunit_schema(tmp_path, case):
    if not XSD.exists():
        pytest.skip(f"{XSD} is absent: the schema is read from beside the project, not copied into it")
    import xmlschema

    path = junit_of(tmp_path, case)
    xmlschema.XMLSchema(str(XSD)).validate(str(path))
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and "disabled" not in root.attrib
    for case_element in root.iter("testcase"):
        assert "." not in case_element.get("classname")
        for detail in [*case_element.iter("failure"), *case_element.iter("error")]:
            assert "\n" not in detail.get("message") and len(detail.get("message")) <= reporters.MESSAGE_CHARS
            assert detail.text and detail.text.startswith(detail.get("message").removesuffix("…"))


def test_junit_suite_has_the_runs_time_and_timestamp(tmp_path):
    path = junit_of(tmp_path, "inconclusive")
    suite = ET.parse(path).getroot().find("testsuite")
    assert float(suite.get("time")) == pytest.approx(60.0)  # the run info's start to stop
    assert suite.get("timestamp").startswith(datetime.fromtimestamp(1_800_000_000).astimezone().isoformat()[:16])


def test_the_schema_check_catches_what_junit_xml_writes_by_itself(tmp_path):
    """disabled="0" is what made junit-xml's own output invalid: the check sees it."""
    if not XSD.exists():
        pytest.skip(f"{XSD} is absent")
    import xmlschema
    from junit_xml import TestCase, TestSuite, to_xml_report_string

    raw = to_xml_report_string([TestSuite("s", [TestCase("c")])])
    assert not xmlschema.XMLSchema(str(XSD)).is_valid(raw)
    assert xmlschema.XMLSchema(str(XSD)).is_valid(reporters._schema_head(raw, 1.0))
