"""perf-check as a user runs it: files in, exit code and reports out."""

import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from perfgate import check_cli, reporters
from perfgate.check import FAIL, RuleResult
from tests.conftest import FIXTURES, ROOT


def run_cli(case: str, tmp_path, env=None, extra=(), thresholds=ROOT / "thresholds.json", results=None):
    if results is None:
        results = tmp_path / "results"
        if (FIXTURES / case).exists():
            shutil.copytree(FIXTURES / case, results)
        else:
            results.mkdir()
    args = check_cli.build_parser().parse_args(["--results", str(results), "--thresholds", str(thresholds), *extra])
    out, err = io.StringIO(), io.StringIO()
    code = check_cli.run_check(args, env or {}, out, err)
    return code, out.getvalue(), err.getvalue(), results


@pytest.mark.parametrize(
    "case, code",
    [
        ("healthy", 0),
        ("slow", 1),
        ("failing", 1),
        ("zero", 3),
        ("na", 3),
        ("truncated", 3),
        ("empty", 3),
        ("missing", 3),
        ("missing_column", 3),
        ("compare", 0),
    ],
)
def test_exit_codes_and_reports_always_written(case, code, tmp_path):
    got, out, err, results = run_cli(case, tmp_path)
    assert got == code, out + err
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["exit_code"] == code
    assert ET.parse(results / "junit.xml").getroot().tag == "testsuites"
    assert (results / "summary.md").read_text().startswith("## Perf gate")
    if code == 3:
        assert err.startswith("Error: ") or verdict["problems"] or "error" in verdict["verdict"]


def test_failure_names_the_rule_in_junit_and_annotations(tmp_path):
    code, out, _, results = run_cli("slow", tmp_path)
    failures = ET.parse(results / "junit.xml").getroot().findall(".//testcase/failure")
    messages = [f.get("message") for f in failures]
    assert "p95 of POST /requests: 312 ms > limit 100 ms" in messages
    # placed on the entry's line in the thresholds file (relative to the workspace), once
    annotation = "::error file=thresholds.json,line=5,title=perf gate - p95 of POST /requests::"
    assert annotation + "p95 of POST /requests: 312 ms > limit 100 ms" in out.splitlines()
    assert out.count("title=perf gate - p95 of POST /requests::") == 1


def test_annotations_of_regressions_sit_under_regression_and_defaults_have_no_place(tmp_path):
    thresholds = tmp_path / "t.json"
    thresholds.write_text(
        '{\n  "entries": {\n    "POST /requests": {"p95_ms": 1}\n  },\n'
        '  "regression": {\n    "entries": {\n      "POST /requests": {"p50": 0.05}\n    }\n  }\n}\n'
    )
    place = reporters.rule_places(thresholds, tmp_path)
    rule = RuleResult("POST /requests", "p50_regression", 0.05, 2, FAIL, "x")
    assert place(rule) == "file=t.json,line=7,"
    assert place(RuleResult("POST /requests", "p95_ms", 1, 2, FAIL, "x")) == "file=t.json,line=3,"
    assert place(RuleResult("GET /x", "failure_ratio", 0.01, 0.5, FAIL, "x", default=True)) == ""
    assert reporters.rule_places(thresholds, tmp_path / "elsewhere")(rule) == ""  # outside the workspace


def test_github_summary_and_output_written_when_set(tmp_path):
    summary, output = tmp_path / "summary", tmp_path / "output"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    code, *_ = run_cli("slow", tmp_path, env=env)
    assert code == 1
    assert "| POST /requests | p95 | 312 ms | ≤ 100 ms | ❌ fail |" in summary.read_text()
    assert "verdict=fail\n" in output.read_text()


def test_bad_thresholds_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text('{"entries": {"POST /requests": {"p95_ms": -1}}}')
    code, out, err, _ = run_cli("healthy", tmp_path, thresholds=bad)
    assert code == 2
    assert err == f'Error: {bad}: $.entries["POST /requests"].p95_ms: -1 is less than or equal to the minimum of 0\n'


def test_overload_option(tmp_path):
    assert run_cli("cpu", tmp_path / "a")[0] == 0
    code, out, *_ = run_cli("cpu", tmp_path / "b", extra=["--fail-on-overload"])
    assert code == 3 and "::warning title=perf gate - warning::the load generator's CPU went above 90%25" in out


