"""The gate from another team's repository, as the docs tell them to run it:
their own service, locustfile and thresholds, no locust.conf, and no users or
spawn rate given (Locust's own defaults apply). Healthy, it passes; slowed,
it fails naming the entry. The documented caller workflows go through the
action's own env mapping the same way."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests import workflow_rules
from tests.conftest import FIXTURES, ROOT
from tests.test_workflows import ACTION, CALLERS, action_env

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
SERVICE = "uvicorn app.main:app --host 127.0.0.1 --port {port}"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository of its own: the service, perf/ and the datasette example, committed."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "newrepo", repo)
    shutil.copytree(ROOT / "examples" / "datasette", repo / "examples" / "datasette")
    for args in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "app"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    assert not (repo / "locust.conf").exists()
    return repo


def perf_gate(repo: Path, results: Path, *args: str, env: dict[str, str] | None = None):
    proc = subprocess.run(
        [str(BIN / "perf-gate"), *args, "--results", str(results)],
        cwd=repo, env=env or ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return proc, json.loads((results / "verdict.json").read_text())


def test_the_documented_command_passes_a_healthy_service_and_fails_a_slowed_one(repo, tmp_path):
    command = [
        "--locustfile", "perf/locustfile.py", "--thresholds", "perf/thresholds.json",
        "--backend-cmd", SERVICE, "--health-path", "/health", "--run-time", "10s",
    ]  # fmt: skip
    proc, verdict = perf_gate(repo, tmp_path / "healthy", *command)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Locust: 1 users, 1/s, 10 s" in proc.stderr  # Locust's own defaults, said up front
    assert {r["status"] for r in verdict["results"]} == {"pass"}

    proc, verdict = perf_gate(repo, tmp_path / "slowed", *command, "--backend-env", "APP_DELAY_MS=80")
    assert proc.returncode == 1, proc.stderr[-3000:]
    failed = {r["name"] for r in verdict["results"] if r["status"] == "fail"}
    assert failed == {"p95 of GET /items", "p95 of GET /items/[id]"}, verdict["results"]


@pytest.mark.parametrize("caller", CALLERS, ids=lambda p: p.parent.parent.parent.name or p.parent.name)
def test_a_documented_caller_workflow_runs_through_the_actions_env_mapping(caller, repo, tmp_path):
    """The caller's inputs, as the action maps them, from a repository with no
    locust.conf (a 10 s run and no comparison, to keep the test short)."""
    spec = yaml.safe_load(ACTION.read_text())
    [call] = [s for s in workflow_rules.steps(workflow_rules.load(caller)) if "/perf-gate@" in s.get("uses", "")]
    inputs = {name: str(s.get("default", "")) for name, s in spec["inputs"].items()} | call["with"]
    inputs |= {"results": str(tmp_path / "results"), "run-time": "10s", "compare-to": "none"}
    steps = {s["name"]: s for s in spec["runs"]["steps"]}
    event = {"pull_request": {"base": {"sha": "0" * 40}}}
    env = {**ENV, **action_env(steps["Validate inputs"], inputs, event)}
    github_env = tmp_path / "github_env"
    proc = subprocess.run([sys.executable, "-m", "perfgate.inputs"], env={**env, "GITHUB_ENV": str(github_env)})
    assert proc.returncode == 0
    env.update(dict(line.split("=", 1) for line in github_env.read_text().splitlines()))
    env.update(action_env(steps["Run the gate"], inputs, event))
    command = steps["Run the gate"]["run"].split()
    assert command[:2] == ["perf-gate", "--results"]
    proc, verdict = perf_gate(repo, tmp_path / "results", *command[3:], env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert verdict["results"] and {r["status"] for r in verdict["results"]} == {"pass"}
