"""A run made of fresh-start trials, merged into one results folder.

Each trial is its own Locust run against backends started afresh (see
perf-gate's --trials), written to `trial-N/`. The checker reads one run, so
the trials are merged into the usual `locust_*` files: the raw samples end to
end, the run info with each trial's span (`trials`: [start, spawning complete,
stop]), so that stalls and the comparison's windows stay inside a trial, and
which side was started first in each (`candidate_first`, which the comparison
takes out); the stats with counts summed and percentiles recomputed from every raw sample
(Locust's percentiles of separate runs cannot be combined).
"""

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from perfgate.errors import NoVerdict
from perfgate.resources import SUFFIX as RESOURCES
from perfgate.results import load_run_info

PERCENTILES = ["50%", "66%", "75%", "80%", "90%", "95%", "98%", "99%", "99.9%", "99.99%", "100%"]
HEADER = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Median Response Time",
    "Average Response Time",
    "Min Response Time",
    "Max Response Time",
    "Average Content Size",
    "Requests/s",
    "Failures/s",
    *PERCENTILES,
]


def folder(results: Path, n: int) -> Path:
    return results / f"trial-{n}"


def _stats_rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as exc:
        raise NoVerdict(f"{path}: unreadable: {exc.strerror or exc}") from None


def _raw_times(path: Path, spans: list[tuple[float, float]]) -> dict[tuple[str, str], list[float]]:
    """Response times of every sample (failed ones too: Locust's stats include
    them) per (type, name), inside the given spans (the stats' own)."""
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            next(reader, None)
            for row in reader:
                t = float(row[0])
                if any(start <= t <= stop for start, stop in spans):
                    out[(row[1], row[2])].append(float(row[3]))
    except (OSError, ValueError, IndexError) as exc:
        raise NoVerdict(f"{path}: cannot merge its samples: {exc}") from None
    return out


def merge(
    trial_dirs: list[Path],
    results: Path,
    prefix: str = "locust",
    exclude_ramp_up: bool = True,
    candidate_first: list[bool] | None = None,
    runners: list[int] | None = None,
) -> None:
    """`candidate_first`: per trial of a comparison, whether the candidate was
    started first; `runners`: per trial, the runner that made it (a merge of shards)."""
    infos = [load_run_info(d / f"{prefix}_run_info.json") for d in trial_dirs]
    if any(i.start_time is None or i.stop_time is None for i in infos):
        raise NoVerdict("a trial has no start or stop time in its run info; the trials cannot be merged")
    # the stats cover spawning complete to stop when the ramp-up is excluded (--reset-stats), else all of it
    stat_spans = [
        ((i.spawning_complete_time or i.start_time) if exclude_ramp_up else i.start_time, i.stop_time) for i in infos
    ]
    seconds = sum(stop - start for start, stop in stat_spans) or 1.0

    concatenate([d / f"{prefix}_raw.csv" for d in trial_dirs], results / f"{prefix}_raw.csv")
    readings = [path for d in trial_dirs if (path := d / f"{prefix}{RESOURCES}").is_file()]
    if readings:  # each trial's CPU and memory readings: their times keep them inside its span
        concatenate(readings, results / f"{prefix}{RESOURCES}")

    counts: dict[tuple[str, str], dict[str, float]] = {}
    for d in trial_dirs:
        for row in _stats_rows(d / f"{prefix}_stats.csv"):
            key = (row["Type"], row["Name"])
            if row["Name"] == "Aggregated":
                continue
            c = counts.setdefault(key, {"n": 0.0, "fail": 0.0, "sum": 0.0, "size": 0.0, "min": np.inf, "max": 0.0})
            n = float(row["Request Count"])
            c["n"] += n
            c["fail"] += float(row["Failure Count"])
            c["sum"] += n * float(row["Average Response Time"] or 0)
            c["size"] += n * float(row["Average Content Size"] or 0)
            if n:
                c["min"] = min(c["min"], float(row["Min Response Time"]))
                c["max"] = max(c["max"], float(row["Max Response Time"]))
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    for d, span in zip(trial_dirs, stat_spans, strict=True):
        for key, values in _raw_times(d / f"{prefix}_raw.csv", [span]).items():
            times[key] += values

    rows = []
    everything: list[float] = []
    for key, c in counts.items():
        values = times.get(key, [])
        everything += values
        rows.append(_row(key, c, values, seconds))
    total = {k: sum(c[k] for c in counts.values()) for k in ("n", "fail", "sum", "size")}
    total["min"] = min((c["min"] for c in counts.values()), default=np.inf)
    total["max"] = max((c["max"] for c in counts.values()), default=0.0)
    rows.append(_row(("", "Aggregated"), total, everything, seconds))
    with (results / f"{prefix}_stats.csv").open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)

    first, last = infos[0], infos[-1]
    info = {
        "cpu_warning": any(i.cpu_warning for i in infos),
        "max_cpu_percent": max(i.max_cpu_percent for i in infos),
        "unfinished_at_stop": sum(i.unfinished_at_stop for i in infos),
        "start_time": first.start_time,
        "spawning_complete_time": first.spawning_complete_time or first.start_time,
        "stop_time": last.stop_time,
        "trials": [[i.start_time, i.spawning_complete_time or i.start_time, i.stop_time] for i in infos],
    }
    if first.users is not None:
        info["users"] = first.users
    if candidate_first is not None:
        info["candidate_first"] = list(candidate_first)
    if runners is not None:
        info["runners"] = list(runners)
    unpaired = {name: why for i in infos for name, why in i.unpaired_users.items()}
    hosts: dict[str, int] = {}
    for i in infos:
        for host, n in i.not_compared_hosts.items():
            hosts[host] = hosts.get(host, 0) + n
    if unpaired or hosts:
        info |= {"unpaired_users": unpaired, "not_compared_hosts": hosts}
    (results / f"{prefix}_run_info.json").write_text(json.dumps(info))


def concatenate(paths: list[Path], out: Path) -> None:
    """CSV files with the same header, end to end under one header."""
    with out.open("w", encoding="utf-8") as f:
        for n, path in enumerate(paths):
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            f.writelines(lines if n == 0 else lines[1:])


def _row(key: tuple[str, str], c: dict[str, float], values: list[float], seconds: float) -> list[object]:
    n = int(c["n"])
    if values:
        ps = np.percentile(np.asarray(values), [float(p.rstrip("%")) for p in PERCENTILES], method="inverted_cdf")
        percentiles = [round(float(v), 3) for v in np.maximum.accumulate(ps)]
    else:
        percentiles = ["N/A"] * len(PERCENTILES)
    average = c["sum"] / n if n else 0.0
    size = c["size"] / n if n else 0.0
    low = c["min"] if n else 0.0
    return [
        key[0],
        key[1],
        n,
        int(c["fail"]),
        percentiles[0],
        round(average, 3),
        round(low, 3),
        round(c["max"], 3),
        round(size, 3),
        round(n / seconds, 3),
        round(c["fail"] / seconds, 3),
        *percentiles,
    ]
