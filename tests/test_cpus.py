import os
import subprocess
import sys

import pytest

from perfgate import backends, cpus


def test_locust_gets_cpus_of_its_own_and_the_services_the_rest():
    placement = cpus.split(1, frozenset({0, 1}))
    assert placement == cpus.Placement(frozenset({0}), frozenset({1}))
    assert placement.describe() == "Locust on CPU 0, the services on CPU 1"
    four = cpus.split(2, frozenset({3, 1, 2, 0}))
    assert four.locust == {0, 1} and four.services == {2, 3}


@pytest.mark.parametrize(("processes", "available"), [(1, {0}), (2, {0, 1}), (4, {0, 1, 2}), (-1, {0, 1})])
def test_no_placement_without_a_cpu_left_for_each(processes, available):
    assert cpus.split(processes, frozenset(available)) is None


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to pin to one of them")
def test_a_child_and_what_it_starts_run_on_the_cpus_given():
    one = frozenset({max(os.sched_getaffinity(0))})
    show = "import os; print(sorted(os.sched_getaffinity(0)))"
    grandchild = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {show!r}])"
    out = subprocess.run(
        [sys.executable, "-c", grandchild], preexec_fn=backends.child_setup(one), capture_output=True, text=True
    )
    assert out.stdout.strip() == str(sorted(one))
    unpinned = subprocess.run(
        [sys.executable, "-c", grandchild], preexec_fn=backends.child_setup(None), capture_output=True, text=True
    )
    assert unpinned.stdout.strip() == str(sorted(os.sched_getaffinity(0)))
