"""A comparison spread over three runners for real: three shards run one
after another (the second with a CPU burner beside it, standing for a
different runner), merged and judged once. The same commit passes; a
candidate whose submit-to-complete is about 10% slower fails, naming it.
Each shard makes two trials of 20 s (with one each, three trials leave an
interval too wide for a loaded machine); runners that disagree are tested
on recorded trials (tests/test_shards.py)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.e2e.test_compare_gate import explain

pytestmark = pytest.mark.e2e
RULE = "p50 regression of ASYNC submit-to-complete"
THRESHOLDS = {
    "entries": {"ASYNC submit-to-complete": {"failure_ratio": 0}},
    "regression": {"window_s": 2, "entries": {"ASYNC submit-to-complete": {"p50": 0.04}}},
}


def shard(tmp_path, folder, index: int, processing_ms: str) -> None:
    cmd = [
        sys.executable, "-m", "perfgate.run", "--compare-to", "HEAD", "--shard", f"{index}/3",
        "--users", "10", "--spawn-rate", "10", "--run-time", "40s", "--trials", "2",
        "--thresholds", str(tmp_path / "thresholds.json"), "--results", str(folder),
        "--baseline-env", "BACKEND_PROCESSING_MS=50", "--backend-env", f"BACKEND_PROCESSING_MS={processing_ms}",
    ]  # fmt: skip
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if index == 2 else None
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=400)
    finally:
        if burner is not None:
            burner.kill()
            burner.wait()
    assert proc.returncode == 0, proc.stderr[-3000:]  # a shard measures; the merge judges


def merged(tmp_path, name: str, processing_ms: str) -> tuple[subprocess.CompletedProcess, dict]:
    folders = [tmp_path / name / f"shard-{i}" for i in (1, 2, 3)]
    for i, folder in enumerate(folders, start=1):
        shard(tmp_path, folder, i, processing_ms)
    out = tmp_path / name / "merged"
    cmd = [sys.executable, "-m", "perfgate.run", "merge", *map(str, folders), "--results", str(out),
           "--thresholds", str(tmp_path / "thresholds.json")]  # fmt: skip
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    return proc, json.loads((out / "verdict.json").read_text())


def test_three_runners_merged_pass_the_same_commit_and_fail_a_slower_one(tmp_path):
    (tmp_path / "thresholds.json").write_text(json.dumps(THRESHOLDS))
    proc, verdict = merged(tmp_path, "aa", "50")
    rule = next(r for r in verdict["results"] if r["name"] == RULE)
    assert rule["status"] != "fail" and proc.returncode in (0, 3), explain(proc, verdict)
    assert "over 6 trials" in rule["message"] and len(rule["runner_ratios"]) == 3, rule["message"]
    info = json.loads((tmp_path / "aa" / "merged" / "locust_run_info.json").read_text())
    assert info["runners"] == [1, 1, 2, 2, 3, 3]
    assert "Trials from 3 runners" in (tmp_path / "aa" / "merged" / "summary.md").read_text()

    proc, verdict = merged(tmp_path, "slowed", "57")
    rule = next(r for r in verdict["results"] if r["name"] == RULE)
    assert proc.returncode == 1 and rule["status"] == "fail", explain(proc, verdict)
    assert RULE in (tmp_path / "slowed" / "merged" / "summary.md").read_text()
