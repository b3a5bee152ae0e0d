"""Read what Locust wrote: `<prefix>_stats.csv` (by column name) and the
load generator's run facts. Anything unreadable is NoVerdict, never a pass."""

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from perfgate.errors import NoVerdict
from perfgate.thresholds import AGGREGATE, PERCENTILE_COLUMNS

REQUIRED_COLUMNS = [
    "Type",
    "Name",
    "Request Count",
    "Failure Count",
    "Average Response Time",
    "Max Response Time",
    "Requests/s",
    *PERCENTILE_COLUMNS.values(),
]
CANDIDATE = "[candidate] "


@dataclass
class EntryStats:
    key: str  # "POST /requests"; "Aggregated" for Locust's total row
    count: int
    failures: int
    avg_ms: float | None
    max_ms: float | None
    rps: float
    percentiles: dict[str, float | None]  # metric key ("p95_ms") -> ms; None where Locust wrote N/A

    def metric(self, name: str) -> float | None:
        if name in self.percentiles:
            return self.percentiles[name]
        return {
            "avg_ms": self.avg_ms,
            "max_ms": self.max_ms,
            "failure_ratio": self.failures / self.count if self.count else None,
            "min_rps": self.rps,
            "min_requests": float(self.count),
        }[name]


@dataclass
class RunResults:
    stats_csv: Path
    entries: dict[str, EntryStats]
    aggregate: EntryStats
    run_info: dict = field(default_factory=dict)


def _number(cell: str, where: str) -> float | None:
    if cell.strip() in ("N/A", ""):
        return None
    try:
        value = float(cell)
    except ValueError:
        raise NoVerdict(f"{where}: expected a number, got {cell!r}") from None
    if not math.isfinite(value):
        raise NoVerdict(f"{where}: expected a finite number, got {cell!r}")
    return value


def parse_row(row: dict[str, str], where: str) -> EntryStats:
    def num(col: str) -> float | None:
        return _number(row[col] or "", f"{where}, column {col!r}")

    count, failures, rps = num("Request Count"), num("Failure Count"), num("Requests/s")
    if count is None or failures is None or rps is None:
        raise NoVerdict(f"{where}: request count, failure count and requests/s must be numbers")
    key = f"{row['Type']} {row['Name']}".strip() if row["Type"] else AGGREGATE
    return EntryStats(
        key=key,
        count=int(count),
        failures=int(failures),
        avg_ms=num("Average Response Time"),
        max_ms=num("Max Response Time"),
        rps=rps,
        percentiles={metric: num(col) for metric, col in PERCENTILE_COLUMNS.items()},
    )


def load_stats(path: Path) -> tuple[dict[str, EntryStats], EntryStats]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            columns = rows[0].keys() if rows else []
    except FileNotFoundError:
        raise NoVerdict(f"{path}: Locust's stats CSV is missing (did Locust run with --csv?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NoVerdict(f"{path}: unreadable: {exc}") from None
    if not rows:
        raise NoVerdict(f"{path}: no rows; Locust recorded nothing")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise NoVerdict(f"{path}: missing columns {missing}; expected Locust 2.x *_stats.csv")
    entries: dict[str, EntryStats] = {}
    aggregate = None
    for line, row in enumerate(rows, start=2):
        if None in row or any(v is None for v in row.values()):
            raise NoVerdict(f"{path}:{line}: truncated row (expected {len(columns)} cells)")
        stats = parse_row(row, f"{path}:{line}")
        if stats.key == AGGREGATE:
            aggregate = stats
        else:
            entries[stats.key] = stats
    if aggregate is None:
        raise NoVerdict(f"{path}: no Aggregated row; the file looks truncated")
    return entries, aggregate


def candidate_view(entries: dict[str, EntryStats], aggregate: EntryStats) -> tuple[dict[str, EntryStats], EntryStats]:
    """In a side-by-side run, absolute limits judge the candidate's entries;
    its aggregate is summed from them (Locust's own row mixes both backends)."""
    labelled = {k: v for k, v in entries.items() if CANDIDATE in k}
    if not labelled:
        return entries, aggregate
    mine = {}
    for key, stats in labelled.items():
        kind, _, name = key.partition(" ")
        plain = f"{kind} {name.removeprefix(CANDIDATE)}"
        mine[plain] = EntryStats(**{**stats.__dict__, "key": plain})
    count = sum(s.count for s in mine.values())
    weighted = [(s.avg_ms or 0) * s.count for s in mine.values()]
    total = EntryStats(
        key=AGGREGATE,
        count=count,
        failures=sum(s.failures for s in mine.values()),
        avg_ms=sum(weighted) / count if count else None,
        max_ms=max((s.max_ms for s in mine.values() if s.max_ms is not None), default=None),
        rps=sum(s.rps for s in mine.values()),
        percentiles={m: None for m in PERCENTILE_COLUMNS},  # not derivable from per-entry rows
    )
    return mine, total


def load(prefix: Path) -> RunResults:
    """`prefix` is what was given to Locust's --csv (e.g. results/locust)."""
    stats_csv = Path(f"{prefix}_stats.csv")
    entries, aggregate = candidate_view(*load_stats(stats_csv))
    info_path = Path(f"{prefix}_run_info.json")
    run_info = {}
    if info_path.exists():
        try:
            run_info = json.loads(info_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise NoVerdict(f"{info_path}: unreadable: {exc}") from None
    return RunResults(stats_csv=stats_csv, entries=entries, aggregate=aggregate, run_info=run_info)
