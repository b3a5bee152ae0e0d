"""Read what Locust wrote: `<prefix>_stats.csv` (by column name) and the
run's facts (`<prefix>_run_info.json`). Anything unreadable, or impossible
for Locust to have written (negative counts, more failures than requests, an
entry twice, an aggregate that is not the sum of the entries), is NoVerdict
naming the file and line, never a pass."""

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perfgate import bounded
from perfgate.errors import NoVerdict
from perfgate.samples import MAX_TIME, MIN_TIME
from perfgate.thresholds import AGGREGATE, CONTROL_CHARACTERS, PERCENTILE_COLUMNS

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
TIME_KEYS = ["start_time", "spawning_complete_time", "stop_time"]
# Locust writes about 200 bytes an entry: 300,000 entries, far past any locustfile's.
MAX_STATS_BYTES = 64 * 10**6
# The run info is a few hundred bytes; 10,000 trials (the most it may hold) take about 600 KB.
MAX_RUN_INFO_BYTES = 4 * 10**6


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
class RunInfo:
    """Facts about the run the locustfile recorded; times are Unix seconds."""

    path: Path
    cpu_warning: bool = False
    max_cpu_percent: float = 0.0
    start_time: float | None = None
    spawning_complete_time: float | None = None
    stop_time: float | None = None
    unfinished_at_stop: int = 0
    users: int | None = None
    # a run of fresh-start trials: (start, spawning complete, stop) of each, in order
    trials: list[tuple[float, float, float]] = field(default_factory=list)
    # per trial of a comparison: whether the candidate's backend was started before the baseline's
    candidate_first: list[bool] | None = None
    # a comparison merged from runners (perf-gate merge): per trial, the runner (shard) that made it, from 1
    runners: list[int] | None = None
    # side by side: user classes run against the candidate alone, and why
    unpaired_users: dict[str, str] = field(default_factory=dict)
    # side by side: requests sent to other hosts than the service, per host (not compared)
    not_compared_hosts: dict[str, int] = field(default_factory=dict)

    def spans(self) -> list[tuple[float, float, float]]:
        """The spans load ran in: each trial, or the whole run; [] without times."""
        if self.trials:
            return self.trials
        if self.start_time is None or self.stop_time is None:
            return []
        return [(self.start_time, self.spawning_complete_time or self.start_time, self.stop_time)]


@dataclass
class RunResults:
    stats_csv: Path
    entries: dict[str, EntryStats]
    aggregate: EntryStats
    run_info: RunInfo


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
    if count < 0 or failures < 0 or count != int(count) or failures != int(failures):
        raise NoVerdict(f"{where}: counts must be whole numbers of at least 0, got {count:g} and {failures:g}")
    if failures > count:
        raise NoVerdict(f"{where}: {failures:g} failures of {count:g} requests is impossible")
    times = {col: num(col) for col in ["Average Response Time", "Max Response Time", *PERCENTILE_COLUMNS.values()]}
    negative = [col for col, value in times.items() if value is not None and value < 0]
    if rps < 0 or negative:
        raise NoVerdict(f"{where}: negative {', '.join(negative) or 'Requests/s'}")
    percentiles = [times[col] for col in PERCENTILE_COLUMNS.values() if times[col] is not None]
    if percentiles != sorted(percentiles):
        raise NoVerdict(f"{where}: percentiles must not decrease from 50% to 100%")
    key = f"{row['Type']} {row['Name']}".strip() if row["Type"] else AGGREGATE
    return EntryStats(
        key=key,
        count=int(count),
        failures=int(failures),
        avg_ms=times["Average Response Time"],
        max_ms=times["Max Response Time"],
        rps=rps,
        percentiles={metric: times[col] for metric, col in PERCENTILE_COLUMNS.items()},
    )


NUMERIC = ["Request Count", "Failure Count", "Requests/s", "Average Response Time", "Max Response Time"]
NUMERIC += list(PERCENTILE_COLUMNS.values())
NOT_MEASURED = {"N/A": "nan", "": "nan"}


