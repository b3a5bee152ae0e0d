"""What each side of a run spends: CPU seconds and memory of everything the
side runs, read from counters the kernel keeps.

Two ways to read a side, chosen per side and named in the readings:

- `cgroup`: the cgroups of a compose project's containers (v2, or v1's
  cpuacct and memory controllers), found from each container's main
  process; CPU from `cpu.stat`'s `usage_usec` (v1: `cpuacct.usage`), which
  counts processes that have exited, and memory as Docker's and
  Kubernetes' "working set": usage less the inactive page cache;
- `proc`: a process tree under a root process (the embedded launcher, a
  `--backend-cmd` command). The gate makes that root a child subreaper, so
  a process that daemonizes (`pg_ctl` starting PostgreSQL) stays in its
  tree. CPU: every live process's user and system time plus the times of the
  children each has reaped; memory: the sum of their proportional set sizes
  (PSS), which counts a page shared by several processes (PostgreSQL's
  shared buffers) once, not once per process as resident sizes would.

A `Sampler` reads every side a few times a second while Locust runs and
writes one CSV row per side per read (`<prefix>_resources.csv`), each
marked with the sampler's own session (one per trial: a trial's backends
are new processes whose counters start again): the CPU counter is
cumulative, so the checker reads it at the edges of the judged span, and
the memory samples give its peak.
"""

import csv
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import psutil

COLUMNS = ["time", "session", "side", "method", "cpu_s", "memory_bytes"]
SUFFIX = "_resources.csv"  # after the prefix: locust_resources.csv
INTERVAL_S = 0.5  # often enough for the peak of a memory that grows over seconds
CGROUP_ROOT = Path("/sys/fs/cgroup")
UNAVAILABLE = "unavailable: "  # a side with no meter, as the run context names it: "unavailable: why"


def over_trials(before: dict[str, str], trial: dict[str, str]) -> dict[str, str]:
    """How each side was read (method, or UNAVAILABLE and why) over the trials
    so far: read when any trial read it (a trial that could not has no
    readings, and is left out as a trial without samples would be), else
    unread for the latest trial's reason."""
    return {**trial, **{side: how for side, how in before.items() if not how.startswith(UNAVAILABLE)}}


@dataclass(frozen=True)
class Reading:
    cpu_s: float  # cumulative CPU seconds (user + system) of everything the side runs
    memory_bytes: int  # memory in use now


class Meter(Protocol):
    method: str

    def read(self) -> Reading | None: ...

    def misses(self) -> str | None:
        """Why what this meter reads is not what the side runs, once a read has shown it."""
        ...


# Command-line clients that run what they start elsewhere: in a container, a VM or a cluster.
CONTAINER_CLIENTS = frozenset({"docker", "docker-compose", "podman", "podman-compose", "nerdctl", "kubectl"})


class ProcessTree:
    """A root process and all its descendants, read from /proc through psutil."""

    method = "proc"

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)
        self.client: str | None = None  # a container client seen in the tree

    def read(self) -> Reading | None:
        """A process that exited is in the sum until it is reaped (a zombie
        keeps its times) and after (in its parent's children's times). A
        root that exited reads nothing: its descendants have left its tree."""
        try:
            if self.root.status() == psutil.STATUS_ZOMBIE:
                return None
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu, memory = 0.0, 0
        for proc in procs:
            try:
                with proc.oneshot():
                    if self.client is None and (name := proc.name()) in CONTAINER_CLIENTS:
                        self.client = f"{name} (PID {proc.pid})"
                    t = proc.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                    memory += _pss(proc)
            except psutil.Error:
                continue  # gone between the listing and the read: its parent has its times
        return Reading(cpu, memory)

    def misses(self) -> str | None:
        if self.client is None:
            return None
        return (
            f"its process tree runs a container client, {self.client}: what the container runs is not in the "
            "tree (for a compose project use --backend compose, which reads the containers' cgroups; else start "
            "the service itself)"
        )


def _pss(proc: psutil.Process) -> int:
    """Proportional set size; the resident size where smaps cannot be read (another user's process)."""
    try:
        return proc.memory_full_info().pss
    except (psutil.AccessDenied, AttributeError):
        return proc.memory_info().rss


