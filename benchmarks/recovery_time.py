"""How long the embedded backend takes to recover when PostgreSQL is killed.

    python -m benchmarks.recovery_time --trials 5 --workers 2

Starts `python -m backend.embedded`, then per trial: SIGKILLs the postmaster
(no one else acts; the launcher restarts it) and measures the seconds from the
kill to the first `/health` 200 and to the first request submitted after the
kill that reads back `COMPLETE`. A light load (one client submitting in a
loop) runs throughout. Prints each trial and the median. Numbers, not a verdict.

Each trial waits 3 s for the backend to settle, then as long as recovery
takes (2-10 s on a 2-core machine; --timeout at most): the default 5 trials
take about a minute with the backend's start. Writes nothing outside a
temporary folder.
"""

import argparse
import os
import signal
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from perfgate import backends

ROOT = Path(__file__).resolve().parents[1]


def postmaster_pid(log: Path) -> int:
    line = next(line for line in log.read_text().splitlines() if "backend up" in line)
    pgdata = Path(line.split("postgres ")[-1])
    return int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])


def first_health(url: str, since: float, timeout_s: float) -> float:
    with httpx.Client(base_url=url, timeout=2) as client:
        while time.monotonic() - since < timeout_s:
            try:
                if client.get("/health").status_code == 200:
                    return time.monotonic() - since
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    return float("nan")


def first_completion(url: str, since: float, timeout_s: float) -> float:
    """Submit until one is accepted, then read it until it is COMPLETE."""
    with httpx.Client(base_url=url, timeout=2) as client:
        location = None
        while time.monotonic() - since < timeout_s:
            try:
                if location is None:
                    resp = client.post("/requests", json={"params": {"probe": True}})
                    location = resp.headers["Location"] if resp.status_code == 202 else None
                elif client.get(location).json().get("status") == "COMPLETE":
                    return time.monotonic() - since
            except (httpx.TransportError, ValueError):
                pass
            time.sleep(0.05)
    return float("nan")


def light_load(url: str, stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=2) as client:
        while not stop.is_set():
            try:
                client.post("/requests", json={"params": {}})
            except httpx.TransportError:
                pass
            time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=60.0, help="give a trial up after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "backend.log"
        env = {**os.environ, "BACKEND_PROCESSING_MS": "20"}
        with backends.embedded(ROOT, log, env, workers=args.workers) as backend:
            backends.wait_healthy(backend, 60)
            stop = threading.Event()
            threading.Thread(target=light_load, args=(backend.url, stop), daemon=True).start()
            health, complete = [], []
            print(f"{'trial':>5} {'to /health 200':>15} {'to first COMPLETE':>18}")
            for trial in range(1, args.trials + 1):
                time.sleep(3)  # settled
                os.kill(postmaster_pid(log), signal.SIGKILL)
                killed = time.monotonic()
                with ThreadPoolExecutor(1) as pool:
                    completed = pool.submit(first_completion, backend.url, killed, args.timeout)
                    health.append(first_health(backend.url, killed, args.timeout))
                    complete.append(completed.result())
                print(f"{trial:>5} {health[-1]:>14.2f}s {complete[-1]:>17.2f}s", flush=True)
            stop.set()
    print(f"median {statistics.median(health):>14.2f}s {statistics.median(complete):>17.2f}s")
    ranges = f"{min(health):.2f}–{max(health):.2f}s   {min(complete):.2f}–{max(complete):.2f}s"
    print(f"range  {ranges}  ({args.trials} trials)")


if __name__ == "__main__":
    main()