def _all_rows(rows: list[dict[str, str]]) -> list[EntryStats] | None:
    """Every row at once with numpy; None when any cell needs a closer look,
    and parse_row, row by row, then names what is wrong."""
    try:
        table = np.array([[NOT_MEASURED.get(row[c], row[c]) for c in NUMERIC] for row in rows], dtype=float)
    except (TypeError, ValueError):
        return None
    counts, rps, times = table[:, :2], table[:, 2], table[:, 3:]
    percentiles = times[:, 2:]
    with np.errstate(invalid="ignore"):
        sound = (
            np.isfinite(counts).all()
            and (counts >= 0).all()
            and (counts == np.floor(counts)).all()
            and (counts[:, 1] <= counts[:, 0]).all()
            and np.isfinite(rps).all()
            and (rps >= 0).all()
            and not np.isinf(times).any()
            and not (times < 0).any()
            and not (np.diff(percentiles, axis=1) < 0).any()
        )
    not_measured = np.isnan(percentiles)
    if not sound or (not_measured.any(axis=1) & ~not_measured.all(axis=1)).any():
        return None  # including a row with some percentiles N/A and others not
    cells = np.where(np.isnan(table), None, table).tolist()
    out = []
    for row, (count, failures, rate, avg, peak, *pcts) in zip(rows, cells, strict=True):
        key = f"{row['Type']} {row['Name']}".strip() if row["Type"] else AGGREGATE
        percentile = dict(zip(PERCENTILE_COLUMNS, pcts, strict=True))
        out.append(EntryStats(key, int(count), int(failures), avg, peak, rate, percentile))
    return out


