"""The most requests/s the gate drives on this machine, with 1 and 2 Locust processes.

    python -m benchmarks.locust_throughput --repeats 3 --run-time 20s --users 50

Each run is a real perf-gate run (`--backend-cmd`) against the fastest
service there is (benchmarks/load/echo_app.py under uvicorn: one constant
answer), by users with no think time, so the load generator is the limit.
1 and 2 processes are interleaved; the table gives each run's requests/s and
Locust's CPU warnings, then the medians and their ratio. On a machine with
as many cores as processes plus the service, the ratio says how well
`--processes` scales; on fewer, they compete. Numbers, not a verdict.

The defaults make 6 runs (3 repeats of 1 and 2 processes) of 20 s of load:
2 minutes of load plus each run's start and reports, a few minutes in all.
Writes nothing outside temporary folders.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from perfgate import results

ROOT = Path(__file__).resolve().parents[1]
LOAD = Path(__file__).parent / "load"
SERVICE = "uvicorn benchmarks.load.echo_app:app --port {port} --log-level warning --no-access-log"


def run(processes: int, args: argparse.Namespace, out: Path) -> tuple[float, bool]:
    cmd = [
        sys.executable, "-m", "perfgate.run",
        "--locustfile", str(LOAD / "locustfile.py"), "--thresholds", str(LOAD / "thresholds.json"),
        "--backend-cmd", SERVICE, "--health-path", "/",
        "--users", str(args.users), "--spawn-rate", str(args.users), "--run-time", args.run_time,
        "--processes", str(processes), "--results", str(out),
    ]  # fmt: skip
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    verdict = json.loads((out / "verdict.json").read_text())
    if verdict["problems"]:
        sys.exit(f"the gate gave no verdict: {verdict['problems'][0]}")
    return results.load(out / "locust").aggregate.rps, bool(verdict.get("load_generator_overloaded"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--run-time", default="20s")
    p.add_argument("--users", type=int, default=50)
    args = p.parse_args()
    got: dict[int, list[float]] = {1: [], 2: []}
    print(f"{'run':>4} {'processes':>9} {'requests/s':>11} {'Locust CPU warning':>19}")
    for i in range(args.repeats):
        for processes in (1, 2):
            with tempfile.TemporaryDirectory() as tmp:
                rps, overloaded = run(processes, args, Path(tmp) / "results")
            got[processes].append(rps)
            print(f"{i + 1:>4} {processes:>9} {rps:>11.0f} {'yes' if overloaded else 'no':>19}", flush=True)
    one, two = statistics.median(got[1]), statistics.median(got[2])
    print(
        f"median requests/s: 1 process {one:.0f}, 2 processes {two:.0f}; ratio {two / one:.2f} ({os.cpu_count()} CPUs)"
    )


if __name__ == "__main__":
    main()
