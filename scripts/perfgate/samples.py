"""Read the raw samples (`<prefix>_raw.csv`): every request Locust recorded,
with its wall-clock time and unrounded response time.

They are evidence for the verdict (stalls, side-by-side ratios), so a file
that cannot be what Locust wrote is NoVerdict naming the line, never a guess.
"""

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from perfgate.errors import NoVerdict

COLUMNS = ["time", "type", "name", "response_time_ms", "ok"]
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
    path: Path
    ok: dict[tuple[str, str], Samples]  # (label, "TYPE name") -> successful samples
    failures: dict[tuple[str, str], int]

    @property
    def entries(self) -> list[tuple[str, str]]:
        return sorted(set(self.ok) | set(self.failures))


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


def _sample(row: list[str], where: str) -> tuple[float, str, str, float, bool]:
    if len(row) != len(COLUMNS):
        raise NoVerdict(f"{where}: expected {len(COLUMNS)} cells ({', '.join(COLUMNS)}), got {len(row)}")
    time_cell, kind, name, value_cell, ok_cell = row
    try:
        t, value = float(time_cell), float(value_cell)
    except ValueError:
        got = f"{time_cell!r}, {value_cell!r}"
        raise NoVerdict(f"{where}: time and response_time_ms must be numbers, got {got}") from None
    if not (math.isfinite(t) and MIN_TIME <= t <= MAX_TIME):
        raise NoVerdict(f"{where}: time {time_cell!r} is not a Unix time")
    if not (math.isfinite(value) and 0 <= value <= MAX_RESPONSE_MS):
        raise NoVerdict(f"{where}: response_time_ms {value_cell!r} is not a response time (0 to {MAX_RESPONSE_MS:g})")
    if ok_cell not in ("0", "1"):
        raise NoVerdict(f"{where}: ok must be 0 or 1, got {ok_cell!r}")
    if not kind or not name:
        raise NoVerdict(f"{where}: empty type or name")
    if "\0" in kind or "\0" in name:
        raise NoVerdict(f"{where}: NUL character in the type or name")
    return t, kind, name, value, ok_cell == "1"


def load(path: Path) -> RawSamples:
    """Successful samples per (label, entry), failures counted; a run without
    side-by-side hosts has the label ''."""
    reader = csv.reader(io.StringIO(_text(path), newline=""))
    try:
        header = next(reader, None)
        if header != COLUMNS:
            raise NoVerdict(f"{path}:1: expected the header {','.join(COLUMNS)}, got {header}")
        buckets: dict[tuple[str, str], tuple[list[float], list[float]]] = {}
        failures: dict[tuple[str, str], int] = {}
        for row in reader:
            t, kind, name, value, ok = _sample(row, f"{path}:{reader.line_num}")
            label, plain = split_label(name) or ("", name)
            key = (label, f"{kind} {plain}")
            if ok:
                times, values = buckets.setdefault(key, ([], []))
                times.append(t)
                values.append(value)
            else:
                failures[key] = failures.get(key, 0) + 1
    except csv.Error as exc:
        raise NoVerdict(f"{path}:{reader.line_num}: unreadable CSV: {exc}") from None
    ok_samples = {key: Samples(np.asarray(t), np.asarray(v)) for key, (t, v) in buckets.items()}
    if ok_samples:
        first = min(s.times.min() for s in ok_samples.values())
        last = max(s.times.max() for s in ok_samples.values())
        if last - first > MAX_SPAN_S:
            raise NoVerdict(f"{path}: samples span {last - first:.0f} s, more than one run's {MAX_SPAN_S} s")
    return RawSamples(path, ok_samples, failures)