def test_installed_command_runs(tmp_path):
    shutil.copytree(FIXTURES / "slow", tmp_path / "results")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "perfgate.check_cli",
            "--results",
            str(tmp_path / "results"),
            "--thresholds",
            str(ROOT / "thresholds.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr


def _edit_stats(results, old: str, new: str) -> None:
    path = results / "locust_stats.csv"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _duplicate_post_row(results) -> None:
    path = results / "locust_stats.csv"
    lines = path.read_text().splitlines(keepends=True)
    failing = lines[1].replace(",1030,0,", ",1030,1030,")  # a failing POST row first, the clean one after it
    path.write_text(lines[0] + failing + "".join(lines[1:]))


def _append_raw(results, line: str) -> None:
    with (results / "locust_raw.csv").open("a") as f:
        f.write(line + "\n")


def _write(name: str, data: bytes):
    return lambda results: (results / name).write_bytes(data)


POST = "POST,/requests,1030,0,"
BROKEN_STATS = {
    "negative failure count": (lambda r: _edit_stats(r, POST, "POST,/requests,1030,-5,"), ":2: counts must be"),
    "more failures than requests": (lambda r: _edit_stats(r, POST, "POST,/requests,1030,2000,"), ":2: 2000 failures"),
    "a duplicated entry row": (_duplicate_post_row, ":3: 'POST /requests' again (first on line 2)"),
    "aggregate not the sum": (lambda r: _edit_stats(r, ",Aggregated,6895,", ",Aggregated,9999,"), ":5: the Aggregated"),
    "infinite average": (lambda r: _edit_stats(r, "5.155033655935941", "inf"), ":3, column 'Average Response Time'"),
    "decreasing percentiles": (lambda r: _edit_stats(r, ",6,7,8,9,12,17,", ",6,7,8,9,12,1,"), ":2: percentiles"),
}
BROKEN_EVIDENCE = {
    "run info a list": (_write("locust_run_info.json", b"[1, 2]"), "expected a JSON object, got list"),
    "run info a number": (_write("locust_run_info.json", b"42"), "expected a JSON object, got int"),
    "run info garbage": (_write("locust_run_info.json", b"\x00\xff"), "locust_run_info.json: unreadable"),
    "run info time inf": (_write("locust_run_info.json", b'{"start_time": 1e999}'), "start_time must be a number"),
    "raw samples binary": (_write("locust_raw.csv", b"\x89PNG\r\n\x1a\n\x00\xff"), "locust_raw.csv:1: not UTF-8"),
    "raw samples time inf": (lambda r: _append_raw(r, "inf,POST,/requests,5.0,1"), "time 'inf' is not a Unix time"),
    "raw samples time 0": (lambda r: _append_raw(r, "0,POST,/requests,5.0,1"), "time '0' is not a Unix time"),
    "raw samples negative time": (lambda r: _append_raw(r, "1800000005,POST,/requests,-3,1"), "response_time_ms '-3'"),
    "raw samples NUL": (lambda r: _append_raw(r, "1800000005,PO\x00ST,/requests,3,1"), "a control character"),
    "raw samples years apart": (lambda r: _append_raw(r, "9000000000,POST,/requests,3,1"), "more than one run's"),
}


@pytest.mark.parametrize(
    "fixture, case, breaks, where",
    [("healthy", case, *b) for case, b in BROKEN_STATS.items()]
    + [(fixture, case, *b) for fixture in ("healthy", "compare") for case, b in BROKEN_EVIDENCE.items()],
)
def test_impossible_or_broken_results_are_no_verdict_naming_the_file(fixture, case, breaks, where, tmp_path):
    results = tmp_path / "results"
    shutil.copytree(FIXTURES / fixture, results)
    breaks(results)
    extra = ["--compare"] if fixture == "compare" else []
    code, out, err, _ = run_cli("", tmp_path, extra=extra, results=results)
    assert code == 3, out + err
    assert where in err and "Traceback" not in out + err
    verdict = json.loads((results / "verdict.json").read_text())
    assert verdict["verdict"] == "error" and verdict["exit_code"] == 3
    assert ET.parse(results / "junit.xml").getroot().find(".//testcase/error") is not None


def test_an_unexpected_crash_is_exit_3_with_the_traceback_saved(tmp_path, monkeypatch):
    def explode(*args, **kw):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(check_cli, "check", explode)
    code, out, err, results = run_cli("healthy", tmp_path)
    assert code == 3
    assert "internal error, no verdict: ZeroDivisionError: division by zero" in err
    assert "Traceback" not in out + err
    assert "ZeroDivisionError" in (results / "perf-gate-traceback.txt").read_text()
    assert json.loads((results / "verdict.json").read_text())["exit_code"] == 3


def test_usage_error_of_the_checker_is_reported_too(tmp_path, monkeypatch, capsys):
    output = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.chdir(tmp_path)
    assert check_cli.main(["--no-such-flag"]) == 2
    assert "verdict=error\n" in output.read_text()
    assert (tmp_path / "results" / "junit.xml").exists()
    assert "Traceback" not in capsys.readouterr().err


def test_a_sequential_run_s_looks_widen_the_interval(tmp_path):
    from tests.test_reporters import write_side_by_side

    widths = {}
    for looks in ("1", "3,4,5,6"):
        results = tmp_path / looks.replace(",", "-")
        shutil.copytree(FIXTURES / "compare", results)
        write_side_by_side(results, scale=1.0)
        thresholds = tmp_path / "t.json"
        rules = {"entries": {"POST /requests": {"p95_ms": 1000}}, "default_failure_ratio": 1}
        thresholds.write_text(json.dumps({**rules, "regression": {"entries": {"POST /requests": {"p50": 0.10}}}}))
        args = check_cli.build_parser().parse_args(
            ["--results", str(results), "--thresholds", str(thresholds), "--compare", "--looks", looks]
        )
        check_cli.run_check(args, {}, io.StringIO(), io.StringIO())
        [rule] = [
            r for r in json.loads((results / "verdict.json").read_text())["results"] if "regression" in r["metric"]
        ]
        widths[looks] = rule["interval"][1] - rule["interval"][0]
    assert widths["3,4,5,6"] > widths["1"]


def test_looks_that_are_no_trial_counts_are_a_usage_error(tmp_path, capsys):
    for looks, expected in (("3,x", "trial counts like"), ("5,4", "increasing"), ("0", "increasing")):
        assert check_cli.main(["--results", str(tmp_path), "--looks", looks]) == 2
        err = capsys.readouterr().err
        assert expected in err and "Traceback" not in err and "internal error" not in err
        assert expected in (tmp_path / "summary.md").read_text()  # reported where --results says
