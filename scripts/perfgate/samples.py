"""Read the raw samples (`<prefix>_raw.csv`): every request Locust recorded,
with its wall-clock time and unrounded response time.

They are evidence for the verdict (stalls, side-by-side ratios), so a file
that cannot be what Locust wrote is NoVerdict naming the line, never a guess.
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfgate.errors import NoVerdict

COLUMNS = ["time", "type", "name", "response_time_ms", "ok"]
BASELINE, CANDIDATE = "baseline", "candidate"  # the labels of a side-by-side run's entries
# Sample times are Unix times: anything before 2001 or after 2286 is not one.
MIN_TIME, MAX_TIME = 1e9, 1e10
MAX_RESPONSE_MS = 1e9  # about 11 days
MAX_SPAN_S = 24 * 3600  # one run's samples; more is not a load test's file


@dataclass
class Samples:
    times: np.ndarray  # Unix seconds, when the response ended
    values: np.ndarray  # response time, ms


@dataclass
class RawSamples:
    """Failed samples are checked but not kept: failures are judged from Locust's stats."""

    path: Path
    ok: dict[tuple[str, str], Samples]  # (label, "TYPE name") -> successful samples


def split_label(name: str) -> tuple[str, str] | None:
    """'[candidate] /requests' -> ('candidate', '/requests')."""
    if not name.startswith("["):
        return None
    label, sep, rest = name[1:].partition("] ")
    return (label, rest) if sep else None


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NoVerdict(f"{path}: raw samples missing (Locust must run with --raw-samples)") from None
    except OSError as exc:
        raise NoVerdict(f"{path}: unreadable: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise NoVerdict(f"{path}:{line}: not UTF-8 text; expected Locust's raw samples CSV") from None


def _first_bad(path: Path, rows: list[list[str]], bad: np.ndarray, why) -> NoVerdict:
    i = int(np.flatnonzero(bad)[0])
    return NoVerdict(f"{path}:{i + 2}: {why(rows[i])}")


def _numbers(path: Path, rows: list[list[str]], cells: tuple[str, ...], column: str) -> np.ndarray:
    try:
        return np.array(cells, dtype=float)
    except ValueError:
        bad = np.array([not _is_number(c) for c in cells])
        at = COLUMNS.index(column)
        raise _first_bad(path, rows, bad, lambda row: f"{column} must be a number, got {row[at]!r}") from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def load(path: Path) -> RawSamples:
    """Successful samples per (label, entry), failures counted; a run without
    side-by-side hosts has the label ''. Lines are counted as rows + 1 (the
    samples file has no quoted line breaks)."""
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        header = next(reader, None)
        if header != COLUMNS:
            raise NoVerdict(f"{path}:1: expected the header {','.join(COLUMNS)}, got {header}")
        rows = list(reader)
    except csv.Error as exc:
        raise NoVerdict(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None
    widths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
    if (widths != len(COLUMNS)).any():
        raise _first_bad(
            path, rows, widths != len(COLUMNS), lambda row: f"expected {len(COLUMNS)} cells, got {len(row)}"
        )
    if not rows:
        return RawSamples(path, {})
    time_cells, kinds, names, value_cells, ok_cells = zip(*rows, strict=True)
    times = _numbers(path, rows, time_cells, "time")
    values = _numbers(path, rows, value_cells, "response_time_ms")
    bad_time = ~(np.isfinite(times) & (times >= MIN_TIME) & (times <= MAX_TIME))
    if bad_time.any():
        raise _first_bad(path, rows, bad_time, lambda row: f"time {row[0]!r} is not a Unix time")
    bad_value = ~(np.isfinite(values) & (values >= 0) & (values <= MAX_RESPONSE_MS))
    if bad_value.any():
        explain = f"is not a response time (0 to {MAX_RESPONSE_MS:g})"
        raise _first_bad(path, rows, bad_value, lambda row: f"response_time_ms {row[3]!r} {explain}")
    ok = np.array(ok_cells) == "1"
    if not set(ok_cells) <= {"0", "1"}:
        bad = ~(ok | (np.array(ok_cells) == "0"))
        raise _first_bad(path, rows, bad, lambda row: f"ok must be 0 or 1, got {row[4]!r}")
    if times.max() - times.min() > MAX_SPAN_S:
        raise NoVerdict(f"{path}: samples span {times.max() - times.min():.0f} s, more than one run's {MAX_SPAN_S} s")
    keys: dict[tuple[str, str], int] = {}
    pairs = zip(kinds, names, strict=True)
    ids = np.fromiter((keys.setdefault(k, len(keys)) for k in pairs), dtype=np.intp, count=len(rows))
    entries = []
    for kind, name in keys:
        if not kind or not name or "\0" in kind or "\0" in name:
            bad = ids == keys[(kind, name)]
            raise _first_bad(path, rows, bad, lambda row: "empty type or name, or a NUL character in one")
        label, plain = split_label(name) or ("", name)
        entries.append((label, f"{kind} {plain}"))
    order = np.lexsort((~ok, ids))  # by entry, successes first, each in file order: one view per entry
    times, values = times[order], values[order]
    bounds = np.searchsorted(ids[order], np.arange(len(entries)))
    good = np.bincount(ids, weights=ok, minlength=len(entries)).astype(np.intp)
    ok_samples = {}
    for i, key in enumerate(entries):
        first, succeeded = bounds[i], good[i]
        if succeeded:
            ok_samples[key] = Samples(times[first : first + succeeded], values[first : first + succeeded])
    return RawSamples(path, ok_samples)
