"""Side by side with a service that needs a login: every user logs in on each
side in on_start (a cookie session, a bearer token in the client's headers),
so both sides serve every request; a candidate slowed on one path fails on
that entry only."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

pytestmark = pytest.mark.e2e

SERVICE = f"{sys.executable} {FIXTURES / 'locustfiles' / 'server.py'} {{port}}"


def gate(results: Path, *extra: str) -> tuple[subprocess.CompletedProcess, dict]:
    cmd = [
        sys.executable, "-m", "perfgate.run",
        "--locustfile", str(FIXTURES / "login" / "locustfile.py"),
        "--thresholds", str(FIXTURES / "login" / "thresholds.json"),
        "--backend-cmd", SERVICE, "--health-path", "/health",
        "--compare-to", "HEAD", "--users", "6", "--spawn-rate", "20",
        "--run-time", "25s", "--trials", "1", "--max-run-time", "25s",
        "--results", str(results), *extra,
    ]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return proc, json.loads((results / "verdict.json").read_text())


def explain(proc: subprocess.CompletedProcess, verdict: dict) -> str:
    lines = [f"{r['status']}: {r['message']}" for r in verdict["results"]] + verdict["problems"]
    return "\n".join(lines) + "\n" + proc.stderr[-3000:]


def failures_per_side(results: Path) -> dict[str, int]:
    with (results / "locust_stats.csv").open() as f:
        rows = [line.split(",") for line in f.read().splitlines()[1:]]
    return {row[1]: int(row[3]) for row in rows if row[0]}


def test_a_service_that_needs_a_login_passes_a_a_and_fails_the_slowed_entry_only(tmp_path):
    proc, verdict = gate(tmp_path / "aa")
    statuses = {r["name"]: r["status"] for r in verdict["results"]}
    assert proc.returncode == 0, explain(proc, verdict)
    failures = failures_per_side(tmp_path / "aa")
    for entry in ("GET /private/dashboard", "GET /api/orders", "POST /login"):
        for side in ("baseline", "candidate"):
            assert failures[f"[{side}] {entry.split(' ', 1)[1]}"] == 0, failures
    assert statuses["p50 regression of GET /api/orders"] == "pass", explain(proc, verdict)

    slowed = ["--backend-env", "SERVER_SLOW_PATH=/api/orders", "--backend-env", "SERVER_SLOW_MS=15"]
    proc, verdict = gate(tmp_path / "slow", *slowed, "--processes", "2")
    statuses = {r["name"]: r["status"] for r in verdict["results"]}
    assert proc.returncode == 1, explain(proc, verdict)
    assert [name for name, status in statuses.items() if status == "fail"] == ["p50 regression of GET /api/orders"]
    assert statuses["p50 regression of GET /private/dashboard"] == "pass", explain(proc, verdict)
    assert "p50 regression of GET /api/orders" in proc.stdout  # the annotation names it
