"""The gate as Locust's master, its workers started elsewhere: two worker
processes connect over TCP to a loopback address other than the default
(127.0.0.2). The same entries and verdict as `--processes 2`; a slowed
candidate fails; workers that never come are no verdict, naming how many did."""

import json
import subprocess
import sys

import pytest

from perfgate import backends
from tests.conftest import ROOT
from tests.e2e.test_compare_gate import THRESHOLDS, explain

pytestmark = pytest.mark.e2e
ADDRESS = "127.0.0.2"
LATENCY = {
    "entries": THRESHOLDS["entries"],
    "regression": {k: v for k, v in THRESHOLDS["regression"].items() if k != "resources"},
}


def gate_command(tmp_path, name: str, *extra: str) -> list[str]:
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps(LATENCY))
    return [
        sys.executable, "-m", "perfgate.run", "--compare-to", "HEAD", "--users", "10", "--spawn-rate", "10",
        "--run-time", "20s", "--trials", "1", "--thresholds", str(thresholds), "--results", str(tmp_path / name),
        *extra,
    ]  # fmt: skip


def with_workers(tmp_path, name: str, workers: int, *extra: str, timeout_s: int = 60):
    """The gate waiting for 2 workers; `workers` of them started once it says how."""
    port = backends.free_port(ADDRESS)
    cmd = gate_command(
        tmp_path, name, "--expect-workers", "2", "--master-bind-host", ADDRESS, "--master-bind-port", str(port),
        "--workers-timeout", str(timeout_s), *extra,
    )  # fmt: skip
    gate = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started, err = [], []
    try:
        for line in gate.stderr:
            err.append(line)
            if "start each with: " in line and not started:
                worker = line.split("start each with: ", 1)[1].split()
                assert worker[:6] == ["locust", "--worker", "--master-host", ADDRESS, "--master-port", str(port)]
                command = [sys.executable, "-m", *worker]
                quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
                started = [subprocess.Popen(command, cwd=ROOT, **quiet) for _ in range(workers)]
        out = gate.stdout.read()
        code = gate.wait(300)
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(30)
        if gate.poll() is None:
            gate.kill()
            gate.wait(30)
        gate.stdout.close()
        gate.stderr.close()
    verdict = json.loads((tmp_path / name / "verdict.json").read_text())
    return subprocess.CompletedProcess(cmd, code, out, "".join(err)), verdict


def entries(tmp_path, name: str) -> set[str]:
    stats = (tmp_path / name / "locust_stats.csv").read_text().splitlines()[1:]
    return {",".join(line.split(",")[:2]) for line in stats}


def test_workers_elsewhere_give_what_two_local_processes_give(tmp_path):
    """The same entries, rules and samples from two processes; on a trial of
    20 s a rule may come out undecided (exit 3), never failed."""
    proc, verdict = with_workers(tmp_path, "workers", 2)
    local = subprocess.run(
        gate_command(tmp_path, "local", "--processes", "2"), cwd=ROOT, capture_output=True, text=True
    )
    local_verdict = json.loads((tmp_path / "local" / "verdict.json").read_text())
    for run, found in ((proc, verdict), (local, local_verdict)):
        assert run.returncode in (0, 3) and not found["problems"], explain(run, found)
        assert "fail" not in {r["status"] for r in found["results"]}, explain(run, found)
    assert entries(tmp_path, "workers") == entries(tmp_path, "local")
    assert [r["name"] for r in verdict["results"]] == [r["name"] for r in local_verdict["results"]]
    for name in ("workers", "local"):
        info = json.loads((tmp_path / name / "locust_run_info.json").read_text())
        assert len(info["samples_per_process"]) == 2  # both workers' samples reached the master

    # +150 ms on every call: a ratio of several times even when the machine is busy with other tests
    slowed, slowed_verdict = with_workers(tmp_path, "slowed", 2, "--backend-env", "BACKEND_API_LATENCY_MS=150")
    assert slowed.returncode == 1, explain(slowed, slowed_verdict)
    assert any(r["status"] == "fail" and r["metric"].endswith("_regression") for r in slowed_verdict["results"])


def test_workers_that_never_come_are_no_verdict_naming_how_many_did(tmp_path):
    proc, verdict = with_workers(tmp_path, "one", 1, timeout_s=8)
    assert proc.returncode == 3, explain(proc, verdict)
    assert "1 of 2 connected" in verdict["problems"][0], verdict["problems"]
