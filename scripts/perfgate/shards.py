"""`perf-gate merge`: a comparison spread over runners, pooled and judged once.

Each runner ran `perf-gate --compare-to REF --shard I/N`: its own
fresh-start trials, start order alternating, written to its results folder.
The merge takes those folders, checks that they are parts of one comparison
(the same candidate and baseline commits, the same thresholds file, the same
load, every shard once), and writes one results folder holding every trial:
the trials of shard 1, then of shard 2, ..., each trial's times moved so that
it follows the one before (runners run at once; the checker reads trials as
spans of one timeline). The run info says which runner made each trial, and
the comparison treats a runner as a random effect (perfgate.compare).

    perf-gate merge --results merged shard-1/ shard-2/ shard-3/
"""

import argparse
import csv
import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from perfgate import context, resources, trials
from perfgate.check_cli import Parser
from perfgate.errors import ConfigError, NoVerdict
from perfgate.results import load_run_info
from perfgate.samples import BASELINE, CANDIDATE

PREFIX = "locust"
GAP_S = 60.0  # between one trial's stop and the next one's start on the merged timeline
# What every shard must share to be one comparison: key in the run context -> what it is called.
SAME = {
    "candidate": "candidate commit",
    "baseline": "baseline commit",
    "thresholds_sha256": "thresholds file (sha256)",
    "users": "users",
    "spawn_rate": "spawn rate",
    "backend": "backend",
}


# what a trial's CSV that cannot be moved raises
UNMERGEABLE = (ValueError, IndexError, UnicodeDecodeError, csv.Error)


@dataclass
class Shard:
    folder: Path
    index: int
    count: int
    facts: dict
    trials: list[Path]  # its trial folders, in order
    candidate_first: list[bool]


@dataclass(frozen=True)
class Placed:
    stop: float  # the trial's stop on the merged timeline
    unread: str = ""  # why its resource readings could not be placed with it


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_shard(folder: Path) -> Shard:
    if not folder.is_dir():  # a runner that uploaded nothing, or a glob that matched nothing
        raise NoVerdict(f"{folder}: no such folder; a shard's results are missing")
    path = folder / context.FILE
    try:
        facts = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{folder}: not a perf-gate results folder (no {context.FILE})") from None
    except (OSError, ValueError) as exc:
        raise NoVerdict(f"{path}: unreadable: {exc}") from None
    if not isinstance(facts, dict) or not isinstance(facts.get("shard"), str):
        raise ConfigError(f"{folder}: not a shard's results (run with perf-gate --compare-to REF --shard I/N)")
    index, _, count = facts["shard"].partition("/")
    numbered = [p for p in folder.glob("trial-*") if p.is_dir() and p.name.removeprefix("trial-").isdigit()]
    found = sorted(numbered, key=lambda p: int(p.name.removeprefix("trial-"))) or [folder]
    firsts = facts.get("candidate_first")
    if not isinstance(firsts, list) or len(firsts) != len(found) or not all(isinstance(f, bool) for f in firsts):
        raise NoVerdict(f"{path}: candidate_first must name the start order of each of its {len(found)} trial(s)")
    for trial in found:
        if not (trial / f"{PREFIX}_raw.csv").is_file() or not (trial / f"{PREFIX}_run_info.json").is_file():
            raise NoVerdict(f"{trial}: a trial without raw samples or run info; the shard did not finish")
    return Shard(folder, int(index), int(count), facts, found, firsts)


def check_shards(shards: list[Shard], thresholds: Path) -> None:
    """One comparison, every part once: a mismatch is a usage error (exit 2)
    naming it; a missing shard is no verdict (exit 3): a runner failed."""
    first = shards[0]
    for shard in shards[1:]:
        for key, what in SAME.items():
            if shard.facts.get(key) != first.facts.get(key):
                raise ConfigError(
                    f"{shard.folder}: {what} {shard.facts.get(key)!r} differs from {first.folder}'s "
                    f"{first.facts.get(key)!r}; shards of one comparison share it"
                )
        if shard.count != first.count:
            raise ConfigError(
                f"{shard.folder}: shard {shard.index}/{shard.count}, but {first.folder} is of {first.count}"
            )
    mine = sha256(thresholds)
    if first.facts.get("thresholds_sha256") != mine:
        raise ConfigError(f"{thresholds}: not the thresholds file the shards were run with (sha256 differs)")
    seen: dict[int, Path] = {}
    for shard in shards:
        if shard.index in seen:
            raise ConfigError(
                f"{shard.folder}: shard {shard.index}/{shard.count} given twice (also {seen[shard.index]})"
            )
        seen[shard.index] = shard.folder
    missing = sorted(set(range(1, first.count + 1)) - set(seen))
    if missing:
        raise NoVerdict(
            f"expected {first.count} shards, got {len(shards)}: missing "
            + ", ".join(f"{i}/{first.count}" for i in missing)
            + " (a runner that failed, or an artifact that was not downloaded)"
        )


