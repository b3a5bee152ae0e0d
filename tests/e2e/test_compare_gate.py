"""Side by side, for real: this commit against itself (A/A) and against a slowed copy (A/B)."""

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.e2e

THRESHOLDS = {
    "entries": {"POST /requests": {"failure_ratio": 0}, "ASYNC submit-to-complete": {"failure_ratio": 0}},
    "regression": {
        "window_s": 2,
        "entries": {"POST /requests": {"p95": 0.25}, "ASYNC submit-to-complete": {"p95": 0.25}},
        # wide: three trials of 20 s; tests/e2e/test_resource_rules.py fails a service that spends more
        "resources": {"cpu_per_request": 0.2, "peak_memory": 0.2},
    },
}
LATENCY_RULES = {"p95 regression of POST /requests", "p95 regression of ASYNC submit-to-complete"}
RESOURCE_RULES = {"CPU per request regression of the service", "peak memory regression of the service"}


def compare(tmp_path, *extra: str, trials: int = 3) -> tuple[subprocess.CompletedProcess, dict]:
    """Trials of 20 s, the shortest perf-gate allows."""
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps(THRESHOLDS))
    results = tmp_path / "results"
    cmd = [
        sys.executable,
        "-m",
        "perfgate.run",
        "--compare-to",
        "HEAD",
        "--users",
        "10",
        "--spawn-rate",
        "10",
        "--run-time",
        f"{20 * trials}s",
        "--trials",
        str(trials),
        "--max-run-time",
        f"{20 * trials}s",
        "--thresholds",
        str(thresholds),
        "--results",
        str(results),
        *extra,
    ]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    verdict = json.loads((results / "verdict.json").read_text())
    return proc, verdict


def regressions(verdict: dict) -> dict[str, str]:
    return {r["name"]: r["status"] for r in verdict["results"] if r["metric"].endswith("_regression")}


def explain(proc: subprocess.CompletedProcess, verdict: dict) -> str:
    """What a failed assertion shows: every rule's message and the run's tail."""
    lines = [f"{r['status']}: {r['message']}" for r in verdict["results"]] + verdict["problems"] + verdict["warnings"]
    return "\n".join(lines) + "\n" + proc.stdout[-2000:] + proc.stderr[-2000:]


def test_same_commit_side_by_side_is_no_regression(tmp_path):
    proc, verdict = compare(tmp_path, "--pin-cpus", "auto")
    found = regressions(verdict)
    assert set(found) == LATENCY_RULES | RESOURCE_RULES
    assert "fail" not in found.values(), explain(proc, verdict)
    sides = {u["side"]: u for u in verdict["resources"]}
    assert set(sides) == {"baseline", "candidate"} and {u["method"] for u in sides.values()} == {"proc"}
    assert all(u["trials"] == 3 and u["cpu_ms_per_request"] > 0 and u["peak_memory_mb"] > 20 for u in sides.values())
    summary = (tmp_path / "results" / "summary.md").read_text()
    assert "### What the service spent" in summary and "| baseline |" in summary
    assert proc.returncode in (0, 3), explain(proc, verdict)
    assert (tmp_path / "results" / "backend-baseline-trial3.log").exists()
    info = json.loads((tmp_path / "results" / "locust_run_info.json").read_text())
    assert len(info["trials"]) == 3
    assert info["candidate_first"] in ([True, False, True], [False, True, False])  # alternating, from a random side
    assert all("over 3 trials" in r["message"] for r in verdict["results"] if r["metric"].endswith("_regression"))
    assert all(r["status"] == "pass" for r in verdict["results"] if r["name"] in RESOURCE_RULES), explain(proc, verdict)
    if len(os.sched_getaffinity(0)) >= 2:  # asked for: Locust apart from the services, both sides on the same CPUs
        assert "Locust on CPU " in proc.stderr, proc.stderr[-2000:]
    assert not (tmp_path / "results" / "baseline-src").exists(), "the baseline worktree was not removed"


def test_slowed_candidate_fails_and_junit_names_the_entry(tmp_path):
    """+40 ms on every API call: POST p95 several times the baseline's, submit-to-complete
    about twice, plain in two trials. On a busy machine one of the two may come out
    inconclusive, never a pass."""
    proc, verdict = compare(tmp_path, "--backend-env", "BACKEND_API_LATENCY_MS=40", trials=2)
    found = regressions(verdict)
    assert proc.returncode == 1, explain(proc, verdict)
    assert "pass" not in found.values(), explain(proc, verdict)
    failed_rules = {name for name, status in found.items() if status == "fail"}
    assert failed_rules, explain(proc, verdict)
    root = ET.parse(tmp_path / "results" / "junit.xml").getroot()
    failed = {
        c.get("name"): c.find("failure").get("message") for c in root.iter("testcase") if c.find("failure") is not None
    }
    for name in failed_rules:
        assert "regression" in failed[name], failed
