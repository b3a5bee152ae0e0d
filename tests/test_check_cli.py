"""perf-check as a user runs it: files in, exit code and reports out."""

import io
import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from perfgate import check_cli
from tests.conftest import FIXTURES, ROOT


def run_cli(case: str, tmp_path, env=None, extra=(), thresholds=ROOT / "thresholds.json"):
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
    assert "::error title=perf gate - p95 of POST /requests::p95 of POST /requests: 312 ms > limit 100 ms" in out


def test_github_summary_and_output_written_when_set(tmp_path):
    summary, output = tmp_path / "summary", tmp_path / "output"
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(output)}
    code, *_ = run_cli("slow", tmp_path, env=env)
    assert code == 1
    assert "| POST /requests | p95\\_ms | 312 ms | ≤ 100 ms | ❌ fail |" in summary.read_text()
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
    assert code == 3 and "::warning title=perf gate - load generator::" in out


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
