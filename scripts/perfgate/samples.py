"""Read the raw samples (`<prefix>_raw.csv`): every request Locust recorded,
with its wall-clock time and unrounded response time.

They are evidence for the verdict (stalls, side-by-side ratios), so a file
that cannot be what Locust wrote is NoVerdict naming the line, never a guess.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perfgate import bounded
from perfgate.errors import NoVerdict
from perfgate.thresholds import CONTROL_CHARACTERS

COLUMNS = ["time", "type", "name", "response_time_ms", "ok"]
BASELINE, CANDIDATE = "baseline", "candidate"  # the labels of a side-by-side run's entries
# Sample times are Unix times: anything before 2001 or after 2286 is not one.
MIN_TIME, MAX_TIME = 1e9, 1e10
MAX_RESPONSE_MS = 1e9  # about 11 days
MAX_SPAN_S = 24 * 3600  # one run's samples; more is not a load test's file
# About 60 bytes a request: 33 M requests (30 minutes at 2,000 requests/s write about 220 MB).
MAX_RAW_BYTES = 2 * 10**9
SLICE_BYTES = 10**6  # parsed a slice at a time: only one slice's rows are ever Python objects (and it is faster)
MAX_LINE_BYTES = 10**6  # a sample's line is under 200 bytes: a megabyte without a line break is not one


@dataclass
class Samples:
    times: np.ndarray  # Unix seconds, when the response ended
    values: np.ndarray  # response time, ms


@dataclass
class RawSamples:
    """Latency is judged from the successful samples; the failed ones tell a
    comparison whether the sides failed alike, and the chart when they failed."""

    path: Path
    ok: dict[tuple[str, str], Samples]  # (label, "TYPE name") -> successful samples
    failed: dict[tuple[str, str], Samples] = field(default_factory=dict)  # the same, of failed requests


def split_label(name: str) -> tuple[str, str] | None:
    """'[candidate] /requests' -> ('candidate', '/requests')."""
    if not name.startswith("["):
        return None
    label, sep, rest = name[1:].partition("] ")
    return (label, rest) if sep else None


def _decode(path: Path, data: bytes, line: int) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line += data[: exc.start].count(b"\n")
        raise NoVerdict(f"{path}:{line}: not UTF-8 text; expected Locust's raw samples CSV") from None


def _slices(path: Path) -> Iterator[tuple[int, str]]:
    """(the number of its first line, the text) of each slice of whole lines,
    read as it goes, so that a file past MAX_RAW_BYTES or endless is refused
    without being held."""
    line, rest = 1, b""
    try:
        for chunk in bounded.chunks(path, MAX_RAW_BYTES, SLICE_BYTES):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            whole, rest = data[:cut], data[cut:]
            if len(rest) > MAX_LINE_BYTES:
                at = line + whole.count(b"\n")
                raise NoVerdict(f"{path}:{at}: a line of more than {bounded.size(MAX_LINE_BYTES)}; not a sample")
            if whole:
                yield line, _decode(path, whole, line)
                line += whole.count(b"\n")
    except bounded.TooLarge:
        raise NoVerdict(f"{path}: larger than {bounded.size(MAX_RAW_BYTES)}, the bound for raw samples") from None
    except FileNotFoundError:
        raise NoVerdict(f"{path}: raw samples missing (Locust must run with --raw-samples)") from None
    except OSError as exc:
        raise NoVerdict(f"{path}: unreadable: {exc.strerror or exc}") from None
    if rest:
        yield line, _decode(path, rest, line)


def _first_bad(path: Path, rows: list[list[str]], bad: np.ndarray, why, first_line: int) -> NoVerdict:
    i = int(np.flatnonzero(bad)[0])
    return NoVerdict(f"{path}:{first_line + i}: {why(rows[i])}")


def _numbers(path: Path, rows: list[list[str]], cells: tuple[str, ...], column: str, first_line: int) -> np.ndarray:
    try:
        return np.array(cells, dtype=float)
    except ValueError:
        bad = np.array([not _is_number(c) for c in cells])
        at = COLUMNS.index(column)
        why = lambda row: f"{column} must be a number, got {row[at]!r}"  # noqa: E731
        raise _first_bad(path, rows, bad, why, first_line) from None


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


@dataclass
class _Slice:
    """One slice's samples, in file order; `ids` index the entries seen so far."""

    times: np.ndarray
    values: np.ndarray
    ok: np.ndarray
    ids: np.ndarray


