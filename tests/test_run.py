"""perf-gate's own decisions that need no load run: usage errors and a backend that never gets healthy."""

import json
import os
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from perfgate import gate_options, run
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from tests.conftest import ROOT


def gate(*args: str, cwd=ROOT, timeout=120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perfgate.run", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--users", "0"], "expected a whole number from 1 to 100000, got '0'"),
        (["--users", "many"], "expected a whole number from 1 to 100000, got 'many'"),
        (["--backend-env", "NOEQUALS"], "expected KEY=VALUE"),
        (["--backend", "kubernetes"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(args, message, tmp_path):
    proc = gate(*args, "--results", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert message in proc.stderr


def test_bad_thresholds_fail_before_anything_starts(tmp_path):
    bad = tmp_path / "t.json"
    bad.write_text("{")
    proc = gate("--thresholds", str(bad), "--results", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("==> ") is False and f"Error: {bad}:1:2: invalid JSON" in proc.stderr


def test_backend_never_healthy_exits_3_with_reports(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = gate("--host", f"http://127.0.0.1:{port}", "--health-timeout", "1", "--results", str(tmp_path / "r"))
    assert proc.returncode == 3, proc.stderr
    assert "not healthy after 1s" in proc.stderr
    assert json.loads((tmp_path / "r" / "verdict.json").read_text())["verdict"] == "error"


def test_locust_command_passes_only_what_was_given(tmp_path):
    args = gate_options.build_parser().parse_args(["--users", "5", "--results", str(tmp_path)])
    cmd = run.locust_command(args, "http://h:1", exclude_ramp_up=True)
    assert cmd[cmd.index("--users") + 1] == "5"
    assert "--run-time" not in cmd and "--spawn-rate" not in cmd  # locust.conf holds the defaults
    assert "--reset-stats" in cmd and cmd[cmd.index("--exit-code-on-error") + 1] == "0"
    assert cmd[cmd.index("--csv") + 1] == str(tmp_path / "locust")


def test_compare_with_host_is_a_usage_error(tmp_path):
    proc = gate("--compare-to", "HEAD", "--host", "http://127.0.0.1:9", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "cannot be used with --host" in proc.stderr


def test_unknown_compare_ref_is_a_usage_error(tmp_path):
    proc = gate("--compare-to", "no-such-branch-xyz", "--results", str(tmp_path / "r"))
    assert proc.returncode == 2
    assert "--compare-to no-such-branch-xyz: not a commit" in proc.stderr


def test_bad_backend_from_environment(tmp_path):
    proc = gate("--results", str(tmp_path), env={"PERF_GATE_BACKEND": "k8s"})
    assert proc.returncode == 2 and "PERF_GATE_BACKEND: expected embedded or compose" in proc.stderr


BAD_LOCUSTFILE = "x = (\n"


@pytest.mark.parametrize(
    "args, message",
    [
        (["--host", "not a url"], "argument --host: expected a URL like http://localhost:8000, got 'not a url'"),
        (["--host", "http://h:99999"], "bad port"),
        (["--run-time", "0"], "expected at least 1s (Locust takes 0 as 'run forever')"),
        (["--run-time", "abc"], "expected a duration like 30s, 2m or 1h30m, got 'abc'"),
        (["--run-time", "9" * 5000], "expected a duration like 30s"),
        (["--spawn-rate", "-1"], "expected a finite number above 0, got '-1'"),
        (["--spawn-rate", "0"], "expected a finite number above 0, got '0'"),
        (["--spawn-rate", "nan"], "expected a finite number above 0, got 'nan'"),
        (["--users", "1" * 5000], "expected a whole number from 1 to 100000"),
        (["--health-timeout", "inf"], "expected a finite number above 0"),
        (["--locustfile", "no-such-locustfile.py"], "Locust refuses the run: Could not find 'no-such-locustfile.py'"),
        (["--locustfile", "{bad}"], "Locust refuses the run: locustfile: {bad}:1: SyntaxError: '(' was never closed"),
        (["--no-such-option"], "unrecognized arguments: --no-such-option"),
        (["--backend", "compose", "--compose-file", "deploy/nope.yml"], "--compose-file deploy/nope.yml: no such file"),
        (["--backend", "compose", "--compose-file", "docker-compose.yml:nope.yml"], "--compose-file nope.yml: no such"),
        (["--compose-file", "docker-compose.yml"], "--compose-file docker-compose.yml: it is for --backend compose"),
    ],
)
def test_bad_input_is_exit_2_before_anything_starts_and_is_reported(tmp_path, args, message):
    bad = tmp_path / "bad_locustfile.py"
    bad.write_text(BAD_LOCUSTFILE)
    args = [a.replace("{bad}", str(bad)) for a in args]
    message = message.replace("{bad}", str(bad))
    output = tmp_path / "github_output"
    results = tmp_path / "r"
    (results).mkdir()
    (results / "report.html").write_text("an earlier run's report")
    proc = gate(
        "--results",
        str(results),
        *args,
        env={"GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")},
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and "Traceback" not in proc.stderr + proc.stdout
    assert "starting backend" not in proc.stderr
    error = ET.parse(results / "junit.xml").getroot().find(".//testcase/error")
    assert error.get("type") == "configuration" and message in error.get("message")
    assert json.loads((results / "verdict.json").read_text())["exit_code"] == 2
    assert "verdict=error\n" in output.read_text()
    assert "Configuration error" in (tmp_path / "summary").read_text()
    assert "::error title=perf gate - configuration error::" in proc.stdout
    if "--no-such-option" not in args:
        assert not (results / "report.html").exists()  # nothing of an earlier run is left to mislead


@pytest.mark.parametrize("make", ["file", "under-a-file"])
def test_results_that_cannot_be_a_folder_is_exit_2_without_traceback(tmp_path, make):
    target = tmp_path / "taken"
    target.write_text("a file")
    results = target if make == "file" else target / "results"
    output = tmp_path / "github_output"
    proc = gate("--results", str(results), env={"GITHUB_OUTPUT": str(output)})
    assert proc.returncode == 2
    assert f"Error: --results {results}:" in proc.stderr and "Traceback" not in proc.stderr
    assert "verdict=error\n" in output.read_text()  # still visible on GitHub


def test_help_touches_no_results(tmp_path):
    results = tmp_path / "r"
    results.mkdir()
    (results / "junit.xml").write_text("an earlier run's report")
    proc = gate("--help", "--results", str(results))
    assert proc.returncode == 0 and "usage: perf-gate" in proc.stdout
    assert (results / "junit.xml").read_text() == "an earlier run's report"


def test_results_without_a_value_is_a_usage_error(tmp_path):
    proc = gate("--results", cwd=tmp_path)
    assert proc.returncode == 2 and "argument --results: expected one argument" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_trials_too_short_or_with_a_running_host_are_usage_errors(tmp_path):
    proc = gate("--compare-to", "HEAD", "--trials", "3", "--run-time", "30s", "--results", str(tmp_path / "a"))
    assert proc.returncode == 2
    assert "--trials 3: a run of 30 s gives trials of 10 s; each needs at least 20 s" in proc.stderr
    proc = gate("--trials", "2", "--host", "http://127.0.0.1:9", "--run-time", "1m", "--results", str(tmp_path / "b"))
    assert proc.returncode == 2 and "--trials starts the backends afresh" in proc.stderr


def test_a_budget_needs_a_comparison_and_room_for_the_run(tmp_path):
    proc = gate("--max-run-time", "5m", "--run-time", "1m", "--results", str(tmp_path / "a"))
    assert proc.returncode == 2 and "--max-run-time keeps comparing" in proc.stderr
    proc = gate("--compare-to", "HEAD", "--run-time", "2m", "--max-run-time", "1m", "--results", str(tmp_path / "b"))
    assert proc.returncode == 2 and "--max-run-time 60s: less than the run time (120 s)" in proc.stderr


def test_trials_alternate_which_side_starts_first():
    first = ["candidate", "baseline"]
    orders = [run.start_order(first, n) for n in range(1, 8)]
    assert orders[0] == first and orders[1] == ["baseline", "candidate"]
    assert all(a != b for a, b in zip(orders, orders[1:], strict=False))  # every two trials in a row balance it
    assert first == ["candidate", "baseline"]  # not reordered in place


def test_schema_prints_the_thresholds_schema_for_editors_elsewhere(tmp_path):
    proc = gate("schema", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["title"] == "perf gate thresholds"
    assert list(tmp_path.iterdir()) == []  # it writes no reports


def test_a_comparison_stops_when_its_rules_are_decided_or_can_never_be():
    def rule(metric: str, status: str, final: bool = False) -> RuleResult:
        return RuleResult("x", metric, 0.05, None, status, "", final=final)

    latency = rule("p50_regression", PASS)
    assert run.decided(Verdict(results=[latency, rule("p95_regression", FAIL)]))
    assert not run.decided(Verdict(results=[latency, rule("p95_regression", INCONCLUSIVE)]))
    assert not run.decided(Verdict(results=[latency, rule("cpu_per_request_regression", ERROR)]))  # too few trials
    assert run.decided(Verdict(results=[latency, rule("cpu_per_request_regression", ERROR, final=True)]))
    assert not run.decided(Verdict(results=[rule("p95_ms", PASS)]))  # no regression rule: nothing decided
