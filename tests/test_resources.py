"""A side's CPU and memory, read from the kernel's counters (perfgate.resources)."""

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil

from perfgate import resources

# A parent that starts three children one after another, each burning a known amount of CPU and
# exiting (the parent reaps them), then burns some itself; each prints the CPU it used.
TREE = textwrap.dedent(
    """
    import subprocess, sys, time
    BURN = ("import time\\nend = time.process_time() + 0.25\\n"
            "while time.process_time() < end: pass\\nprint(time.process_time())")
    sys.stdin.readline()  # go
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", BURN], capture_output=True, text=True).stdout
        print("child", out.strip(), flush=True)
    end = time.process_time() + 0.25
    while time.process_time() < end:
        pass
    print("parent", time.process_time(), flush=True)
    sys.stdin.readline()  # stay until read
    """
)


def test_a_process_tree_counts_children_that_exited_during_the_span():
    proc = subprocess.Popen([sys.executable, "-c", TREE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        meter = resources.ProcessTree(proc.pid)
        before = meter.read()
        proc.stdin.write("go\n")
        proc.stdin.flush()
        lines = [proc.stdout.readline().split() for _ in range(4)]
        after = meter.read()
    finally:
        proc.stdin.write("done\n")
        proc.stdin.close()
        proc.wait(10)
        proc.stdout.close()
    children = sum(float(cpu) for kind, cpu in lines[:3])  # each child's whole life, interpreter start-up too
    known = children + 0.25  # and the parent's own burn
    spent = after.cpu_s - before.cpu_s
    # within 5%, beside the parent's few milliseconds of starting the children and printing
    assert children >= 0.75 and known * 0.95 <= spent <= known * 1.05 + 0.05, (spent, known, lines)
    assert after.memory_bytes > 5_000_000


def test_a_tree_whose_root_is_gone_reads_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    meter = resources.ProcessTree(proc.pid)
    deadline = time.monotonic() + 10
    while meter.root.status() != psutil.STATUS_ZOMBIE and time.monotonic() < deadline:
        time.sleep(0.01)  # exited, not yet reaped: its children have left its tree
    assert meter.read() is None
    proc.wait()
    assert meter.read() is None


def test_a_tree_that_runs_a_container_client_says_it_misses_the_container(tmp_path):
    client = tmp_path / "docker"
    client.write_text("#!/bin/sh\nsleep 30\n")  # a process named docker, as `docker run` is
    client.chmod(0o755)
    proc = subprocess.Popen(["sh", "-c", f"{client}; true"], start_new_session=True)
    try:
        meter = resources.ProcessTree(proc.pid)
        deadline = time.monotonic() + 10
        while meter.misses() is None and time.monotonic() < deadline:
            meter.read()
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert "container client, docker (PID" in meter.misses() and "--backend compose" in meter.misses()


A, B, C = (("0123456789abcdef" * 4).replace("0", x) for x in "abc")  # container IDs as Docker gives them


def cgroup_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_cgroups_v2_are_read_as_cpu_usage_and_working_set(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    (root / "cgroup.controllers").parent.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for pid, name, usec, current, inactive in ((11, A, 1_500_000, 5000, 1000), (12, B, 500_000, 24, 0)):
        cgroup_files(proc / str(pid), {"cgroup": f"0::/system.slice/docker-{name}.scope\n"})
        cgroup_files(
            root / "system.slice" / f"docker-{name}.scope",
            {"cpu.stat": f"usage_usec {usec}\nuser_usec 1\n", "memory.current": f"{current}\n",
             "memory.stat": f"anon 10\ninactive_file {inactive}\n"},
        )  # fmt: skip
    meter = resources.containers({A: 11, B: 12}, root, proc)
    assert meter.method == "cgroup" and meter.read() == resources.Reading(2.0, 4024) and meter.misses() is None
    assert resources.containers({A: 11, C: 13}, root, proc) is None  # a container whose process is gone
    assert resources.containers({}, root, proc) is None


def test_a_cgroup_that_does_not_name_its_container_is_not_read(tmp_path):
    """A PID from another namespace (Docker Desktop's VM) is some other process here."""
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    (root / "cgroup.controllers").parent.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    cgroup_files(proc / "11", {"cgroup": "0::/user.slice/session-1.scope\n"})
    cgroup_files(proc / "12", {"cgroup": "0::/\n"})
    for folder in (root / "user.slice" / "session-1.scope", root):
        cgroup_files(folder, {"cpu.stat": "usage_usec 1\n", "memory.current": "1\n", "memory.stat": ""})
    assert resources.containers({A: 11}, root, proc) is None
    assert resources.containers({A: 12}, root, proc) is None  # the root cgroup: the whole machine


def test_cgroups_v1_are_read_from_cpuacct_and_memory(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    cgroup_files(proc / "7", {"cgroup": f"12:memory:/docker/{A}\n4:cpu,cpuacct:/docker/{A}\n0::/\n"})
    cgroup_files(root / "cpu,cpuacct" / "docker" / A, {"cpuacct.usage": "2500000000\n"})
    cgroup_files(
        root / "memory" / "docker" / A,
        {"memory.usage_in_bytes": "9000\n", "memory.stat": "rss 10\ntotal_inactive_file 1000\n"},
    )
    assert resources.containers({A: 7}, root, proc).read() == resources.Reading(2.5, 8000)
    assert resources.containers({B: 7}, root, proc) is None
    (root / "memory" / "docker" / A / "memory.usage_in_bytes").unlink()
    assert resources.containers({A: 7}, root, proc).read() is None  # unreadable now: no reading, not a zero


class Counter:
    method = "test"

    def __init__(self):
        self.cpu = 0.0

    def read(self):
        self.cpu += 1.0
        return resources.Reading(self.cpu, 7)


def test_the_sampler_writes_a_row_per_side_per_read(tmp_path: Path):
    path = tmp_path / "locust_resources.csv"
    with resources.Sampler(path, {"baseline": Counter(), "candidate": Counter()}):
        time.sleep(resources.INTERVAL_S * 2.5)
    with path.open() as f:
        rows = list(csv.DictReader(f))
    sides = [row["side"] for row in rows]
    assert sides.count("baseline") == sides.count("candidate") >= 3  # first, every interval, last
    cpus = [float(row["cpu_s"]) for row in rows if row["side"] == "baseline"]
    assert cpus == sorted(cpus) and rows[0]["memory_bytes"] == "7" and rows[0]["method"] == "test"


def test_a_side_is_read_when_any_trial_read_it():
    client = {"baseline": "proc", "candidate": "unavailable: a container client"}
    assert resources.over_trials({}, client) == client
    assert resources.over_trials(client, client) == client  # every trial: the candidate is never judged
    read = {"baseline": "proc", "candidate": "proc"}
    assert resources.over_trials(client, read) == read
    once = {"baseline": "proc", "candidate": "unavailable: docker inspect failed"}
    assert resources.over_trials({"baseline": "proc", "candidate": "cgroup"}, once)["candidate"] == "cgroup"