def _rows(path: Path, text: str, first_line: int) -> list[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        if first_line == 1:
            header = next(reader, None)
            if header != COLUMNS:
                raise NoVerdict(f"{path}:1: expected the header {','.join(COLUMNS)}, got {header}")
        return list(reader)
    except csv.Error as exc:
        raise NoVerdict(f"{path}:{first_line - 1 + reader.line_num}: unreadable CSV: {exc}") from None


def _parse(path: Path, rows: list[list[str]], line: int, keys: dict[tuple[str, str], int]) -> _Slice:
    """A slice's rows, each checked; `line` is the first row's line; new entries are added to `keys`."""
    widths = np.fromiter(map(len, rows), dtype=np.intp, count=len(rows))
    if (widths != len(COLUMNS)).any():
        why = lambda row: f"expected {len(COLUMNS)} cells, got {len(row)}"  # noqa: E731
        raise _first_bad(path, rows, widths != len(COLUMNS), why, line)
    time_cells, kinds, names, value_cells, ok_cells = zip(*rows, strict=True)
    times = _numbers(path, rows, time_cells, "time", line)
    values = _numbers(path, rows, value_cells, "response_time_ms", line)
    bad_time = ~(np.isfinite(times) & (times >= MIN_TIME) & (times <= MAX_TIME))
    if bad_time.any():
        raise _first_bad(path, rows, bad_time, lambda row: f"time {row[0]!r} is not a Unix time", line)
    bad_value = ~(np.isfinite(values) & (values >= 0) & (values <= MAX_RESPONSE_MS))
    if bad_value.any():
        explain = f"is not a response time (0 to {MAX_RESPONSE_MS:g})"
        raise _first_bad(path, rows, bad_value, lambda row: f"response_time_ms {row[3]!r} {explain}", line)
    ok = np.array(ok_cells) == "1"
    if not set(ok_cells) <= {"0", "1"}:
        bad = ~(ok | (np.array(ok_cells) == "0"))
        raise _first_bad(path, rows, bad, lambda row: f"ok must be 0 or 1, got {row[4]!r}", line)
    known = len(keys)
    pairs = zip(kinds, names, strict=True)
    ids = np.fromiter((keys.setdefault(k, len(keys)) for k in pairs), dtype=np.intp, count=len(rows))
    for (kind, name), i in list(keys.items())[known:]:
        if not kind or not name or CONTROL_CHARACTERS.search(kind + name):
            why = lambda row: "empty type or name, or a control character in one; the file is corrupted"  # noqa: E731
            raise _first_bad(path, rows, ids == i, why, line)
    return _Slice(times, values, ok, ids)


def _read(path: Path) -> tuple[list[_Slice], dict[tuple[str, str], int]]:
    keys: dict[tuple[str, str], int] = {}
    parts, header_seen = [], False
    for first_line, text in _slices(path):
        rows = _rows(path, text, first_line)
        header_seen = True
        line = first_line + 1 if first_line == 1 else first_line
        if rows:
            parts.append(_parse(path, rows, line, keys))
    if not header_seen:
        raise NoVerdict(f"{path}:1: expected the header {','.join(COLUMNS)}, got None")
    return parts, keys


def load(path: Path) -> RawSamples:
    """Successful samples per (label, entry), failures counted; a run without
    side-by-side hosts has the label ''. Lines are counted as rows + 1 (the
    samples file has no quoted line breaks: a name with one is refused)."""
    try:
        parts, keys = _read(path)
        if not parts:
            return RawSamples(path, {})
        return RawSamples(path, *_group(path, parts, keys))
    except MemoryError:
        raise NoVerdict(f"{path}: too many raw samples for this machine's memory") from None


def _join(parts: list[_Slice], column: str) -> np.ndarray:
    """One column of every slice, each slice's copy let go as it is joined: a
    long run's samples are held about once, not twice."""
    joined = np.concatenate([getattr(part, column) for part in parts])
    for part in parts:
        setattr(part, column, joined[:0])
    return joined


def _group(path: Path, parts: list[_Slice], keys: dict[tuple[str, str], int]) -> tuple[dict, dict]:
    """Every slice's successful and failed samples, one view per entry each."""
    times = _join(parts, "times")
    if times.max() - times.min() > MAX_SPAN_S:
        raise NoVerdict(f"{path}: samples span {times.max() - times.min():.0f} s, more than one run's {MAX_SPAN_S} s")
    values, ok, ids = _join(parts, "values"), _join(parts, "ok"), _join(parts, "ids")
    entries = []
    for kind, name in keys:
        label, plain = split_label(name) or ("", name)
        entries.append((label, f"{kind} {plain}"))
    order = np.lexsort((~ok, ids))  # by entry, successes first, each in file order: one view per entry
    times, values = times[order], values[order]
    bounds = np.append(np.searchsorted(ids[order], np.arange(len(entries))), len(ids))
    good = np.bincount(ids, weights=ok, minlength=len(entries)).astype(np.intp)
    ok_samples, failed_samples = {}, {}
    for i, key in enumerate(entries):
        first, split, end = bounds[i], bounds[i] + good[i], bounds[i + 1]
        if split > first:
            ok_samples[key] = Samples(times[first:split], values[first:split])
        if end > split:
            failed_samples[key] = Samples(times[split:end], values[split:end])
    return ok_samples, failed_samples