def _shift_csv(source: Path, target: Path, offset: float) -> None:
    """A CSV whose first column is a Unix time, moved by `offset` seconds."""
    with source.open(newline="", encoding="utf-8") as f, target.open("w", newline="", encoding="utf-8") as out:
        reader, writer = csv.reader(f), csv.writer(out)
        header = next(reader, None)
        if header is None:
            raise ValueError("empty, not even a header")
        writer.writerow(header)
        for row in reader:
            writer.writerow([f"{float(row[0]) + offset:.6f}", *row[1:]])


def _shift_info(source: Path, target: Path, offset: float) -> None:
    info = json.loads(source.read_text(encoding="utf-8"))
    for key in ("start_time", "spawning_complete_time", "stop_time"):
        if isinstance(info.get(key), int | float):
            info[key] += offset
    info.pop("trials", None)  # one trial's own
    target.write_text(json.dumps(info), encoding="utf-8")


def place(trial: Path, target: Path, start_at: float) -> Placed:
    """A trial copied to `target` with its times moved to start at `start_at`.
    Readings that cannot be moved are left out, and said so: the latency of
    the trial still counts."""
    info = load_run_info(trial / f"{PREFIX}_run_info.json")
    if info.start_time is None or info.stop_time is None:
        raise NoVerdict(f"{trial}: no start or stop time in its run info")
    offset = start_at - info.start_time
    target.mkdir(parents=True)
    try:
        _shift_csv(trial / f"{PREFIX}_raw.csv", target / f"{PREFIX}_raw.csv", offset)
    except UNMERGEABLE as exc:
        raise NoVerdict(f"{trial}: its samples cannot be merged: {exc}") from None
    unread = ""
    if (trial / f"{PREFIX}{resources.SUFFIX}").is_file():
        try:
            _shift_csv(trial / f"{PREFIX}{resources.SUFFIX}", target / f"{PREFIX}{resources.SUFFIX}", offset)
        except UNMERGEABLE as exc:
            (target / f"{PREFIX}{resources.SUFFIX}").unlink(missing_ok=True)
            unread = f"{trial / f'{PREFIX}{resources.SUFFIX}'} cannot be merged: {str(exc) or type(exc).__name__}"
    _shift_info(trial / f"{PREFIX}_run_info.json", target / f"{PREFIX}_run_info.json", offset)
    shutil.copy(trial / f"{PREFIX}_stats.csv", target / f"{PREFIX}_stats.csv")
    return Placed(info.stop_time + offset, unread)


def merge(folders: list[Path], out: Path, thresholds: Path, exclude_ramp_up: bool) -> list[str]:
    """Every shard's trials in one results folder, and the run context; returns
    which shard made which trials, for the summary."""
    shards = sorted((read_shard(folder) for folder in folders), key=lambda s: s.index)
    check_shards(shards, thresholds)
    placed: list[Path] = []
    firsts: list[bool] = []
    runners: list[int] = []
    lines: list[str] = []
    at = min(load_run_info(s.trials[0] / f"{PREFIX}_run_info.json").start_time or 0.0 for s in shards)
    metered: dict[str, str] = {}
    unread = ""
    for shard in shards:
        begin = len(placed) + 1
        metered = resources.over_trials(metered, shard.facts.get("resources") or {})
        for trial in shard.trials:
            target = trials.folder(out, len(placed) + 1)
            done = place(trial, target, at)
            unread = unread or done.unread
            at = done.stop + GAP_S
            placed.append(target)
        firsts += shard.candidate_first
        runners += [shard.index] * len(shard.trials)
        lines.append(f"shard {shard.index}/{shard.count} ({shard.folder.name}): trials {begin}–{len(placed)}")
    trials.merge(placed, out, PREFIX, exclude_ramp_up, firsts, runners)
    if unread:  # which side's rows are damaged cannot be told: neither is judged
        metered = {side: resources.UNAVAILABLE + unread for side in (BASELINE, CANDIDATE)}
    facts = {k: v for k, v in shards[0].facts.items() if k in SAME or k == "run_time_s"}
    context.write(out, **facts, resources=metered or None)
    context.update(out, trials=len(placed), shards=lines, candidate_first=firsts)
    return lines


def named_folders(argv: list[str]) -> list[Path]:
    """The shard folders a command line names, read leniently: a line with a
    usage error still names them, and nothing may be written into one."""
    taking_value = {"--results", "--thresholds"}
    found, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg in taking_value:
            skip = True
        elif not arg.startswith("-"):
            found.append(Path(arg))
    return found


def build_parser() -> argparse.ArgumentParser:
    p = Parser(
        prog="perf-gate merge",
        description="Pool the trials of a comparison run as shards (perf-gate --shard I/N) and judge them once.",
    )
    p.add_argument("shards", nargs="+", type=Path, metavar="SHARD_RESULTS", help="each shard's --results folder")
    p.add_argument("--results", type=Path, default=Path("results"), help="folder for the merged reports")
    p.add_argument("--thresholds", type=Path, default=Path("thresholds.json"), help="the shards' thresholds file")
    return p
