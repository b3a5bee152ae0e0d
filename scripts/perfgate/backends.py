"""Bring the system under test up and down: this repository's backend
embedded (no Docker) or with docker compose, any service from a command line
(`--backend-cmd`), or an already running host. Each is a context manager, so teardown
happens whatever the load test did."""

import contextlib
import ctypes
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from perfgate import compose as docker_compose
from perfgate import resources
from perfgate.errors import ConfigError, NoVerdict

HOST_UNMETERED = "a service at --host: the gate did not start it and cannot read its processes"


@dataclass
class Backend:
    url: str
    log: Path | None = None  # where its output goes, shown when it fails
    exit_code: Callable[[], int | None] = lambda: None  # a started process's poll(): no use waiting on a dead one
    health_path: str = "/health"  # answers 200 when the service is ready
    notes: list[str] = field(default_factory=list)  # what makes its numbers noisier, for the report
    # what it spends (CPU, memory), read while the load runs; else why it cannot be read
    meter: resources.Meter | None = None
    unmetered: str = ""

    def metering(self) -> str:
        """How it was read, as the run context names it: the method, or UNAVAILABLE and why it was not."""
        if self.meter is None:
            return resources.UNAVAILABLE + self.unmetered
        misses = self.meter.misses()
        return resources.UNAVAILABLE + misses if misses else self.meter.method

    def tail(self, lines: int = 40) -> str:
        if self.log is None or not self.log.exists():
            return "(no backend log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def wait_healthy(backend: Backend, timeout_s: float, interval_s: float = 0.25) -> None:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if (code := backend.exit_code()) is not None:
            raise NoVerdict(
                f"backend at {backend.url} exited with {code} before it was healthy; its log ends:\n{backend.tail()}"
            )
        try:
            with urllib.request.urlopen(f"{backend.url}{backend.health_path}", timeout=2) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}: {exc.read()[:200].decode(errors='replace')}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        time.sleep(interval_s)
    raise NoVerdict(
        f"backend at {backend.url} not healthy after {timeout_s:g}s (last: {last}); its log ends:\n{backend.tail()}"
    )


