"""How much the embedded backend serves on this machine, with Locust on the same machine.

    python -m benchmarks.backend_throughput --users 40 --run-time 30s --workers 1 --api-processes 1

Prints accepted (POST) and GET requests/s, failures, and p50/p95/p99 of each
entry and of submit-to-complete, read from Locust's CSV. Numbers, not a verdict.

A run is its --run-time of load (30 s by default) after the embedded backend
has started: about a minute. Writes nothing outside a temporary folder.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from perfgate import backends, results

ROOT = Path(__file__).resolve().parents[1]


def run(users: int, run_time: str, workers: int, api_processes: int, processing_ms: float, out: Path) -> None:
    env = {**os.environ, "BACKEND_PROCESSING_MS": str(processing_ms)}
    log = out / "backend.log"
    cmd_extra = ["--api-processes", str(api_processes)]
    with backends.embedded(ROOT, log, env, workers=workers, extra_args=cmd_extra) as backend:
        backends.wait_healthy(backend, 60)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "locust",
                "-f",
                str(ROOT / "locustfile.py"),
                "--headless",
                "--host",
                backend.url,
                "--users",
                str(users),
                "--spawn-rate",
                str(users),
                "--run-time",
                run_time,
                "--csv",
                str(out / "locust"),
                "--reset-stats",
                "--only-summary",
                "--run-info",
                str(out / "locust_run_info.json"),
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    run_results = results.load(out / "locust")
    print(
        f"users={users} workers={workers} api_processes={api_processes} processing_ms={processing_ms:g} "
        f"run_time={run_time} locust_cpu_warning={run_results.run_info.get('cpu_warning')}"
    )
    print(f"{'entry':28} {'req/s':>8} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6}")
    for key in ("POST /requests", "GET /requests/{id}", "ASYNC submit-to-complete"):
        s = run_results.entries[key]
        print(
            f"{key:28} {s.rps:8.1f} {s.failures:6d} {s.metric('p50_ms'):6.0f} {s.metric('p95_ms'):6.0f} "
            f"{s.metric('p99_ms'):6.0f}"
        )
    http = run_results.entries["POST /requests"].rps + run_results.entries["GET /requests/{id}"].rps
    print(f"{'HTTP total':28} {http:8.1f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=40)
    p.add_argument("--run-time", default="30s")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--api-processes", type=int, default=1)
    p.add_argument("--processing-ms", type=float, default=50)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run(a.users, a.run_time, a.workers, a.api_processes, a.processing_ms, Path(tmp))


if __name__ == "__main__":
    main()
