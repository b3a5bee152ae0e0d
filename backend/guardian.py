"""Clean up after the embedded launcher if it dies without doing so itself.

PostgreSQL daemonises (pg_ctl), so it is not a child that dies with the
launcher; a SIGKILLed launcher would leave the server and its data folder
behind. The guardian is a separate process, in its own session, that holds the
read end of a pipe: the launcher writes the processes it starts into it, and
when the pipe closes (the launcher exited, however it exited) the guardian
stops whatever is still running and removes the temporary folder. After a
clean stop there is nothing left to do and it just exits.

    python -m backend.guardian --pgdata DIR [--remove DIR]   # stdin: "pid create_time" lines
"""

import argparse
import contextlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import psutil

STOP_WAIT_S = 5.0


def _process(pid: int, create_time: float | None) -> psutil.Process | None:
    """The process, if it is still the one that was started (pids are reused)."""
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.01:
            return None
        return proc
    except psutil.Error:
        return None


def postmaster(pgdata: Path) -> psutil.Process | None:
    """The server running on `pgdata`, from the first line of its postmaster.pid."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return None
    proc = _process(pid, None)
    with contextlib.suppress(psutil.Error):
        if proc is not None and proc.name() == "postgres":
            return proc
    return None


def stop(procs: list[psutil.Process], sig: int) -> None:
    """`sig` first, SIGKILL for what has not exited after STOP_WAIT_S."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)
    _, alive = psutil.wait_procs(procs, timeout=STOP_WAIT_S)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=STOP_WAIT_S)


def clean_up(children: list[psutil.Process], pgdata: Path, remove: Path | None) -> None:
    stop([c for c in children if c.is_running()], signal.SIGTERM)
    if (server := postmaster(pgdata)) is not None:
        stop([server], signal.SIGQUIT)  # immediate shutdown: it stops its backends itself
    if remove is not None:
        shutil.rmtree(remove, ignore_errors=True)


def watch(lines, pgdata: Path, remove: Path | None) -> None:
    children: list[psutil.Process] = []
    for line in lines:
        with contextlib.suppress(ValueError):
            pid, create_time = line.split()
            if (proc := _process(int(pid), float(create_time))) is not None:
                children.append(proc)
    clean_up(children, pgdata, remove)


def start(pgdata: Path, remove: Path | None) -> subprocess.Popen:
    """The guardian for this process; write `announce(...)` lines to its stdin."""
    args = [sys.executable, "-m", "backend.guardian", "--pgdata", str(pgdata)]
    if remove is not None:
        args += ["--remove", str(remove)]
    # Its own session: a Ctrl-C or a kill of the launcher's process group must not reach it.
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(args, cwd=root, stdin=subprocess.PIPE, text=True, start_new_session=True)


def announce(guardian: subprocess.Popen, pid: int) -> None:
    """Tell the guardian about a started process (its start time tells it from a later one with the same pid)."""
    with contextlib.suppress(psutil.Error, OSError):
        guardian.stdin.write(f"{pid} {psutil.Process(pid).create_time()}\n")
        guardian.stdin.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pgdata", type=Path, required=True)
    parser.add_argument("--remove", type=Path, help="a folder to delete once everything is stopped")
    args = parser.parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's signals are the launcher's to handle
    watch(sys.stdin, args.pgdata, args.remove)
    return 0


if __name__ == "__main__":
    sys.exit(main())
