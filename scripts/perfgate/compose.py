"""`docker compose` as the gate drives it: its output on stderr (the gate's
stdout is the Markdown report), its own error kept for the report, an
interrupt passed on to it and waited for, and a teardown that is checked,
retried, and names what it could not remove."""

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

STOP_WAIT_S = 60.0  # an interrupted compose command gets this long to stop by itself
DOWN_ATTEMPTS = 3
TAIL_LINES = 40
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEFAULT_INTERVAL_S = 30.0  # Docker's, for a check that names no interval


@dataclass
class Outcome:
    code: int
    tail: list[str]  # its last lines of output
    interrupted: bool = False  # a shielded command that was interrupted ran to its end

    def error_line(self) -> str:
        """The line that says what went wrong: compose's last line that begins
        with "error" (v2's `Error response from daemon: ...`, v1's `ERROR: for
        ...`), else its last that mentions an error or a failure, else its last."""
        lines = [line.strip() for line in self.tail if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        mentions = [line for line in lines if "error" in line.lower() or "failed" in line.lower()]
        return (errors or mentions or lines or [f"exit {self.code}"])[-1]

    def hint(self) -> str | None:
        """What to do about an error whose own words do not say it."""
        if any("start_interval" in line and "regexes" in line for line in self.tail):
            return (
                "healthcheck start_interval needs compose v2 (`docker compose`) and Docker Engine 25 or later; "
                "this is docker-compose v1, which does not know it"
            )
        return None


def run(cwd: Path, env: Mapping[str, str], args: list[str], out: TextIO | None = None, shield: bool = False) -> Outcome:
    """One docker command; its output copied to `out` (stderr by default).

    It runs in its own session, so a Ctrl-C at the terminal reaches only the
    gate, which passes it on (SIGINT) and waits for the command to stop rather
    than killing it half-way. With `shield`, used for teardown, it is not passed
    on: the command finishes, and the outcome says it was interrupted."""
    out = out or sys.stderr
    proc = subprocess.Popen(
        ["docker", *args],
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def copy() -> None:
        for line in proc.stdout:
            tail.append(line.rstrip("\n"))
            with contextlib.suppress(OSError, ValueError):
                out.write(line)
                out.flush()

    reader = threading.Thread(target=copy, daemon=True)
    interrupted = False
    deadline = None
    while True:
        try:  # from the start: a Ctrl-C however early is passed on, never leaves the command running
            if reader.ident is None:  # not started yet
                reader.start()
            proc.wait(None if deadline is None else max(0.0, deadline - time.monotonic()))
            break
        except KeyboardInterrupt:
            if not interrupted and not shield:
                proc.send_signal(signal.SIGINT)
                deadline = time.monotonic() + STOP_WAIT_S
            interrupted = True
        except subprocess.TimeoutExpired:
            proc.kill()
    reader.join(5)
    proc.stdout.close()
    if interrupted and not shield:
        raise KeyboardInterrupt
    return Outcome(proc.returncode, list(tail), interrupted)


def leftovers(cwd: Path, env: Mapping[str, str], project: str) -> list[str]:
    """Containers, networks and volumes Docker still holds for `project`."""
    found = []
    label = f"label={PROJECT_LABEL}={project}"
    for kind, listing in (
        ("container", ["ps", "-a", "--filter", label, "--format", "{{.Names}}"]),
        ("network", ["network", "ls", "--filter", label, "--format", "{{.Name}}"]),
        ("volume", ["volume", "ls", "--filter", label, "--format", "{{.Name}}"]),
    ):
        proc = subprocess.run(["docker", *listing], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            found.append(f"{kind}s unknown (docker {' '.join(listing[:2])} failed: {proc.stderr.strip()[-200:]})")
        found += [f"{kind} {name}" for name in proc.stdout.split()]
    return found


def container_ids(cwd: Path, env: Mapping[str, str], project: str) -> list[str]:
    """The project's running containers (OSError, TimeoutExpired when Docker cannot be asked)."""
    proc = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label={PROJECT_LABEL}={project}"],
        cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return proc.stdout.split()


@dataclass(frozen=True)
class HealthCheck:
    service: str
    interval_s: float  # between checks once the container is healthy
    start_interval_s: float | None  # between checks while it starts (Docker Engine 25+)


def inspect(cwd: Path, env: Mapping[str, str], project: str) -> list[dict]:
    """The project's running containers as `docker inspect` describes them;
    empty when Docker cannot say, since what is read from them only informs
    a report or meters the service."""
    try:
        ids = container_ids(cwd, env, project)
        if not ids:
            return []
        proc = subprocess.run(
            ["docker", "inspect", *ids], cwd=cwd, env=dict(env), capture_output=True, text=True, timeout=60
        )
        containers = json.loads(proc.stdout) if proc.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return []
    return [c for c in containers if isinstance(c, dict)] if isinstance(containers, list) else []


def health_checks(containers: list[dict]) -> list[HealthCheck]:
    """The containers' health checks as Docker will run them (the compose
    file's, else the image's; disabled ones left out)."""
    found = {check for container in containers if (check := _check(container))}
    return sorted(found, key=lambda c: c.service)


def _check(container: dict) -> HealthCheck | None:
    """One `docker inspect` entry's health check; None when it has none (or is not what Docker writes)."""
    try:
        config = container["Config"]
        check = config.get("Healthcheck") or {}
        if not check.get("Test") or check["Test"][0] == "NONE":
            return None
        service = (config.get("Labels") or {}).get(SERVICE_LABEL) or str(container.get("Name", "?")).lstrip("/")
        interval_s = (check.get("Interval") or 0) / 1e9 or DEFAULT_INTERVAL_S
        return HealthCheck(str(service), float(interval_s), (check.get("StartInterval") or 0) / 1e9 or None)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None


def container_pids(containers: list[dict]) -> dict[str, int]:
    """Each container's ID and main process, whose cgroup holds what the container spends."""
    pids = {}
    for container in containers:
        state, ident = container.get("State"), container.get("Id")
        pid = state.get("Pid") if isinstance(state, dict) else None
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0 and isinstance(ident, str) and ident:
            pids[ident] = pid
    return pids


def down(cwd: Path, env: Mapping[str, str], project: str, pause_s: float = 2.0) -> list[str]:
    """`down -v --remove-orphans` until nothing of the project is left, at most
    DOWN_ATTEMPTS times. Returns what is left: what Docker still lists for
    the project (a `down` that failed, e.g. refusing a compose file it cannot
    read, with nothing listed has nothing to remove; its error is in the log).
    An interrupt meanwhile does not stop it: it is raised once everything is
    gone."""
    left: list[str] = []
    interrupted = False
    for attempt in range(DOWN_ATTEMPTS):
        if attempt:
            time.sleep(pause_s)
        outcome = run(cwd, env, ["compose", "-p", project, "down", "-v", "--remove-orphans"], shield=True)
        interrupted |= outcome.interrupted
        left = leftovers(cwd, env, project)
        if not left:
            break
    if interrupted and not left:
        raise KeyboardInterrupt
    return left
