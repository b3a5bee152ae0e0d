"""Faults the gate must not pass: a backend that freezes for the end of a run,
and one that fails every request while the thresholds name latencies only.
Each is shown beside the same setup without the fault, which passes."""

import http.server
import json
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import ROOT, backend_env

pytestmark = pytest.mark.e2e

RUN_S, FREEZE_AT_S = 20, 10
LATENCY_ONLY = {
    "entries": {
        "POST /requests": {"p95_ms": 2000},
        "GET /requests/{id}": {"p95_ms": 2000},
        "ASYNC submit-to-complete": {"p95_ms": 20000},
    }
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} never healthy")


def gate(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "perfgate.run", "--results", str(tmp_path / "results"), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def verdict(tmp_path) -> dict:
    return json.loads((tmp_path / "results" / "verdict.json").read_text())


@pytest.mark.parametrize("frozen", [None, "worker", "api"])
def test_a_backend_frozen_for_the_last_10_s_is_never_green(frozen, database_url, procs, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = backend_env(database_url, processing_ms=20)
    parts = {
        "api": procs.start(["-m", "uvicorn", "backend.app.main:app", "--port", str(port)], env, "api"),
        "worker": procs.start(["-m", "backend.app.worker"], env, "worker"),
    }
    wait_healthy(url)
    proc = gate(tmp_path, "--host", url, "--users", "10", "--spawn-rate", "10", "--run-time", f"{RUN_S}s")
    victim = parts.get(frozen)
    try:
        raw = tmp_path / "results" / "locust_raw.csv"
        deadline = time.monotonic() + 60
        while not raw.exists():  # Locust has started recording
            assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
            time.sleep(0.1)
        time.sleep(FREEZE_AT_S)
        if victim:
            victim.send_signal(signal.SIGSTOP)
        output, _ = proc.communicate(timeout=240)
    finally:
        if victim:
            victim.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
    got = verdict(tmp_path)
    if frozen is None:
        assert proc.returncode == 0, output
        [stalls] = [r for r in got["results"] if r["metric"] == "stall"]
        assert stalls["status"] == "pass" and stalls["entry"] == "every entry"
        assert "POST /requests" in stalls["message"] and "ASYNC submit-to-complete" in stalls["message"]
        return
    assert proc.returncode == 1, output
    failed = {r["name"]: r["message"] for r in got["results"] if r["status"] == "fail"}
    assert "stall of ASYNC submit-to-complete" in failed, failed
    # the span is named in seconds of the run: from about the freeze to the stop
    span = re.search(r"from (\d+)\.\d s to (\d+)\.\d s of the run", failed["stall of ASYNC submit-to-complete"])
    assert span and FREEZE_AT_S - 1 <= int(span[1]) <= FREEZE_AT_S + 2 and int(span[2]) in (RUN_S - 1, RUN_S), span
    assert "Traceback" not in output


class AlwaysFailing(http.server.BaseHTTPRequestHandler):
    """Healthy by its own account, and answers every request with a 500."""

    def do_GET(self):
        self.answer(200 if self.path == "/health" else 500)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(500)

    def answer(self, status: int) -> None:
        body = b'{"detail": "broken"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def failing_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AlwaysFailing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("backend_env_value, expected", [(None, 0), ("BACKEND_FAILURE_RATIO=1", 1)])
def test_latency_only_thresholds_still_fail_a_backend_whose_work_fails(tmp_path, backend_env_value, expected):
    thresholds = tmp_path / "latency-only.json"
    thresholds.write_text(json.dumps(LATENCY_ONLY))
    extra = ["--backend-env", backend_env_value] if backend_env_value else []
    proc = gate(tmp_path, "--thresholds", str(thresholds), "--users", "5", "--run-time", "6s", *extra)
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode == expected, output
    if expected:
        failed = [r for r in verdict(tmp_path)["results"] if r["status"] == "fail"]
        assert {r["entry"] for r in failed} >= {"ASYNC submit-to-complete"}
        assert all(r["metric"] == "failure_ratio" and r["default"] for r in failed), failed


def test_latency_only_thresholds_fail_a_backend_that_answers_500_to_everything(tmp_path, failing_server):
    thresholds = tmp_path / "latency-only.json"
    thresholds.write_text(json.dumps(LATENCY_ONLY))
    proc = gate(tmp_path, "--host", failing_server, "--thresholds", str(thresholds), "--users", "5", "--run-time", "4s")
    output, _ = proc.communicate(timeout=240)
    assert proc.returncode != 0, output
    got = verdict(tmp_path)
    assert got["verdict"] in ("fail", "error")
    assert "failure ratio of POST /requests" in {r["name"] for r in got["results"] if r["status"] == "fail"}


def test_a_killed_gate_leaves_nothing_running(tmp_path):
    """SIGKILL perf-gate mid-run: Locust, the launcher, its workers and PostgreSQL all end on their own."""
    import psutil

    results = tmp_path / "results"
    gate = subprocess.Popen(
        [sys.executable, "-m", "perfgate.run", "--run-time", "60s", "--users", "5", "--results", str(results)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    while "running Locust" not in seen:
        line = gate.stderr.readline()
        assert line, seen[-2000:]
        seen += line
    time.sleep(3)
    log = (results / "backend-candidate.log").read_text()
    pgdata = next(line.split("postgres ")[-1] for line in log.splitlines() if "backend up" in line)
    ours = psutil.Process(gate.pid).children(recursive=True)
    ours += [p for p in psutil.process_iter(["cmdline"]) if pgdata in " ".join(p.info["cmdline"] or [])]
    assert any("locust" in " ".join(p.cmdline()) for p in ours) and len(ours) >= 4, ours
    gate.kill()
    gate.wait()
    gate.stderr.close()
    _, alive = psutil.wait_procs(ours, timeout=15)
    assert alive == [], f"left running 15 s after the gate was killed: {alive}"
