"""Which CPUs the load generator and the services under test run on, when
asked (`--pin-cpus auto`).

Left to the scheduler on a small runner, where Locust and two backends share
a couple of cores, the placement differs from one fresh start to the next:
in one trial a backend shares Locust's core and the other does not. Keeping
Locust on CPUs of its own and both backends on the rest makes the two sides'
surroundings alike, at the price of the CPU Locust leaves idle. On this
repository's 2-core machine the price was the higher: with both backends on
one core the trials' ratios spread more, not less (docs/research.md: Where Locust and the services run), so
pinning is off unless asked for.
"""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Placement:
    locust: frozenset[int]
    services: frozenset[int]

    def describe(self) -> str:
        return f"Locust on CPU {_cpus(self.locust)}, the services on CPU {_cpus(self.services)}"


def _cpus(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def available() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


def split(locust_processes: int, cpus: frozenset[int]) -> Placement | None:
    """Locust's processes on the first CPUs, the services on the rest; None
    when there are not enough CPUs to give both some (one CPU, or a Locust
    process per CPU)."""
    ordered = sorted(cpus)
    if locust_processes < 1 or locust_processes >= len(ordered):
        return None
    return Placement(frozenset(ordered[:locust_processes]), frozenset(ordered[locust_processes:]))
