"""The embedded launcher leaves nothing running when it is stopped."""

import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_stop_leaves_no_process_behind(tmp_path, sig):
    log = tmp_path / "backend.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.embedded", "--port", "0", "--workers", "2"],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while "backend up" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    launcher = psutil.Process(proc.pid)
    children = launcher.children(recursive=True)
    pgdata = next(line.split("postgres ")[-1] for line in log.read_text().splitlines() if "backend up" in line)
    postgres = [
        p
        for p in psutil.process_iter(["name", "cmdline"])
        if p.info["name"] == "postgres" and pgdata in " ".join(p.info["cmdline"] or [])
    ]
    assert len(children) >= 3 and postgres, "expected api, workers and postgres running"

    proc.send_signal(sig)
    assert proc.wait(30) == 0
    gone, alive = psutil.wait_procs(children + postgres, timeout=10)
    assert alive == [], f"left running: {alive}"
    assert "backend stopped" in log.read_text()
