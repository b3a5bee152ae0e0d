"""A side's CPU and memory, read from the kernel's counters (perfgate.resources)."""

import csv
import subprocess
import sys
import textwrap
import time
from pathlib import Path

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
    proc.wait()
    assert meter.read() is None


def cgroup_files(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_cgroups_v2_are_read_as_cpu_usage_and_working_set(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    (root / "cgroup.controllers").parent.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory\n")
    for pid, name, usec, current, inactive in ((11, "a", 1_500_000, 5000, 1000), (12, "b", 500_000, 24, 0)):
        cgroup_files(proc / str(pid), {"cgroup": f"0::/system.slice/docker-{name}.scope\n"})
        cgroup_files(
            root / "system.slice" / f"docker-{name}.scope",
            {"cpu.stat": f"usage_usec {usec}\nuser_usec 1\n", "memory.current": f"{current}\n",
             "memory.stat": f"anon 10\ninactive_file {inactive}\n"},
        )  # fmt: skip
    meter = resources.containers([11, 12], root, proc)
    assert meter.method == "cgroup" and meter.read() == resources.Reading(2.0, 4024)
    assert resources.containers([11, 13], root, proc) is None  # a container whose process is gone
    assert resources.containers([], root, proc) is None


def test_cgroups_v1_are_read_from_cpuacct_and_memory(tmp_path):
    root, proc = tmp_path / "cgroup", tmp_path / "proc"
    cgroup_files(proc / "7", {"cgroup": "12:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n0::/\n"})
    cgroup_files(root / "cpu,cpuacct" / "docker" / "abc", {"cpuacct.usage": "2500000000\n"})
    cgroup_files(
        root / "memory" / "docker" / "abc",
        {"memory.usage_in_bytes": "9000\n", "memory.stat": "rss 10\ntotal_inactive_file 1000\n"},
    )
    assert resources.containers([7], root, proc).read() == resources.Reading(2.5, 8000)
    (root / "memory" / "docker" / "abc" / "memory.usage_in_bytes").unlink()
    assert resources.containers([7], root, proc).read() is None  # unreadable now: no reading, not a zero


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
