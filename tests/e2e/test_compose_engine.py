"""The compose path on a real Docker engine: build, healthy, gate verdicts,
compose's own errors, a restrictive umask, Ctrl-C, and nothing left behind.
Skipped, with the reason, where no Docker Engine 25+ with compose v2 answers."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from perfgate import backends
from perfgate.summary import md_escape
from tests.conftest import ROOT
from tests.e2e.test_gate import perf_gate as gate_run

SHORT = ["--backend", "compose", "--users", "10", "--spawn-rate", "10", "--run-time", "10s"]
PROJECT = "perfgate-candidate"


MIN_API = (1, 44)  # Docker Engine 25: healthcheck start_interval, which docker-compose.yml uses


def _engine_missing() -> str | None:
    if shutil.which("docker") is None:
        return "no docker CLI on PATH"
    answers = []
    for args in (["version", "--format", "{{.Server.APIVersion}} {{.Server.Version}}"], ["compose", "version"]):
        try:
            proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
        except subprocess.TimeoutExpired:
            return f"docker {' '.join(args[:1])} did not answer in 60 s"
        if proc.returncode != 0:
            return f"docker {' '.join(args[:2])} failed: {(proc.stderr or proc.stdout).strip()[-300:]}"
        answers.append(proc.stdout.strip())
    api, _, version = answers[0].partition(" ")
    if tuple(int(part) for part in api.split(".")[:2] if part.isdigit()) < MIN_API:
        return f"Docker Engine {version} (API {api}) has no healthcheck start_interval; docker-compose.yml needs 25+"
    if "version v1" in answers[1] or "version 1." in answers[1]:
        return f"{answers[1]}: docker-compose v1 does not know healthcheck start_interval; compose v2 needed"
    return None


if (reason := _engine_missing()) and os.environ.get("PERFGATE_REQUIRE_DOCKER") == "1":
    pytest.fail(f"PERFGATE_REQUIRE_DOCKER=1 but no Docker engine: {reason}", pytrace=False)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.compose_engine,
    pytest.mark.skipif(bool(reason), reason=f"no usable Docker engine: {reason}"),
]


def leftovers(project: str = PROJECT) -> list[str]:
    label = f"label=com.docker.compose.project={project}"
    found = []
    for listing in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        proc = subprocess.run(["docker", *listing, "-q", "--filter", label], capture_output=True, text=True, check=True)
        found += proc.stdout.split()
    return found


def perf_gate(tmp_path: Path, *extra: str, cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, dict]:
    return gate_run(tmp_path, *extra, short=SHORT, cwd=cwd, timeout=900)


def umask_077_checkout(tmp_path: Path) -> Path:
    """This checkout as a user with umask 077 would have it: files 600, folders 700."""
    copy = tmp_path / "checkout"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".venv", ".git", "results", "__pycache__"))
    for path in [copy, *copy.rglob("*")]:
        path.chmod(0o700 if path.is_dir() else 0o600)
    return copy


def test_healthy_passes_from_a_umask_077_checkout_and_slowed_fails(tmp_path):
    proc, verdict = perf_gate(tmp_path / "healthy", cwd=umask_077_checkout(tmp_path))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert verdict["verdict"] == "pass"
    assert leftovers() == []
    [spent] = verdict["resources"]  # the containers' cgroups: the API's, the worker's and PostgreSQL's
    assert spent["method"] == "cgroup" and spent["cpu_ms_per_request"] > 0.1 and spent["peak_memory_mb"] > 20
    # this repository's health checks run often only while a service starts, never during the load
    assert not [w for w in verdict["warnings"] if "checks its health" in w], verdict["warnings"]
    # compose's build and start-up output goes to stderr; stdout is the report alone
    assert "request-api" not in proc.stdout.split("| entry")[0], proc.stdout[:2000]

    proc, verdict = perf_gate(tmp_path / "slowed", "--backend-env", "BACKEND_API_LATENCY_MS=150")
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    failed = {r["name"] for r in verdict["results"] if r["status"] == "fail"}
    assert "p95 of POST /requests" in failed
    assert leftovers() == []


FREQUENT_CHECKS = """
services:
  frequent:
    image: postgres:17-alpine
    entrypoint: ["sleep", "300"]
    healthcheck:
      test: ["CMD", "true"]
      interval: 2s
  unchecked:
    image: postgres:17-alpine
    entrypoint: ["sleep", "300"]
"""


def test_a_health_check_running_during_the_load_is_noted(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(FREQUENT_CHECKS)
    project = "perfgate-health-checks"
    with backends.compose(tmp_path, project, tmp_path / "services.log", dict(os.environ)) as backend:
        assert len(backend.notes) == 1, backend.notes
        assert backend.notes[0].startswith("compose service 'frequent' checks its health every 2s while the load runs")
    assert leftovers(project) == []


def test_the_containers_cgroups_count_what_runs_in_them(tmp_path):
    """CPU burnt by a process inside a container shows in the side's reading."""
    (tmp_path / "docker-compose.yml").write_text(FREQUENT_CHECKS)
    project = "perfgate-cgroups"
    with backends.compose(tmp_path, project, tmp_path / "services.log", dict(os.environ)) as backend:
        assert backend.meter is not None, backend.unmetered
        before = backend.meter.read()
        [container] = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
             "--filter", "label=com.docker.compose.service=unchecked"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        burn = "end=$(( $(date +%s) + 3 )); while [ $(date +%s) -lt $end ]; do :; done"
        subprocess.run(["docker", "exec", container, "sh", "-c", burn], check=True, timeout=60)
        after = backend.meter.read()
        assert after.cpu_s - before.cpu_s > 1.0, (before, after)
        assert after.memory_bytes > 100_000
    assert leftovers(project) == []


def test_compose_own_error_is_in_every_report(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taken.bind(("0.0.0.0", 8000))
        taken.listen()
        proc, verdict = perf_gate(tmp_path)
    assert proc.returncode == 3, proc.stdout[-3000:] + proc.stderr[-3000:]
    problem = verdict["problems"][0]
    first_line = problem.splitlines()[0]
    assert first_line.startswith("docker compose up failed") and "8000" in first_line, problem
    assert any(word in first_line for word in ("allocated", "in use")), problem
    assert f"**No verdict:** {md_escape(first_line)}" in (tmp_path / "results" / "summary.md").read_text()
    assert "::error" in proc.stdout and "8000" in proc.stdout  # the annotation
    assert leftovers() == []


def test_ctrl_c_twice_still_tears_everything_down(tmp_path):
    results = tmp_path / "results"
    gate = subprocess.Popen(
        [sys.executable, "-m", "perfgate.run", *SHORT[:-1], "60s", "--results", str(results)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    deadline = time.monotonic() + 600
    seen = ""
    while "running Locust" not in seen:
        line = gate.stderr.readline()
        assert line and time.monotonic() < deadline, seen[-3000:]
        seen += line
    time.sleep(3)
    os.killpg(gate.pid, signal.SIGINT)
    time.sleep(1.5)  # the teardown has begun
    os.killpg(gate.pid, signal.SIGINT)
    out, err = gate.communicate(timeout=300)
    assert gate.returncode == 3, f"exit {gate.returncode}\n" + err[-6000:]
    verdict = json.loads((results / "verdict.json").read_text())
    assert any("interrupted" in p for p in verdict["problems"]), verdict
    assert leftovers() == []
