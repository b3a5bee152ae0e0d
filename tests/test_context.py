"""The run's context: written by perf-gate, completed from Locust's run info, never an error."""

import json
from pathlib import Path

from perfgate import context
from perfgate.results import RunInfo
from tests.conftest import ROOT


def test_written_then_completed_from_run_info(tmp_path):
    context.write(tmp_path, users=20, spawn_rate=10.0, run_time_s=60, backend="compose", candidate="a" * 40)
    info = RunInfo(Path("x"), start_time=1_800_000_000.0, stop_time=1_800_000_061.5, users=25, max_cpu_percent=88.0)
    ctx, warnings = context.load(tmp_path, info)
    assert warnings == []
    assert (ctx.users, ctx.spawn_rate, ctx.backend, ctx.candidate) == (
        25,
        10.0,
        "compose",
        "a" * 40,
    )  # Locust's count wins
    assert ctx.started == 1_800_000_000.0 and ctx.duration_s == 61.5 and ctx.max_cpu_percent == 88.0
    assert ctx.cpus and ctx.cpus >= 1


def test_an_unreadable_or_odd_file_is_a_warning_and_odd_values_are_left_out(tmp_path):
    (tmp_path / context.FILE).write_text("{not json")
    ctx, warnings = context.load(tmp_path, RunInfo(Path("x")))
    assert ctx == context.RunContext() and "run context unreadable" in warnings[0]
    odd = {"users": "many", "spawn_rate": float("nan"), "cpus": True, "backend": 3, "candidate": "abc", "extra": 1}
    (tmp_path / context.FILE).write_text(json.dumps(odd))
    ctx, warnings = context.load(tmp_path, RunInfo(Path("x")))
    assert warnings == [] and ctx == context.RunContext(candidate="abc")


def test_commit_names_a_commit_or_nothing(tmp_path):
    head = context.commit(ROOT, "HEAD")
    assert head is None or len(head) == 40  # a clean clone has one; an exported tree has none
    assert context.commit(ROOT, "no-such-ref-anywhere") is None
    assert context.commit(tmp_path, "HEAD") is None


def test_notes_come_back_as_warnings_and_odd_ones_are_left_out(tmp_path):
    context.write(tmp_path, backend="compose")
    context.update(tmp_path, notes=["compose service 'db' checks its health every 2s while the load runs"])
    ctx, warnings = context.load(tmp_path, RunInfo(Path("x")))
    assert warnings == ctx.notes == ["compose service 'db' checks its health every 2s while the load runs"]
    for odd in ("a note", ["a note", 3], {"a": 1}):
        context.update(tmp_path, notes=odd)
        ctx, warnings = context.load(tmp_path, RunInfo(Path("x")))
        assert ctx.notes is None and warnings == []