def _read(path: Path, bound: int, what: str) -> str:
    """The file's text, bounded: a huge or endless one is unreadable results, named with its bound."""
    try:
        data = bounded.read_bytes(path, bound)
    except bounded.TooLarge:
        raise NoVerdict(f"{path}: larger than {bounded.size(bound)}, the bound for {what}") from None
    return data.decode("utf-8")


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        return list(csv.DictReader(io.StringIO(_read(path, MAX_STATS_BYTES, "Locust's stats CSV"), newline="")))
    except FileNotFoundError:
        raise NoVerdict(f"{path}: Locust's stats CSV is missing (did Locust run with --csv?)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise NoVerdict(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    except MemoryError:
        raise NoVerdict(f"{path}: too large to read into this machine's memory") from None


def load_stats(path: Path) -> tuple[dict[str, EntryStats], EntryStats]:
    rows = _rows(path)
    columns = rows[0].keys() if rows else []
    if not rows:
        raise NoVerdict(f"{path}: no rows; Locust recorded nothing")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise NoVerdict(f"{path}: missing columns {missing}; expected Locust 2.x *_stats.csv")
    entries: dict[str, EntryStats] = {}
    lines: dict[str, int] = {}
    parsed = _all_rows(rows)
    for line, row in enumerate(rows, start=2):
        if parsed is None and (None in row or any(v is None for v in row.values())):
            raise NoVerdict(f"{path}:{line}: truncated row (expected {len(columns)} cells)")
        if CONTROL_CHARACTERS.search(f"{row['Type']} {row['Name']}"):
            raise NoVerdict(f"{path}:{line}: a control character in the entry's type or name; the file is corrupted")
        stats = parse_row(row, f"{path}:{line}") if parsed is None else parsed[line - 2]
        if stats.key in entries:
            raise NoVerdict(f"{path}:{line}: {stats.key!r} again (first on line {lines[stats.key]}); one row per entry")
        entries[stats.key], lines[stats.key] = stats, line
    aggregate = entries.pop(AGGREGATE, None)
    if aggregate is None:
        raise NoVerdict(f"{path}: no Aggregated row; the file looks truncated")
    count, failures = sum(s.count for s in entries.values()), sum(s.failures for s in entries.values())
    if (count, failures) != (aggregate.count, aggregate.failures):
        raise NoVerdict(
            f"{path}:{lines[AGGREGATE]}: the Aggregated row counts {aggregate.count} requests and "
            f"{aggregate.failures} failures, the entries {count} and {failures}; the file is not one Locust wrote"
        )
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


def _info_number(data: dict, key: str, path: Path, low: float, high: float) -> float | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise NoVerdict(f"{path}: {key} must be a number from {low:g} to {high:g}, got {str(value)[:40]!r}")
    return float(value)


def load_run_info(path: Path) -> RunInfo:
    """Missing is allowed (plain Locust output); present means it must make sense."""
    try:
        text = _read(path, MAX_RUN_INFO_BYTES, "a run info file")
    except FileNotFoundError:
        return RunInfo(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise NoVerdict(f"{path}: unreadable: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise NoVerdict(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise NoVerdict(f"{path}: expected a JSON object, got {type(data).__name__}")
    if not isinstance(data.get("cpu_warning", False), bool):
        raise NoVerdict(f"{path}: cpu_warning must be true or false")
    times = {key: _info_number(data, key, path, MIN_TIME, MAX_TIME) for key in TIME_KEYS}
    given = [times[key] for key in TIME_KEYS if times[key] is not None]
    if given != sorted(given):
        raise NoVerdict(f"{path}: {', '.join(TIME_KEYS)} must not go back in time")
    return RunInfo(
        path,
        cpu_warning=data.get("cpu_warning", False),
        max_cpu_percent=_info_number(data, "max_cpu_percent", path, 0, 100_000) or 0.0,
        unfinished_at_stop=int(_info_number(data, "unfinished_at_stop", path, 0, 1e12) or 0),
        users=None if (users := _info_number(data, "users", path, 0, 1e9)) is None else int(users),
        trials=(trials := _trials(data.get("trials", []), path)),
        candidate_first=_candidate_first(data.get("candidate_first"), len(trials), path),
        runners=_runners(data.get("runners"), len(trials), path),
        unpaired_users=_names(data, "unpaired_users", str, path),
        not_compared_hosts=_names(data, "not_compared_hosts", int, path),
        **times,
    )


MAX_NAMES = 1000  # user classes or hosts named in a run info; a locustfile has a handful


def _names(data: dict, key: str, kind: type, path: Path) -> dict:
    """{name: reason or count}, names and reasons short text without control characters."""
    value = data.get(key, {})
    if not isinstance(value, dict) or len(value) > MAX_NAMES:
        raise NoVerdict(f"{path}: {key} must be an object of at most {MAX_NAMES} names")
    for name, item in value.items():
        texts = [name, item] if kind is str else [name]
        bad_text = any(len(t) > 1000 or CONTROL_CHARACTERS.search(t) for t in texts if isinstance(t, str))
        wrong = not isinstance(item, kind) or isinstance(item, bool) or (kind is int and item < 0)
        if bad_text or wrong:
            raise NoVerdict(f"{path}: {key}: {name[:80]!r} must map to {'a reason' if kind is str else 'a count'}")
    return dict(value)


def _candidate_first(value: object, trials: int, path: Path) -> list[bool] | None:
    """[true, false, ...]: one per trial, or absent (a run that did not record it)."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != trials or not all(isinstance(v, bool) for v in value):
        raise NoVerdict(f"{path}: candidate_first must be a list of {trials} true/false, one per trial")
    return value


def _runners(value: object, trials: int, path: Path) -> list[int] | None:
    """[1, 1, 2, ...]: the runner of each trial, or absent (one runner)."""
    if value is None:
        return None
    ok = isinstance(value, list) and len(value) == trials
    if not ok or not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 10_000 for v in value):
        raise NoVerdict(f"{path}: runners must be a list of {trials} runner numbers (1 or more), one per trial")
    return value


def _trials(value: object, path: Path) -> list[tuple[float, float, float]]:
    """[[start, spawning complete, stop], ...]: Unix times, each trial after the one before."""
    where = f"{path}: trials"
    if not isinstance(value, list) or len(value) > 10_000:
        raise NoVerdict(f"{where} must be a list of [start, spawning complete, stop] times")
    spans, last = [], 0.0
    for i, span in enumerate(value):
        ok = isinstance(span, list) and len(span) == 3
        ok = ok and all(isinstance(t, int | float) and not isinstance(t, bool) for t in span)
        if not ok or not all(MIN_TIME <= t <= MAX_TIME for t in span):
            raise NoVerdict(f"{where}[{i}]: expected [start, spawning complete, stop] as Unix times")
        if not last <= span[0] <= span[1] <= span[2]:
            raise NoVerdict(f"{where}[{i}]: times go back (within the trial or against the one before)")
        spans.append((float(span[0]), float(span[1]), float(span[2])))
        last = span[2]
    return spans


def load(prefix: Path) -> RunResults:
    """`prefix` is what was given to Locust's --csv (e.g. results/locust)."""
    stats_csv = Path(f"{prefix}_stats.csv")
    entries, aggregate = candidate_view(*load_stats(stats_csv))
    run_info = load_run_info(Path(f"{prefix}_run_info.json"))
    return RunResults(stats_csv=stats_csv, entries=entries, aggregate=aggregate, run_info=run_info)
