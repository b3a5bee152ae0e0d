"""perf-gate's own decisions that need no load run: usage errors and a backend that never gets healthy."""

import json
import os
import socket
import subprocess
import sys

import pytest

from perfgate import run
from tests.conftest import ROOT


def gate(*args: str, cwd=ROOT, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "perfgate.run", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--users", "0"], "expected a number above 0, got '0'"),
        (["--users", "many"], "expected a whole number from 1 to 999999999, got 'many'"),
        (["--backend-env", "NOEQUALS"], "expected KEY=VALUE"),
        (["--backend", "kubernetes"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2(args, message):
    proc = gate(*args)
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
    args = run.build_parser().parse_args(["--users", "5", "--results", str(tmp_path)])
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
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate.run", "--results", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PERF_GATE_BACKEND": "k8s"},
    )
    assert proc.returncode == 2 and "PERF_GATE_BACKEND: expected embedded or compose" in proc.stderr
