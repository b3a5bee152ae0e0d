"""The gate on a service this project does not ship: Datasette's JSON API,
started with --backend-cmd and loaded by an ordinary HttpUser locustfile
(examples/datasette), with one Locust process and with two."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

EXAMPLE = ROOT / "examples" / "datasette"
SERVICE = "datasette serve --memory --port {port} --plugins-dir examples/datasette/plugins"  # each side its own
QUERY = "GET /_memory.json?sql"


def gate(
    tmp_path: Path,
    *extra: str,
    run_time: str = "15s",
    thresholds: Path = EXAMPLE / "thresholds.json",
    service: str = SERVICE,
) -> tuple[subprocess.CompletedProcess, dict]:
    results = tmp_path / "results"
    cmd = [
        sys.executable, "-m", "perfgate.run",
        "--locustfile", str(EXAMPLE / "locustfile.py"),
        "--thresholds", str(thresholds),
        "--backend-cmd", service,
        "--health-path", "/-/versions.json",
        "--users", "10", "--spawn-rate", "10", "--run-time", run_time,
        "--results", str(results),
        *extra,
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=400)
    verdict = json.loads((results / "verdict.json").read_text())
    return proc, verdict


def statuses(verdict: dict) -> dict[str, str]:
    return {r["name"]: r["status"] for r in verdict["results"]}


def explain(proc: subprocess.CompletedProcess, verdict: dict) -> str:
    lines = [f"{r['status']}: {r['message']}" for r in verdict["results"]] + verdict["problems"]
    return "\n".join(lines) + "\n" + proc.stderr[-3000:]


def test_a_plain_run_passes_and_a_slowed_service_fails_on_its_thresholds(tmp_path):
    proc, verdict = gate(tmp_path / "healthy")
    assert proc.returncode == 0, explain(proc, verdict)
    assert statuses(verdict)[f"p95 of {QUERY}"] == "pass"

    proc, verdict = gate(tmp_path / "slowed", "--backend-env", "EXAMPLE_DELAY_MS=300")
    assert proc.returncode == 1, explain(proc, verdict)
    assert statuses(verdict)[f"p95 of {QUERY}"] == "fail"
    assert f"p95 of {QUERY}" in proc.stdout  # the annotation names it


def test_a_service_run_through_a_container_client_leaves_its_resource_limits_unjudged(tmp_path):
    """Started itself, the service's CPU per request is judged; started by a
    client named docker (as `docker run` would start it, elsewhere), the
    process tree holds the client, and the limit is not judged, never passed."""
    limits = json.loads((EXAMPLE / "thresholds.json").read_text()) | {"resources": {"cpu_ms_per_request": 1000}}
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(limits))
    proc, verdict = gate(tmp_path / "itself", thresholds=path)
    [limit] = [r for r in verdict["results"] if r["metric"] == "cpu_ms_per_request"]
    assert proc.returncode == 0 and limit["status"] == "pass" and limit["measured"] > 0, explain(proc, verdict)

    client = tmp_path / "bin" / "docker"
    client.parent.mkdir()
    client.write_text('#!/bin/sh\n"$@"\n')  # runs what it is given as its child, and stays
    client.chmod(0o755)
    proc, verdict = gate(tmp_path / "client", thresholds=path, service=f"{client} {SERVICE}")
    [limit] = [r for r in verdict["results"] if r["metric"] == "cpu_ms_per_request"]
    assert proc.returncode == 3 and limit["status"] == "error", explain(proc, verdict)
    assert "runs a container client, docker (PID" in limit["message"], explain(proc, verdict)
    assert statuses(verdict)[f"p95 of {QUERY}"] == "pass"  # latency is judged as ever


def test_side_by_side_a_a_passes_and_a_slowed_candidate_fails_naming_the_entry(tmp_path):
    """A/A with one Locust process; the slowed candidate with two, whose
    entries and samples must come from both."""
    compare = ["--compare-to", "HEAD", "--trials", "2", "--max-run-time", "40s"]
    proc, verdict = gate(tmp_path / "aa", *compare, run_time="40s")
    found = {name: s for name, s in statuses(verdict).items() if "regression" in name}
    assert len(found) == 3 and "fail" not in found.values(), explain(proc, verdict)
    assert proc.returncode in (0, 3), explain(proc, verdict)

    slow = tmp_path / "slow"
    proc, verdict = gate(slow, *compare, "--processes", "2", "--backend-env", "EXAMPLE_DELAY_MS=30", run_time="40s")
    assert proc.returncode == 1, explain(proc, verdict)
    assert statuses(verdict)[f"p50 regression of {QUERY}"] == "fail", explain(proc, verdict)
    assert f"p50 regression of {QUERY}" in proc.stdout
    entries = {r["entry"] for r in verdict["results"]}
    assert {QUERY, "GET /-/versions.json", "GET /-/databases.json"} <= entries
    for trial in ("trial-1", "trial-2"):
        info = json.loads((slow / "results" / trial / "locust_run_info.json").read_text())
        per_process = info["samples_per_process"]
        assert len(per_process) == 2 and min(per_process.values()) > 100, per_process


def test_locust_master_and_workers_started_apart_are_judged_by_perf_check(tmp_path):
    """Locust's own --master/--worker, as on separate machines (here, separate
    processes), with the plugin beside the locustfile; perf-check judges the
    master's CSV and the samples the workers sent it."""
    from perfgate import backends

    plugin = ROOT / "scripts" / "perfgate" / "locust_entry" / "perfgate_plugin.py"
    files = f"{EXAMPLE / 'locustfile.py'},{plugin}"
    results = tmp_path / "results"
    results.mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    port = backends.free_port()
    with backends.command(SERVICE, ROOT, tmp_path / "service.log", env, port, "/-/versions.json") as service:
        backends.wait_healthy(service, 60)
        locust = [sys.executable, "-m", "locust", "-f", files]
        master_port = backends.free_port()
        master = subprocess.Popen(
            [*locust, "--master", "--headless", "--expect-workers", "2", "--master-bind-port", str(master_port),
             "--host", service.url, "--users", "10", "--spawn-rate", "10", "--run-time", "15s",
             "--csv", str(results / "locust"), "--raw-samples", str(results / "locust_raw.csv"),
             "--run-info", str(results / "locust_run_info.json"), "--exit-code-on-error", "0"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        workers = [
            subprocess.Popen(
                [*locust, "--worker", "--master-port", str(master_port)],
                cwd=ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            for _ in range(2)
        ]
        try:
            _, err = master.communicate(timeout=120)
        finally:
            for worker in workers:
                worker.wait(30)
    assert master.returncode == 0, err[-3000:]
    info = json.loads((results / "locust_run_info.json").read_text())
    assert len(info["samples_per_process"]) == 2 and min(info["samples_per_process"].values()) > 100, info
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate.check_cli", "--results", str(results), "--thresholds",
         str(EXAMPLE / "thresholds.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    verdict = json.loads((results / "verdict.json").read_text())
    assert proc.returncode == 0, explain(proc, verdict)
    assert any(r["metric"] == "stall" and r["status"] == "pass" for r in verdict["results"])  # the samples were read
