"""The one command, for real: embedded PostgreSQL, backend processes, real HTTP, a real Locust run."""

import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

SHORT = ["--users", "10", "--spawn-rate", "10", "--run-time", "6s"]
FILES = [
    "junit.xml",
    "summary.md",
    "verdict.json",
    "report.html",
    "timeline.png",
    "locust_stats.csv",
    "locust_stats_history.csv",
    "locust_failures.csv",
    "locust_exceptions.csv",
    "locust_raw.csv",
    "backend-candidate.log",
]


def perf_gate(tmp_path, *extra: str, short=SHORT, cwd=ROOT, timeout=300) -> tuple[subprocess.CompletedProcess, dict]:
    """perf-gate with `short` and `extra`; its results go to tmp_path/results."""
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "perfgate.run", *short, "--results", str(results), *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    verdict = json.loads((results / "verdict.json").read_text()) if (results / "verdict.json").exists() else {}
    return proc, verdict


def test_healthy_backend_passes_and_writes_every_report(tmp_path):
    proc, verdict = perf_gate(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert verdict["verdict"] == "pass"
    assert len(verdict["results"]) >= 10 and all(r["status"] == "pass" for r in verdict["results"])
    for name in FILES:
        assert (tmp_path / "results" / name).stat().st_size > 0, name
    measured = {r["name"]: r["measured"] for r in verdict["results"]}
    assert measured["requests of ASYNC submit-to-complete"] > 50


def test_slowed_backend_fails_and_junit_names_the_rule(tmp_path):
    proc, verdict = perf_gate(tmp_path, "--backend-env", "BACKEND_API_LATENCY_MS=150")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    root = ET.parse(tmp_path / "results" / "junit.xml").getroot()
    failed = {case.get("name") for case in root.iter("testcase") if case.find("failure") is not None}
    assert "p95 of POST /requests" in failed
    assert "p95 of GET /requests/{id}" in failed
    assert "::error file=thresholds.json,line=5,title=perf gate - p95 of POST /requests::" in proc.stdout
