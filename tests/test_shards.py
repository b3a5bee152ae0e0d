"""`perf-gate merge`: shards of one comparison pooled and judged once (perfgate.shards)."""

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest

from perfgate import check_cli, context, run, trials
from perfgate.compare import look_interval, runners_disagree
from perfgate.shards import named_folders

T0 = 1_800_000_000.0
ENTRY = "POST /requests"
THRESHOLDS = {
    "entries": {ENTRY: {"failure_ratio": 0}},
    "stall": False,
    "regression": {"window_s": 2, "entries": {ENTRY: {"p50": 0.05}}},
}


def write_trial(folder: Path, start: float, factor: float, rng: np.random.Generator) -> None:
    """10 s of 40 requests a second per side; the candidate's response times `factor` times the baseline's."""
    folder.mkdir(parents=True)
    times = np.sort(rng.uniform(start, start + 10, 400))
    rows, values = [], {}
    for side, scale in (("baseline", 1.0), ("candidate", factor)):
        ms = 20 * scale * rng.lognormal(0, 0.25, len(times))
        values[side] = ms
        rows += [(t, "POST", f"[{side}] /requests", m) for t, m in zip(times, ms, strict=True)]
    with (folder / "locust_raw.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["time", "type", "name", "response_time_ms", "ok"])
        writer.writerows([(f"{t:.4f}", kind, name, f"{m:.3f}", 1) for t, kind, name, m in sorted(rows)])
    info = {"start_time": start, "spawning_complete_time": start, "stop_time": start + 10, "users": 10}
    (folder / "locust_run_info.json").write_text(json.dumps(info))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(trials.HEADER)
    for side in values:
        c = {"n": 400, "fail": 0, "sum": float(values[side].sum()), "size": 0.0, "min": 1.0, "max": 100.0}
        writer.writerow(trials._row(("POST", f"[{side}] /requests"), c, list(values[side]), 10.0))
    both = np.concatenate(list(values.values()))
    c = {"n": 800, "fail": 0, "sum": float(both.sum()), "size": 0.0, "min": 1.0, "max": 100.0}
    writer.writerow(trials._row(("", "Aggregated"), c, list(both), 10.0))
    (folder / "locust_stats.csv").write_text(out.getvalue())


def make_shard(root: Path, index: int, count: int, factors: list[float], seed: int, **facts) -> Path:
    """A shard's results folder as `perf-gate --shard index/count` leaves it; its runner starts at its own time
    (runners run at once: the shards' times overlap)."""
    folder = root / f"shard-{index}"
    rng = np.random.default_rng(seed)
    for n, factor in enumerate(factors, start=1):
        write_trial(trials.folder(folder, n), T0 + 40 * (n - 1), factor, rng)
    known = {
        "shard": f"{index}/{count}",
        "candidate": "c" * 40,
        "baseline": "b" * 40,
        "thresholds_sha256": facts.pop("sha", None),
        "users": 10,
        "spawn_rate": 10.0,
        "backend": "embedded",
        "candidate_first": [n % 2 == 1 for n in range(1, len(factors) + 1)],
        **facts,
    }
    (folder / context.FILE).write_text(json.dumps(known))
    return folder


@pytest.fixture
def thresholds(tmp_path) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(json.dumps(THRESHOLDS))
    return path


def shard_set(tmp_path, thresholds, factors: list[list[float]], **facts) -> list[Path]:
    from perfgate.shards import sha256

    return [
        make_shard(tmp_path, i, len(factors), f, seed=i, sha=sha256(thresholds), **facts)
        for i, f in enumerate(factors, start=1)
    ]


def merge(tmp_path, shards: list[Path], thresholds: Path, out: str = "merged") -> tuple[int, dict]:
    results = tmp_path / out
    code = run.main(["merge", *map(str, shards), "--results", str(results), "--thresholds", str(thresholds)])
    return code, json.loads((results / "verdict.json").read_text())


def rule(verdict: dict) -> dict:
    return next(r for r in verdict["results"] if r["metric"] == "p50_regression")


def single_run(tmp_path, merged: Path, thresholds: Path) -> dict:
    """The merged trials judged as one runner's: the same folders, no runners recorded."""
    info = json.loads((merged / "locust_run_info.json").read_text())
    folders = sorted(merged.glob("trial-*"), key=lambda p: int(p.name.split("-")[1]))
    single = tmp_path / "single"
    single.mkdir()
    trials.merge(folders, single, candidate_first=info["candidate_first"])
    args = check_cli.build_parser().parse_args(["--results", str(single), "--thresholds", str(thresholds), "--compare"])
    verdict, _ = check_cli.evaluate(args)
    return next(vars(r) for r in verdict.results if r.metric == "p50_regression")


AGREE = [[1.00, 1.01, 0.99], [1.01, 1.00, 0.995], [0.99, 1.005, 1.01]]


def test_shards_that_agree_give_the_verdict_and_interval_of_one_run_of_the_same_trials(tmp_path, thresholds):
    shards = shard_set(tmp_path, thresholds, AGREE)
    code, verdict = merge(tmp_path, shards, thresholds)
    merged, single = rule(verdict), single_run(tmp_path, tmp_path / "merged", thresholds)
    assert code == 0 and merged["status"] == single["status"] == "pass", merged["message"]
    assert merged["interval"] == pytest.approx(single["interval"], rel=1e-9)
    assert merged["ratio"] == pytest.approx(single["ratio"], rel=1e-9)
    assert "over 9 trials on 3 runners" in merged["message"] and len(merged["runner_ratios"]) == 3
    info = json.loads((tmp_path / "merged" / "locust_run_info.json").read_text())
    assert info["runners"] == [1, 1, 1, 2, 2, 2, 3, 3, 3] and len(info["trials"]) == 9
    summary = (tmp_path / "merged" / "summary.md").read_text()
    assert "shard 2/3 (shard-2): trials 4–6" in summary and "| p50 regression of POST /requests |" in summary


def test_a_shard_that_disagrees_widens_the_interval(tmp_path, thresholds):
    disagree = [AGREE[0], AGREE[1], [1.09, 1.10, 1.11]]
    shards = shard_set(tmp_path, thresholds, disagree)
    code, verdict = merge(tmp_path, shards, thresholds)
    merged, single = rule(verdict), single_run(tmp_path, tmp_path / "merged", thresholds)
    assert "3 runners, which disagree" in merged["message"], merged["message"]
    low, high = merged["interval"]
    assert high - low > 1.5 * (single["interval"][1] - single["interval"][0])
    assert merged["status"] != "pass" and code != 0  # one runner sees +10%: never a pass


def test_runner_disagreement_is_an_f_test_and_agreement_pools_the_trials():
    rng = np.random.default_rng(1)
    ys = rng.normal(0, 0.01, 12)
    ids = np.repeat([1, 2, 3], 4)
    assert not runners_disagree(ys, ids)
    assert runners_disagree(ys + np.repeat([0.0, 0.0, 0.1], 4), ids)
    pooled, alone = look_interval(ys, 0.001, 0.9, (1,), None, list(ids)), look_interval(ys, 0.001, 0.9, (1,), None)
    assert (pooled.low, pooled.high, pooled.runners) == (alone.low, alone.high, 0)
    assert len(pooled.runner_ratios) == 3


def test_each_runners_ratio_has_the_start_order_taken_out_as_the_interval_has():
    """A runner that happened to start the candidate first more often shows no change the order made."""
    first = [True, True, False, False, True, False, True, False]
    ys = np.where(first, 0.02, -0.02)  # the start order alone: the side started first 2% slower, no change
    found = look_interval(ys, 0.001, 0.9, (1,), first, [1, 1, 1, 2, 2, 2, 2, 2])
    assert found.order is not None
    assert found.runner_ratios == pytest.approx([1.0, 1.0], abs=1e-9)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"candidate": "d" * 40}, "candidate commit"),
        ({"baseline": "e" * 40}, "baseline commit"),
        ({"users": 20}, "users"),
    ],
)
def test_shards_of_different_comparisons_are_refused_naming_the_difference(tmp_path, thresholds, change, expected):
    shards = shard_set(tmp_path, thresholds, AGREE[:2])
    facts = json.loads((shards[1] / context.FILE).read_text())
    (shards[1] / context.FILE).write_text(json.dumps({**facts, **change}))
    code, verdict = merge(tmp_path, shards, thresholds)
    assert code == 2 and expected in verdict["configuration_errors"][0]


