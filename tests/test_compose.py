"""Ctrl-C while compose works: passed on to `up` and waited for, and a second
one during `down` does not cut the teardown short. A stand-in `docker` CLI
records what happened; the real engine is in tests/e2e/test_compose_engine.py."""

import os
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT

SLOW_DOCKER = """#!/bin/sh
case "$*" in
  *" up "*)
    trap 'echo "up got INT" >> "$DOCKER_CALLS"; sleep 1; echo "up stopped" >> "$DOCKER_CALLS"; exit 130' INT
    echo "up started" >> "$DOCKER_CALLS"
    i=0; while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; exit 0 ;;
  *" down "*)
    trap 'echo "down got INT" >> "$DOCKER_CALLS"' INT
    echo "down started" >> "$DOCKER_CALLS"
    i=0; while [ $i -lt 20 ]; do sleep 0.1; i=$((i+1)); done
    echo "down finished" >> "$DOCKER_CALLS" ;;
esac
exit 0
"""

GATE = """
import sys
from pathlib import Path
from perfgate import backends
try:
    with backends.compose(Path("."), "p", Path(sys.argv[1]), {"PATH": sys.argv[2], "DOCKER_CALLS": sys.argv[3]}):
        pass
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def wait_for(path, text: str, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not (path.exists() and text in path.read_text()):
        assert time.monotonic() < deadline, path.read_text() if path.exists() else "(nothing recorded)"
        time.sleep(0.05)


def test_ctrl_c_is_passed_to_up_and_a_second_one_waits_for_down(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(SLOW_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    calls = tmp_path / "calls"
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    gate = subprocess.Popen(
        [sys.executable, "-c", GATE, str(tmp_path / "b.log"), path, str(calls)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "scripts")},
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a process group of its own, as a terminal gives it
        # as a terminal's foreground job has it, even when these tests run in the background
        # of a shell, which starts its background jobs with SIGINT ignored
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        wait_for(calls, "up started")
        os.killpg(gate.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole foreground group
        wait_for(calls, "down started")
        os.killpg(gate.pid, signal.SIGINT)  # a second Ctrl-C, during the teardown
        out, _ = gate.communicate(timeout=30)
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
            gate.communicate()
    events = calls.read_text().splitlines()
    assert events == ["up started", "up got INT", "up stopped", "down started", "down finished"], events
    assert gate.returncode == 130 and out.strip() == "interrupted"
