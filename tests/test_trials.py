"""Fresh-start trials merged into one run the checker reads."""

import json
import shutil

import pytest

from perfgate import results, samples, trials
from perfgate.errors import NoVerdict
from tests.conftest import FIXTURES

GAP_S = 100.0


def trial_dirs(tmp_path, n: int = 2):
    """n copies of the side-by-side fixture (10 s each), GAP_S apart."""
    dirs = []
    for i in range(n):
        d = trials.folder(tmp_path, i + 1)
        shutil.copytree(FIXTURES / "compare", d)
        shift = i * GAP_S
        raw = (d / "locust_raw.csv").read_text().splitlines()
        moved = [raw[0]] + [f"{float(line.split(',', 1)[0]) + shift:.4f},{line.split(',', 1)[1]}" for line in raw[1:]]
        (d / "locust_raw.csv").write_text("\n".join(moved) + "\n")
        info = json.loads((d / "locust_run_info.json").read_text())
        for key in ("start_time", "spawning_complete_time", "stop_time"):
            info[key] += shift
        (d / "locust_run_info.json").write_text(json.dumps(info))
        dirs.append(d)
    return dirs


def test_merge_sums_counts_keeps_every_sample_and_each_trials_span(tmp_path):
    dirs = trial_dirs(tmp_path)
    one = results.load(dirs[0] / "locust")
    trials.merge(dirs, tmp_path)
    merged = results.load(tmp_path / "locust")
    assert merged.aggregate.count == 2 * one.aggregate.count
    for name, stats in one.entries.items():
        assert merged.entries[name].count == 2 * stats.count
        assert merged.entries[name].failures == 2 * stats.failures
    spans = merged.run_info.trials
    assert len(spans) == 2 and spans[1][0] - spans[0][0] == GAP_S
    raw_one, raw_both = samples.load(dirs[0] / "locust_raw.csv"), samples.load(tmp_path / "locust_raw.csv")
    assert sum(len(s.times) for s in raw_both.ok.values()) == 2 * sum(len(s.times) for s in raw_one.ok.values())
    p50, p95 = merged.entries["POST /requests"].metric("p50_ms"), merged.entries["POST /requests"].metric("p95_ms")
    assert 0 < p50 <= p95


def test_merge_keeps_which_side_started_first(tmp_path):
    dirs = trial_dirs(tmp_path)
    trials.merge(dirs, tmp_path, candidate_first=[False, True])
    assert results.load(tmp_path / "locust").run_info.candidate_first == [False, True]
    trials.merge(dirs, tmp_path)  # no comparison: nothing recorded
    assert results.load(tmp_path / "locust").run_info.candidate_first is None


def test_a_trial_without_times_cannot_be_merged(tmp_path):
    dirs = trial_dirs(tmp_path)
    (dirs[1] / "locust_run_info.json").write_text("{}")
    with pytest.raises(NoVerdict, match="no start or stop time"):
        trials.merge(dirs, tmp_path)


def test_run_info_trials_are_checked(tmp_path):
    path = tmp_path / "locust_run_info.json"
    path.write_text(json.dumps({"trials": [[1.8e9, 1.8e9 + 1, 1.8e9 + 30], [1.8e9 + 20, 1.8e9 + 21, 1.8e9 + 50]]}))
    with pytest.raises(NoVerdict, match=r"trials\[1\]: times go back"):
        results.load_run_info(path)
    path.write_text(json.dumps({"trials": [[1.8e9, "soon", 1.8e9 + 30]]}))
    with pytest.raises(NoVerdict, match=r"trials\[0\]: expected \[start, spawning complete, stop\]"):
        results.load_run_info(path)


@pytest.mark.parametrize("value", [[True], [True, "yes"], "true", [1, 0]])
def test_run_info_start_orders_are_checked(tmp_path, value):
    path = tmp_path / "locust_run_info.json"
    spans = [[1.8e9, 1.8e9 + 1, 1.8e9 + 30], [1.8e9 + 40, 1.8e9 + 41, 1.8e9 + 70]]
    path.write_text(json.dumps({"trials": spans, "candidate_first": value}))
    with pytest.raises(NoVerdict, match=r"locust_run_info.json: candidate_first must be a list of 2 true/false"):
        results.load_run_info(path)