@dataclass(frozen=True)
class CgroupFolders:
    """One container's cgroup: a v2 folder, or v1's cpuacct and memory folders."""

    cpu: Path
    memory: Path
    v2: bool


def _stat(path: Path) -> dict[str, int]:
    return {key: int(value) for key, value in (line.split() for line in path.read_text().splitlines())}


class Cgroup:
    """The cgroups of several containers (a compose project's), summed."""

    method = "cgroup"

    def __init__(self, groups: list[CgroupFolders]):
        self.groups = groups

    def read(self) -> Reading | None:
        cpu, memory = 0.0, 0
        try:
            for g in self.groups:
                if g.v2:
                    cpu += _stat(g.cpu / "cpu.stat")["usage_usec"] / 1e6
                    usage = int((g.memory / "memory.current").read_text())
                    inactive = _stat(g.memory / "memory.stat").get("inactive_file", 0)
                else:
                    cpu += int((g.cpu / "cpuacct.usage").read_text()) / 1e9
                    usage = int((g.memory / "memory.usage_in_bytes").read_text())
                    inactive = _stat(g.memory / "memory.stat").get("total_inactive_file", 0)
                memory += max(0, usage - inactive)
        except (OSError, KeyError, ValueError):
            return None
        return Reading(cpu, memory)

    def misses(self) -> str | None:
        return None


def cgroup_of(
    pid: int, root: Path = CGROUP_ROOT, proc: Path = Path("/proc"), *, naming: str = ""
) -> CgroupFolders | None:
    """The cgroup a process is in, from /proc/PID/cgroup: the unified
    hierarchy when it is mounted at `root`, else v1's cpuacct and memory.
    None when its path does not hold `naming` (a container's ID): the PID
    Docker gives is then another namespace's (Docker Desktop's VM), and this
    machine's process of that number is some other one."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    paths: dict[str, str] = {}
    for line in lines:
        _, controllers, path = line.split(":", 2)
        for name in controllers.split(",") if controllers else [""]:
            paths[name] = path.lstrip("/")
    v2 = (root / "cgroup.controllers").exists() and "" in paths
    wanted = [""] if v2 else ["cpuacct", "memory"]
    if any(name not in paths or naming not in paths[name] for name in wanted):
        return None
    if v2:
        folder = root / paths[""]
        return CgroupFolders(folder, folder, v2=True) if (folder / "cpu.stat").exists() else None
    cpu = next((p for name in ("cpuacct", "cpu,cpuacct") if (p := root / name / paths["cpuacct"]).is_dir()), None)
    memory = root / "memory" / paths["memory"]
    return CgroupFolders(cpu, memory, v2=False) if cpu and memory.is_dir() else None


def containers(pids: dict[str, int], root: Path = CGROUP_ROOT, proc: Path = Path("/proc")) -> Cgroup | None:
    """A meter of the containers, each named by its ID with its main process;
    None when any one's cgroup cannot be found."""
    groups = [cgroup_of(pid, root, proc, naming=container) for container, pid in pids.items()]
    if not groups or None in groups:
        return None
    return Cgroup(groups)  # type: ignore[arg-type]


class Sampler:
    """Reads each side's meter every INTERVAL_S on a thread of its own and
    writes the rows to `path`; a read that fails writes no row, and the
    checker refuses a span with a gap in its readings."""

    def __init__(self, path: Path, meters: dict[str, Meter], clock: Callable[[], float] = time.time):
        self.path, self.meters, self.clock = path, meters, clock
        self.session = uuid.uuid4().hex[:16]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="perfgate-resources", daemon=True)

    def __enter__(self) -> "Sampler":
        self._file = self.path.open("w", newline="")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self._thread.is_alive():  # else it still writes: the file is left to it
            self._sample()
            self._file.close()

    def _sample(self) -> None:
        for side, meter in self.meters.items():
            try:
                reading = meter.read()
            except Exception:  # noqa: BLE001 - a reader that fails leaves a gap, which the checker refuses
                reading = None
            if reading is not None:
                row = [f"{self.clock():.3f}", self.session, side, meter.method, f"{reading.cpu_s:.4f}"]
                row.append(reading.memory_bytes)
                self._writer.writerow(row)
        self._file.flush()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._sample()
