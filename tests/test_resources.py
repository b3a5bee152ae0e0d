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
    assert after.rss_bytes > 5_000_000


def test_a_tree_whose_root_is_gone_reads_nothing():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    meter = resources.ProcessTree(proc.pid)
    proc.wait()
    assert meter.read() is None


def test_a_cgroup_is_read_from_cpu_stat_and_memory_current(tmp_path):
    for name, usec, memory in (("a", 1_500_000, 1000), ("b", 500_000, 24)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cpu.stat").write_text(f"usage_usec {usec}\nuser_usec 1\nsystem_usec 2\n")
        (tmp_path / name / "memory.current").write_text(f"{memory}\n")
    assert resources.Cgroup([tmp_path / "a", tmp_path / "b"]).read() == resources.Reading(2.0, 1024)
    assert resources.Cgroup([tmp_path / "missing"]).read() is None
    (tmp_path / "system.slice" / "docker-abc.scope").mkdir(parents=True)
    assert resources.container_cgroups(["abc"], tmp_path) == [tmp_path / "system.slice" / "docker-abc.scope"]
    assert resources.container_cgroups(["abc", "zzz"], tmp_path) is None


class Counter:
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
    assert cpus == sorted(cpus) and rows[0]["rss_bytes"] == "7"
