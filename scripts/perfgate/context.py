"""The run's context: how the load was made and on what, so that a reader can
judge the numbers (20 users on 2 CPUs with Locust at 95% is not 200 users on
16). perf-gate writes what only it knows (`perf-gate-context.json`: backend,
commits, CPUs, spawn rate); Locust's run info adds the rest. A report only:
nothing here changes a verdict."""

import json
import math
import os
import subprocess
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import get_args, get_origin

from perfgate.results import RunInfo

FILE = "perf-gate-context.json"


@dataclass
class RunContext:
    started: float | None = None  # Unix time the load began
    duration_s: float | None = None  # from the start to the users' stop
    users: int | None = None
    spawn_rate: float | None = None
    run_time_s: float | None = None
    backend: str | None = None  # embedded, compose, or the host's URL
    candidate: str | None = None  # commit
    baseline: str | None = None  # commit, for a comparison
    cpus: int | None = None
    placement: str | None = None  # "Locust on CPU 0, the services on CPU 1" when kept apart
    max_cpu_percent: float | None = None  # the load generator's peak
    trials: int | None = None  # fresh-start trials made
    max_trials: int | None = None  # as many as a sequential run could have made
    notes: list[str] | None = None  # what perf-gate saw that makes the numbers noisier; shown as warnings
    # per side: how its CPU and memory were read ("proc", "cgroup"), or "unavailable: why"
    resources: dict[str, str] | None = None
    shard: str | None = None  # "2/3": this run is one runner's part of a comparison (perf-gate merge pools them)
    shards: list[str] | None = None  # a merge: which runner made which trials, "shard 1/3: trials 1-4"
    thresholds_sha256: str | None = None  # of the thresholds file the run was made with, so merges can match
    candidate_first: list[bool] | None = None  # per trial of a comparison, in order


def _fits(value: object, kind: type) -> bool:
    if get_origin(kind) is list:
        return isinstance(value, list) and all(_fits(item, get_args(kind)[0]) for item in value)
    if get_origin(kind) is dict:
        key, item = get_args(kind)
        return isinstance(value, dict) and all(_fits(k, key) and _fits(v, item) for k, v in value.items())
    if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else kind):
        return False
    return math.isfinite(value) if isinstance(value, float) else True


def commit(repo: Path, ref: str) -> str | None:
    """The commit `ref` names in `repo`; None outside a repository (a report only)."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            cwd=repo,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return (proc.stdout.strip() or None) if proc.returncode == 0 else None


def write(results: Path, **known: object) -> None:
    """What perf-gate knows before the load starts; unknown keys are refused by the dataclass."""
    context = RunContext(cpus=os.cpu_count(), **known)  # type: ignore[arg-type]
    (results / FILE).write_text(json.dumps({k: v for k, v in asdict(context).items() if v is not None}))


def update(results: Path, **known: object) -> None:
    """Add what became known during the run to what perf-gate wrote before it."""
    path = results / FILE
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update({k: v for k, v in known.items() if v is not None})
    path.write_text(json.dumps(data))


def load(results: Path, run_info: RunInfo) -> tuple[RunContext, list[str]]:
    """The context, and warnings: what could not be read (never an error) and its notes."""
    context, warnings = RunContext(), []
    path = results / FILE
    if path.exists():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, RecursionError) as exc:
            warnings.append(f"{path}: run context unreadable ({exc}); the report goes without it")
            data = {}
        for field in fields(RunContext):
            value, kind = data.get(field.name), get_args(field.type)[0]
            if _fits(value, kind):
                setattr(context, field.name, value)
    if run_info.start_time is not None:
        context.started = run_info.start_time
        if run_info.stop_time is not None:
            context.duration_s = run_info.stop_time - run_info.start_time
    if run_info.users is not None:
        context.users = run_info.users
    if run_info.max_cpu_percent:
        context.max_cpu_percent = run_info.max_cpu_percent
    return context, warnings + (context.notes or [])
