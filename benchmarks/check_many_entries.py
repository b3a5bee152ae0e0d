"""How long the checker takes as the number of entries grows (goal: 40,000 entries in under 2 s).

    python -m benchmarks.check_many_entries --entries 1000,10000,40000 --repeats 3

Each size is a results folder written here: a stats CSV with one row per entry
and the aggregate, raw samples (--samples per entry), run info, and a
thresholds file that either names every entry with a p95 limit ("named": the
failure guard adds a rule each, so two rules per entry) or names three of
them ("unnamed": what a locustfile that forgot to group URLs produces).
Prints the median wall time of `perf-check`'s whole path (load, check,
stalls, reports; not the timeline picture) and the time per entry, which
stays flat when the work is linear. Raw samples cost per sample, not per
entry: the last table times 1,000,000 of them over 1,000 entries.

No load and no backend: the defaults (7 sizes, each checked 3 times, the
slowest about 4 s a check on a 2-core machine) take under a minute. Writes
nothing outside temporary folders.
"""

import argparse
import csv
import io
import json
import statistics
import tempfile
import time
from pathlib import Path

from perfgate import check_cli, results

T0 = 1_800_000_000.0


def write_run(folder: Path, n: int, samples: int = 2, named: bool = True) -> Path:
    names = [f"/items/{i}" for i in range(n)]
    with (folder / "locust_stats.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["Type", "Name", *results.REQUIRED_COLUMNS[2:]])
        for name in names:
            w.writerow(["GET", name, 100, 0, 5.0, 9.0, 10.0, *[5] * 11])
        w.writerow(["", "Aggregated", 100 * n, 0, 5.0, 9.0, 10.0 * n, *[5] * 11])
    with (folder / "locust_raw.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["time", "type", "name", "response_time_ms", "ok"])
        for i, name in enumerate(names):
            for k in range(samples):
                w.writerow([f"{T0 + (i * 0.37 + k * 7) % 30:.4f}", "GET", name, "5.000", 1])
    info = {"start_time": T0, "spawning_complete_time": T0, "stop_time": T0 + 30}
    (folder / "locust_run_info.json").write_text(json.dumps(info))
    thresholds = folder / "thresholds.json"
    limited = names if named else names[:3]
    thresholds.write_text(json.dumps({"entries": {f"GET {name}": {"p95_ms": 100} for name in limited}}))
    return thresholds


def time_check(folder: Path, thresholds: Path) -> tuple[float, int]:
    args = check_cli.build_parser().parse_args(["--results", str(folder), "--thresholds", str(thresholds)])
    start = time.perf_counter()
    verdict, _ = check_cli.evaluate(args)
    check_cli.finish(verdict, folder, {}, io.StringIO(), io.StringIO())
    return time.perf_counter() - start, verdict.exit_code


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", default="1000,10000,40000")
    parser.add_argument("--samples", type=int, default=2, help="raw samples per entry")
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args(argv)
    print("| thresholds | entries | raw samples | rules | median s | µs per entry | exit |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    sizes = [(named, n, opts.samples) for named in (True, False) for n in map(int, opts.entries.split(","))]
    for named, n, samples in [*sizes, (False, min(1000, max(map(int, opts.entries.split(",")))), 1000)]:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            thresholds = write_run(folder, n, samples, named)
            runs = [time_check(folder, thresholds) for _ in range(opts.repeats)]
            median = statistics.median(t for t, _ in runs)
            rules = len(json.loads((folder / "verdict.json").read_text())["results"])
            kind = "named" if named else "unnamed"
            cells = [kind, f"{n:,}", f"{n * samples:,}", f"{rules:,}", f"{median:.2f}", f"{median / n * 1e6:.0f}"]
            print("| " + " | ".join([*cells, str(runs[0][1])]) + " |")


if __name__ == "__main__":
    main()
