"""The embedded launcher leaves nothing running when it is stopped."""

import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # the real launcher, PostgreSQL and backend processes


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
    assert not Path(pgdata).parent.exists(), "the temporary database folder was left behind"


class Launcher:
    """`python -m backend.embedded` with its log, its URL and its processes."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / "backend.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "backend.embedded", "--port", "0", *args],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "BACKEND_PROCESSING_MS": "20"},
            )
        deadline = time.monotonic() + 60
        while "backend up" not in self.log.read_text():
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)
        lines = self.log.read_text().splitlines()
        self.url = next(line for line in lines if line.startswith("BASE_URL=")).removeprefix("BASE_URL=")
        self.pgdata = next(line.split("postgres ")[-1] for line in lines if "backend up" in line)

    def workers(self) -> list[psutil.Process]:
        children = psutil.Process(self.proc.pid).children()
        return [c for c in children if "backend.app.worker" in " ".join(c.cmdline())]

    def postmaster(self) -> psutil.Process:
        return next(
            p
            for p in psutil.process_iter(["name", "cmdline"])
            if p.info["name"] == "postgres" and "-D" in (p.info["cmdline"] or []) and self.pgdata in p.info["cmdline"]
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


class Load:
    """Submissions in a thread: what was accepted, and every status code seen."""

    def __init__(self, url: str) -> None:
        self.url, self.accepted, self.codes = url, [], Counter()
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=5) as client:
            while self.running:
                try:
                    resp = client.post("/requests", json={"params": {"n": len(self.accepted)}})
                except httpx.TransportError:
                    self.codes["no answer"] += 1
                    time.sleep(0.05)
                    continue
                self.codes[resp.status_code] += 1
                if resp.status_code == 202:
                    self.accepted.append(resp.headers["Location"])
                else:
                    time.sleep(0.05)

    def stop(self) -> None:
        self.running = False
        self.thread.join(30)

    def all_complete(self, timeout_s: float = 60) -> Counter:
        deadline = time.monotonic() + timeout_s
        statuses: Counter = Counter()
        with httpx.Client(base_url=self.url, timeout=5) as client:
            for location in self.accepted:
                while True:
                    status = client.get(location).json()["status"]
                    if status in ("COMPLETE", "FAILED") or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
                statuses[status] += 1
        return statuses


def wait_healthy(url: str, timeout_s: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.monotonic() - start
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"not healthy within {timeout_s}s")


@pytest.mark.parametrize("victim", ["worker", "postmaster"])
def test_the_launcher_brings_back_what_died_and_loses_nothing(tmp_path, victim):
    backend = Launcher(tmp_path, "--workers", "2")
    try:
        load = Load(backend.url)
        time.sleep(2)
        killed = backend.workers()[0] if victim == "worker" else backend.postmaster()
        killed.kill()
        time.sleep(1)
        assert wait_healthy(backend.url, timeout_s=30) < 30
        time.sleep(3)  # and keeps serving
        load.stop()
        assert backend.proc.poll() is None, backend.log.read_text()[-2000:]
        assert load.codes[202] > 50 and load.codes[500] == 0, load.codes
        assert load.all_complete() == Counter({"COMPLETE": len(load.accepted)})
        log = backend.log.read_text()
        assert "restarted" in log, log[-2000:]
        if victim == "worker":
            assert len(backend.workers()) == 2
        else:  # woken by LISTEN again, not by the once-a-second poll (20 ms of work; about 0.5 s by the poll)
            assert idle_submit_to_complete(backend.url) < 0.3
    finally:
        backend.stop()


def idle_submit_to_complete(url: str, n: int = 10) -> float:
    """Median seconds from POST to a COMPLETE read, one request at a time."""
    took = []
    with httpx.Client(base_url=url, timeout=5) as client:
        for _ in range(n):
            start = time.monotonic()
            location = client.post("/requests", json={"params": {}}).headers["Location"]
            while client.get(location).json()["status"] != "COMPLETE":
                time.sleep(0.01)
            took.append(time.monotonic() - start)
            time.sleep(0.2)
    return statistics.median(took)


def test_a_process_that_cannot_start_makes_the_launcher_give_up(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        log = tmp_path / "backend.log"
        with log.open("w") as out:
            proc = subprocess.run(
                [sys.executable, "-m", "backend.embedded", "--port", str(port)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
    assert proc.returncode == 1
    assert re.search(r"request-api exited with \d+ 4 times right after starting; stopping the backend", log.read_text())


def test_nothing_outlives_a_killed_launcher(tmp_path):
    """PostgreSQL daemonises, so only the guardian can stop it after a SIGKILL."""
    backend = Launcher(tmp_path, "--workers", "2")
    load = Load(backend.url)
    deadline = time.monotonic() + 15  # work accepted before the kill: the API may still be starting
    while not load.codes[202] and time.monotonic() < deadline:
        time.sleep(0.1)
    ours = psutil.Process(backend.proc.pid).children(recursive=True) + [backend.postmaster()]
    ours += backend.postmaster().children()
    guardians = [p for p in ours if "backend.guardian" in " ".join(p.cmdline())]
    assert len(guardians) == 1 and len(ours) >= 6, ours
    backend.proc.kill()
    backend.proc.wait()
    gone, alive = psutil.wait_procs(ours, timeout=10)
    load.stop()
    assert alive == [], f"left running 10 s after the launcher was killed: {alive}"
    assert not Path(backend.pgdata).parent.exists(), "the temporary database folder was left behind"
    assert load.codes[202] > 0, load.codes
