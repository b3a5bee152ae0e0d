"""What each side of a run spends: CPU seconds and resident memory of
everything the side runs, read from counters the kernel keeps.

Two ways to read a side, chosen per side and named in the run info:

- `cgroup`: a cgroup v2 folder (a compose service's container); `cpu.stat`'s
  `usage_usec` and `memory.current`, which count processes that have exited;
- `proc`: a process tree under a root process (the embedded launcher, a
  `--backend-cmd` process group); every live process's user and system time
  plus the times of the children each has reaped (PostgreSQL's postmaster
  reaps its backends, a launcher its workers), and the sum of their resident
  sets.

A `Sampler` reads every side a few times a second while Locust runs and
writes one CSV row per side per read (`<prefix>_resources.csv`): the CPU
counter is cumulative, so the checker reads it at the edges of the judged
span, and the memory samples give its peak.
"""

import csv
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

COLUMNS = ["time", "side", "cpu_s", "rss_bytes"]
FILE = "resources.csv"  # after the prefix: locust_resources.csv
INTERVAL_S = 0.25  # often enough for the peak of a memory that grows over seconds


@dataclass(frozen=True)
class Reading:
    cpu_s: float  # cumulative CPU seconds (user + system) of everything the side runs
    rss_bytes: int  # resident memory now


class ProcessTree:
    """A root process and all its descendants, read from /proc through psutil."""

    method = "proc"

    def __init__(self, pid: int):
        self.root = psutil.Process(pid)

    def read(self) -> Reading | None:
        """A process that exited is in the sum until it is reaped (a zombie
        keeps its times) and after (in its parent's children's times)."""
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return None
        cpu, rss = 0.0, 0
        for proc in procs:
            try:
                with proc.oneshot():
                    t = proc.cpu_times()
                    cpu += t.user + t.system + t.children_user + t.children_system
                    rss += proc.memory_info().rss
            except psutil.Error:
                continue  # gone between the listing and the read: its parent has its times
        return Reading(cpu, rss)


class Cgroup:
    """A cgroup v2 folder (or several: a compose project's containers)."""

    method = "cgroup"

    def __init__(self, folders: list[Path]):
        self.folders = folders

    def read(self) -> Reading | None:
        cpu, rss = 0.0, 0
        try:
            for folder in self.folders:
                stat = dict(line.split() for line in (folder / "cpu.stat").read_text().splitlines())
                cpu += int(stat["usage_usec"]) / 1e6
                rss += int((folder / "memory.current").read_text())
        except (OSError, KeyError, ValueError):
            return None
        return Reading(cpu, rss)


def container_cgroups(ids: list[str], root: Path = Path("/sys/fs/cgroup")) -> list[Path] | None:
    """The cgroup v2 folders of Docker containers, under systemd's or cgroupfs' layout."""
    folders = []
    for cid in ids:
        found = [p for p in (root / "system.slice" / f"docker-{cid}.scope", root / "docker" / cid) if p.is_dir()]
        if not found:
            return None
        folders.append(found[0])
    return folders


class Sampler:
    """Reads each side's meter every INTERVAL_S on a thread of its own and
    writes the rows to `path`; a side whose meter stops answering is left out
    from then on (the checker says so when its span has no reading)."""

    def __init__(self, path: Path, meters: dict[str, object], clock: Callable[[], float] = time.time):
        self.path, self.meters, self.clock = path, meters, clock
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
        self._sample()
        self._file.close()

    def _sample(self) -> None:
        for side, meter in self.meters.items():
            reading = meter.read()
            if reading is not None:
                self._writer.writerow([f"{self.clock():.3f}", side, f"{reading.cpu_s:.4f}", reading.rss_bytes])
        self._file.flush()

    def _run(self) -> None:
        while not self._stop.wait(INTERVAL_S):
            self._sample()