def stop(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def embedded(
    source: Path,
    log: Path,
    env: Mapping[str, str],
    workers: int = 1,
    start_timeout_s: float = 60.0,
    extra_args: list[str] | None = None,
    cpus: frozenset[int] | None = None,
) -> Iterator[Backend]:
    """`python -m backend.embedded` from `source` (this checkout, or a baseline worktree)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "backend.embedded", "--port", "0", "--workers", str(workers), *(extra_args or [])],
            cwd=source,
            env={**env, "PYTHONPATH": str(source)},
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=child_setup(cpus, subreaper=True),  # a killed gate leaves no launcher (or PostgreSQL)
        )
        meter, unmetered = meter_of(proc.pid)
        backend = Backend(url="", log=log, exit_code=proc.poll, meter=meter, unmetered=unmetered)
        try:
            deadline = time.monotonic() + start_timeout_s
            while not backend.url:
                for line in log.read_text(errors="replace").splitlines():
                    if line.startswith("BASE_URL="):
                        backend.url = line.removeprefix("BASE_URL=").strip()
                if proc.poll() is not None:
                    raise NoVerdict(f"embedded backend exited with {proc.returncode}; its log ends:\n{backend.tail()}")
                if time.monotonic() > deadline:
                    raise NoVerdict(
                        f"embedded backend did not start in {start_timeout_s:g}s; its log ends:\n{backend.tail()}"
                    )
                time.sleep(0.1)
            yield backend
        finally:
            stop(proc)


@contextmanager
def compose(
    source: Path,
    project: str,
    log: Path,
    env: Mapping[str, str],
    port: int = 8000,
    compose_file: str | None = None,
    health_path: str = "/health",
) -> Iterator[Backend]:
    """`docker compose up -d --build --wait`; always `down -v`, logs saved first.
    Each project gets its own port, given to the compose file as PERF_GATE_PORT
    (and API_PORT, this repository's name for it), so a baseline and a candidate
    can run at once: a compose file publishes its service as
    "${PERF_GATE_PORT:-8000}:<container port>". `compose_file` is relative to
    `source` (default: compose's own choice, docker-compose.yml here). A
    teardown that leaves anything behind is no verdict, naming what is left."""
    url = f"http://localhost:{port}"
    env = {**env, "API_PORT": str(port), "PERF_GATE_PORT": str(port)}
    if compose_file:
        env["COMPOSE_FILE"] = compose_file
    log.parent.mkdir(parents=True, exist_ok=True)
    if shutil.which("docker") is None:
        raise NoVerdict("docker is not installed; use --backend embedded")

    def save_logs() -> None:
        with log.open("w") as out:
            docker_compose.run(source, env, ["compose", "-p", project, "logs", "--no-color"], out=out, shield=True)

    error: BaseException | None = None
    try:
        up = docker_compose.run(source, env, ["compose", "-p", project, "up", "-d", "--build", "--wait"])
        if up.code != 0:
            save_logs()
            hint = up.hint()
            raise NoVerdict(
                f"docker compose up failed ({up.code}): {up.error_line()}{f' ({hint})' if hint else ''}\n"
                + "its output ends:\n"
                + "\n".join(up.tail[-15:])
                + f"\nthe services' logs end:\n{Backend(url, log).tail()}"
            )
        containers = docker_compose.inspect(source, env, project)
        notes = [health_check_note(c) for c in docker_compose.health_checks(containers) if busy(c)]
        pids = docker_compose.container_pids(containers)
        meter = resources.containers(pids)
        unmetered = "" if meter else unfound(pids)
        try:
            yield Backend(url=url, log=log, health_path=health_path, notes=notes, meter=meter, unmetered=unmetered)
        finally:
            save_logs()
    except BaseException as exc:
        error = exc
        raise
    finally:
        if left := docker_compose.down(source, env, project):
            tries = docker_compose.DOWN_ATTEMPTS
            left_behind = f"docker compose down left behind, after {tries} tries: {', '.join(left)}"
            raise NoVerdict(f"{error}\n{left_behind}" if isinstance(error, NoVerdict) else left_behind) from error


def unfound(pids: dict[str, int]) -> str:
    """Why the containers' cgroups were not read."""
    if not pids:
        return "docker inspect named no running container of the project"
    return (
        f"the cgroups of the containers could not be found under {resources.CGROUP_ROOT} from their main "
        "processes, in a cgroup whose path names the container (Docker on another machine or in a VM, "
        "as Docker Desktop runs it, gives process numbers that are not this machine's)"
    )


def busy(check: docker_compose.HealthCheck) -> bool:
    """Checks more often than Docker's default run many times in every trial's load."""
    return check.interval_s < docker_compose.DEFAULT_INTERVAL_S


def health_check_note(check: docker_compose.HealthCheck) -> str:
    return (
        f"compose service {check.service!r} checks its health every {check.interval_s:g}s while the load runs: "
        "each check starts a process in its container, on both sides of a comparison, which competes with the "
        "service and widens the noise; check often only while it starts (healthcheck start_interval, "
        f"Docker Engine 25+) and every {docker_compose.DEFAULT_INTERVAL_S:g}s or less often once healthy (interval)"
    )


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """For preexec_fn: the child gets SIGTERM if perf-gate itself is killed, so none is orphaned."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def child_setup(cpus: frozenset[int] | None, subreaper: bool = False) -> Callable[[], None]:
    """For preexec_fn: die with perf-gate and, given `cpus`, run there (what
    the child starts inherits them: workers, PostgreSQL, Locust's processes).
    With `subreaper`, the child adopts what its descendants leave orphaned (a
    daemon such as `pg_ctl`'s PostgreSQL), so that its process tree holds
    everything the service runs; the setting survives exec."""

    def setup() -> None:
        die_with_parent()
        if subreaper:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)
        if cpus:
            os.sched_setaffinity(0, cpus)

    return setup


PR_SET_CHILD_SUBREAPER = 36


def meter_of(pid: int) -> tuple[resources.Meter | None, str]:
    """A started service's meter (its process tree), or why it has none."""
    try:
        return resources.ProcessTree(pid), ""
    except Exception as exc:  # noqa: BLE001 - no /proc, no psutil support: judged as unavailable
        return None, f"its processes cannot be read ({exc})"


@contextmanager
def command(
    template: str,
    source: Path,
    log: Path,
    env: Mapping[str, str],
    port: int,
    health_path: str = "/health",
    cpus: frozenset[int] | None = None,
) -> Iterator[Backend]:
    """Any service started by a command line, `{port}` filled in (e.g. "gunicorn
    app:app -b 127.0.0.1:{port}"), run from `source` in a process group of its
    own; stopped with SIGTERM to the whole group (workers too), SIGKILL after 15 s."""
    args = command_args(template, port)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as out:
        try:
            proc = subprocess.Popen(
                args,
                cwd=source,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=child_setup(cpus, subreaper=True),
            )
        except OSError as exc:
            raise NoVerdict(f"--backend-cmd: cannot start {args[0]!r}: {exc.strerror or exc}") from None
    try:
        meter, unmetered = meter_of(proc.pid)
        url = f"http://127.0.0.1:{port}"
        yield Backend(url, log, proc.poll, health_path, meter=meter, unmetered=unmetered)
    finally:
        adopted = descendants(proc.pid)  # daemons in sessions of their own, which the group's signal misses
        stop_group(proc)
        stop_all(adopted)


def command_args(template: str, port: int) -> list[str]:
    """The command line, split as a shell would (no shell runs it)."""
    if "{port}" not in template:
        raise ConfigError(f"--backend-cmd {template!r}: expected a {{port}} placeholder for the port to listen on")
    try:
        args = shlex.split(template.replace("{port}", str(port)))
    except ValueError as exc:
        raise ConfigError(f"--backend-cmd {template!r}: {exc}") from None
    if not args:
        raise ConfigError("--backend-cmd: empty command")
    return args


def stop_group(proc: subprocess.Popen, timeout_s: float = 15.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)  # what the leader left behind


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


def stop_all(procs: list[psutil.Process], timeout_s: float = 15.0) -> None:
    """SIGTERM to those still running, SIGKILL to those still running after `timeout_s`."""
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(alive, timeout=5)


@contextmanager
def running(url: str, health_path: str = "/health") -> Iterator[Backend]:
    yield Backend(url=url.rstrip("/"), health_path=health_path, unmetered=HOST_UNMETERED)