def test_other_thresholds_a_shard_twice_or_one_missing_are_refused(tmp_path, thresholds):
    shards = shard_set(tmp_path, thresholds, AGREE)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({**THRESHOLDS, "stall": {"min_duration_s": 9}}))
    code, verdict = merge(tmp_path, shards, other, "m1")
    assert code == 2 and "not the thresholds file the shards were run with" in verdict["configuration_errors"][0]
    code, verdict = merge(tmp_path, [shards[0], shards[0], shards[1]], thresholds, "m2")
    assert code == 2 and "given twice" in verdict["configuration_errors"][0]
    code, verdict = merge(tmp_path, shards[:2], thresholds, "m3")
    assert code == 3 and "missing 3/3" in verdict["problems"][0]
    code, verdict = merge(tmp_path, [tmp_path / "m1"], thresholds, "m4")
    assert code == 2 and "not a perf-gate results folder" in verdict["configuration_errors"][0]
    assert merge(tmp_path, shards, thresholds, "m5")[0] == 0
    code, verdict = merge(tmp_path, [tmp_path / "m5"], thresholds, "m6")  # a merge is no shard
    assert code == 2 and "not a shard's results" in verdict["configuration_errors"][0]


def test_the_merge_never_writes_into_a_shard(tmp_path, thresholds, capsys):
    shards = shard_set(tmp_path, thresholds, AGREE)
    before = sorted(p.name for p in shards[0].rglob("*"))
    code = run.main(["merge", *map(str, shards), "--results", str(shards[0]), "--thresholds", str(thresholds)])
    assert code == 2 and "one of the shards' folders" in capsys.readouterr().err
    assert sorted(p.name for p in shards[0].rglob("*")) == before
    for usage_error in (["--typo"], ["--thresholds"]):  # a bad line is refused before its report is written
        code = run.main(["merge", *map(str, shards), "--results", str(shards[0]), *usage_error])
        assert code == 2 and sorted(p.name for p in shards[0].rglob("*")) == before
    assert named_folders(["a", "--results", "b", "--thresholds=t", "--thresholds", "u", "c"]) == [
        Path("a"),
        Path("c"),
    ]


def test_a_merge_with_an_unknown_option_is_a_usage_error_with_its_report(tmp_path, thresholds):
    out = tmp_path / "m"
    code = run.main(["merge", "--trials-per-shard", "3", "--results", str(out), "--thresholds", str(thresholds)])
    verdict = json.loads((out / "verdict.json").read_text())
    assert code == 2 and "--trials-per-shard" in verdict["configuration_errors"][0]


def test_a_stray_folder_named_like_a_trial_is_left_alone(tmp_path, thresholds):
    shards = shard_set(tmp_path, thresholds, AGREE)
    (shards[0] / "trial-notes").mkdir()
    code, verdict = merge(tmp_path, shards, thresholds)
    assert code == 0 and "over 9 trials" in rule(verdict)["message"]


def test_damaged_readings_in_one_trial_leave_the_resource_rules_unjudged_and_latency_judged(tmp_path):
    path = tmp_path / "thresholds.json"
    with_rules = {**THRESHOLDS, "regression": {**THRESHOLDS["regression"], "resources": {"cpu_per_request": 0.03}}}
    path.write_text(json.dumps(with_rules))
    read = {"baseline": "proc", "candidate": "proc"}
    shards = shard_set(tmp_path, path, AGREE, resources=read)
    (trials.folder(shards[1], 2) / "locust_resources.csv").write_text("")  # a runner that died as it began
    code, verdict = merge(tmp_path, shards, path)
    [cpu] = [r for r in verdict["results"] if r["metric"] == "cpu_per_request_regression"]
    assert code == 3 and cpu["status"] == "error"
    assert "trial-2/locust_resources.csv cannot be merged: empty, not even a header" in cpu["message"]
    assert rule(verdict)["status"] == "pass"


def test_a_side_is_read_in_the_merge_when_any_shard_read_it(tmp_path, thresholds):
    read = {"baseline": "proc", "candidate": "proc"}
    shards = shard_set(tmp_path, thresholds, AGREE, resources=read)
    client = {"baseline": "proc", "candidate": "unavailable: a container client"}
    for shard in shards:
        facts = json.loads((shard / context.FILE).read_text())
        (shard / context.FILE).write_text(json.dumps({**facts, "resources": client}))
        merge(tmp_path, shards, thresholds, out=f"merged-{shard.name}")
        merged = json.loads((tmp_path / f"merged-{shard.name}" / context.FILE).read_text())
        assert merged["resources"] == (client if shard == shards[-1] else read)  # unread only when no shard read it
