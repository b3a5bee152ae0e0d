"""The benchmarks' own arithmetic: judging a series again from its trials' ratios, reading kept runs."""

import argparse
import importlib
import json
import math
import pkgutil
import runpy
import sys

import numpy as np
import pytest
from scipy import stats

import benchmarks
import benchmarks.research
from benchmarks import regression_detection, rejudge, series_report, trial_ratios
from benchmarks.research import (
    cpu_by_side,
    outlier_trials,
    quantile_estimators,
    start_order,
    trial_length,
    warmup_cut,
)
from perfgate.samples import Samples

MODULES = [
    f"{package.__name__}.{m.name}"
    for package in (benchmarks, benchmarks.research)
    for m in pkgutil.iter_modules(package.__path__)
    if not m.ispkg
]


@pytest.mark.parametrize("name", MODULES)
def test_every_benchmark_says_what_it_answers_and_runs_by_the_command_it_gives(name, monkeypatch, capsys):
    module = importlib.import_module(name)
    assert module.__doc__ and module.__doc__.strip(), f"{name} has no module docstring"
    if not hasattr(module, "main"):
        return
    assert f"python -m {name} " in module.__doc__  # its own command, by its own path
    monkeypatch.delitem(sys.modules, name)  # runpy runs it afresh, as `python -m` does
    monkeypatch.setattr(sys, "argv", [name, "--help"])
    with pytest.raises(SystemExit) as stopped:
        runpy.run_module(name, run_name="__main__", alter_sys=True)
    assert stopped.value.code == 0 and "usage:" in capsys.readouterr().out


def test_trials_are_judged_as_the_comparison_judges_them():
    ys = [math.log(r) for r in (1.01, 0.99, 1.02, 0.98, 1.00, 1.01)]
    status, low, high = trial_ratios.judge(ys, within_log=0.001, tolerance=0.05, confidence=0.95, looks=(6,))
    assert status == "pass" and low < 1.0 < high < 1.05
    assert math.log(high / low) / 2 == pytest.approx(stats.t.ppf(0.975, 5) * np.std(ys, ddof=1) / math.sqrt(6))
    status, *_ = trial_ratios.judge([y + math.log(1.2) for y in ys], 0.001, 0.05, 0.95, (6,))
    assert status == "fail"
    # trials whose ratios are all the same say nothing of their spread: the windows' noise stands in
    t3 = stats.t.ppf(0.975, 2)
    _, low, high = trial_ratios.judge([0.01, 0.01, 0.01], within_log=0.02, tolerance=0.05, confidence=0.95, looks=(3,))
    assert math.log(high) == pytest.approx(0.01 + t3 * 0.02)
    _, low, high = trial_ratios.judge([0.0, 1e-3, -1e-3], within_log=0.02, tolerance=0.05, confidence=0.95, looks=(3,))
    assert math.log(high) == pytest.approx(t3 * 1e-3 / math.sqrt(3))  # else the spread alone
    # a look of a sequential run is at its boundary, the start order taken out from the 6th trial
    alternating = [0.03, -0.03] * 3
    first = [True, False] * 3
    _, low, high = trial_ratios.judge(alternating, 0.001, 0.05, 0.95, (4, 5, 6, 7), first)
    assert low < 1.0 < high and math.log(high) < 0.01  # the whole swing is the order's: the windows' noise is left
    _, low, high = trial_ratios.judge(alternating, 0.001, 0.05, 0.95, (4, 5, 6, 7))
    assert math.log(high) > 0.03


def series_args(folder, shift=()) -> argparse.Namespace:
    """--rejudge-ratios of s.json at t.json, as a 2-minute run with a 5-minute budget."""
    return argparse.Namespace(
        json=folder / "s.json",
        thresholds=folder / "t.json",
        run_time="2m",
        max_run_time="5m",
        gate_trials=None,
        shift=list(shift),
        plain_trials=False,
        drop_outlier=None,
    )


def test_a_series_is_judged_again_at_other_tolerances(tmp_path):
    ys = [math.log(r) for r in (1.03, 1.05, 1.04, 1.06, 1.04, 1.05, 1.03, 1.04, 1.05, 1.04)]
    series = [{"condition": "A/A", "trial": 0, "trials": {"p50 of GET /e": {"ln_ratios": ys, "within_log": 0.002}}}]
    (tmp_path / "s.json").write_text(json.dumps(series))
    runs = {}
    for tolerance in (0.02, 0.10):
        (tmp_path / "t.json").write_text(
            json.dumps(
                {"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": tolerance}}}}
            )
        )
        args = series_args(tmp_path)
        assert rejudge.looks_of(args) == (4, 5, 6, 7, 8, 9, 10)
        [runs[tolerance]] = rejudge.rejudge_ratios(args, ["A/A"])
    assert (runs[0.02]["exit"], runs[0.02]["results"][0]["status"]) == (1, "fail")
    assert (runs[0.10]["exit"], runs[0.10]["results"][0]["status"]) == (0, "pass")
    # the same noise around a known slowdown: what the tolerance would catch
    args.shift = [rejudge.shift_arg("p50 of GET /e=1.10")]
    [shifted] = rejudge.rejudge_ratios(args, ["A/A"])
    assert shifted["results"][0]["status"] == "fail"
    k = int(shifted["results"][0]["message"].split()[1])  # a clear failure may stop the run at an earlier look
    assert math.isclose(shifted["results"][0]["ratio"], math.exp(np.mean(ys[:k])) * 1.10)


def test_a_runs_looks_are_replayed_and_it_stops_where_the_gate_would():
    looks, tolerance = (4, 5, 6, 7, 8, 9, 10), {"p50 of GET /e": 0.05}
    steady = [math.log(r) for r in (1.001, 0.999, 1.000, 1.001, 0.999, 1.000, 1.001, 0.999, 1.000, 1.001)]
    used, stored, [result] = rejudge.replay_looks(
        {"p50 of GET /e": {"ln_ratios": steady, "within_log": 0.001}}, tolerance, 0.95, looks, {}
    )
    assert (used, stored, result["status"], result["message"]) == (4, 10, "pass", "over 4 trials")  # clear at once
    noisy = [math.log(r) for r in (1.10, 0.92, 1.09, 0.93, 1.08, 0.91, 1.10, 0.92, 1.09, 0.93)]
    used, stored, [result] = rejudge.replay_looks(
        {"p50 of GET /e": {"ln_ratios": noisy, "within_log": 0.001}}, tolerance, 0.95, looks, {}
    )
    assert (used, stored, result["status"]) == (10, 10, "inconclusive")  # never decided: every stored trial used
    # a run that stopped early under a stricter rule has fewer trials stored: the replay ends there
    used, stored, [result] = rejudge.replay_looks(
        {"p50 of GET /e": {"ln_ratios": noisy[:6], "within_log": 0.001}}, tolerance, 0.95, looks, {}
    )
    assert (used, stored, result["message"]) == (6, 6, "over 6 trials")
    # a run of fixed length looks once, at its planned trials
    used, stored, [result] = rejudge.replay_looks(
        {"p50 of GET /e": {"ln_ratios": noisy, "within_log": 0.001}}, tolerance, 0.95, (6,), {}
    )
    assert (used, stored, result["message"]) == (6, 10, "over 6 trials")
    # the same swing told apart by start order (the candidate first in odd trials): it is the order's
    alternating = {"ln_ratios": noisy, "within_log": 0.001, "candidate_first": [n % 2 == 0 for n in range(10)]}
    used, stored, [result] = rejudge.replay_looks({"p50 of GET /e": alternating}, tolerance, 0.95, looks, {})
    assert result["status"] == "pass" and used < 10, (used, result)
    used, stored, [result] = rejudge.replay_looks(
        {"p50 of GET /e": alternating}, tolerance, 0.95, looks, {}, by_order=False
    )
    assert (used, result["status"]) == (10, "inconclusive")


def test_one_trial_far_from_the_rest_is_left_out_and_only_then():
    calm = [math.log(r) for r in (1.004, 0.996, 1.002, 0.998, 1.003, 0.997, 1.001, 0.999)]
    burst = calm[:5] + [math.log(1.15)] + calm[6:]  # a neighbour's burst on one side in trial 6
    order = [n % 2 == 0 for n in range(8)]
    kept, kept_order = outlier_trials.without_outlier(burst, order, 0.01)
    assert kept == calm[:5] + calm[6:] and kept_order == order[:5] + order[6:]
    assert outlier_trials.without_outlier(calm, order, 0.01) == (calm, order)  # none stands out: all kept
    assert outlier_trials.without_outlier(burst[:5], None, 0.01) == (burst[:5], None)  # too few to tell
    assert outlier_trials.without_outlier(burst, None, 0.01) == (calm[:5] + calm[6:], None)  # order unknown
    # a run undecided for that one trial is decided without it; the gate keeps it and stays undecided
    tolerance, looks = {"p50 of GET /e": 0.02}, (8,)
    got = {"p50 of GET /e": {"ln_ratios": burst, "within_log": 0.001, "candidate_first": order}}
    _, _, [kept_all] = rejudge.replay_looks(got, tolerance, 0.95, looks, {})
    _, _, [dropped] = rejudge.replay_looks(got, tolerance, 0.95, looks, {}, drop_outlier=0.01)
    assert (kept_all["status"], dropped["status"]) == ("inconclusive", "pass")
    with pytest.raises(argparse.ArgumentTypeError, match="between 0 and 1"):
        regression_detection.level_arg("1.5")


def test_a_stored_series_is_judged_with_and_without_its_outlying_trial(tmp_path, capsys):
    calm = [math.log(r) for r in (1.004, 0.996, 1.002, 0.998, 1.003, 0.997, 1.001, 0.999)]
    trials = {"ln_ratios": calm[:5] + [math.log(1.15)] + calm[6:], "within_log": 0.001}
    trials["candidate_first"] = [n % 2 == 0 for n in range(8)]
    (tmp_path / "s.json").write_text(
        json.dumps([{"condition": "A/A", "trial": 0, "trials": {"p50 of GET /e": trials}}])
    )
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.02}}}})
    )
    series = ["--json", str(tmp_path / "s.json"), "--thresholds", str(tmp_path / "t.json"), "--conditions", "A/A"]
    outlier_trials.main(["--level", "0.01", *series, "--gate-trials", "8"])
    kept, dropped = capsys.readouterr().out.split("== the outlier left out at 0.01")
    assert "0/1 green" in kept and "1/1 green" in dropped  # undecided for that one trial, decided without it
    with pytest.raises(SystemExit):
        regression_detection.main(["--drop-outlier", "0.01", *series])  # only with --rejudge-ratios


def test_a_shift_names_a_rule_and_a_positive_factor(tmp_path):
    assert rejudge.shift_arg("p95 of GET /a=b=1.05") == ("p95 of GET /a=b", 1.05)
    for bad in ("p95 of GET /a", "=1.05", "p95 of GET /a=x", "p95 of GET /a=-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="RULE=FACTOR"):
            rejudge.shift_arg(bad)
    (tmp_path / "s.json").write_text("[]")
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.1}}}})
    )
    args = series_args(tmp_path, shift=[("p50 of GET /x", 1.1)])
    with pytest.raises(SystemExit, match="no regression rule 'p50 of GET /x'"):
        rejudge.rejudge_ratios(args, ["A/A"])


def kept_run(folder, slower_first: float) -> None:
    """A kept run of two 30 s trials (candidate started first, then baseline
    first) in which the side started first is `slower_first` times slower."""
    folder.mkdir(parents=True)
    t0 = 1_800_000_000.0
    rng = np.random.default_rng(1)
    rows, spans = ["time,type,name,response_time_ms,ok"], []
    for n, first in enumerate(("candidate", "baseline"), 1):
        start = t0 + (n - 1) * 40
        spans.append([start, start, start + 30])
        for t, ms in zip(start + np.arange(0, 30, 0.05), rng.lognormal(3, 0.2, 600), strict=True):
            for side in ("baseline", "candidate"):
                rows.append(f"{t:.3f},GET,[{side}] /e,{ms * (slower_first if side == first else 1):.3f},1")
        then = "baseline" if first == "candidate" else "candidate"
        for side, second in ((first, "01"), (then, "02")):
            (folder / f"backend-{side}-trial{n}.log").write_text(f"2027-01-15 08:00:{second},000 INFO backend up\n")
    (folder / "locust_raw.csv").write_text("\n".join(rows) + "\n")
    (folder / "locust_run_info.json").write_text(json.dumps({"trials": spans}))


def test_the_start_order_effect_is_read_window_by_window(tmp_path):
    kept_run(tmp_path / "run", slower_first=1.04)
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.1}}}})
    )
    windows = start_order.first_over_second(tmp_path / "run", tmp_path / "t.json")["p50 of GET /e"]
    assert sorted(windows) == [0, 1, 2, 3, 4, 5]
    for ys in windows.values():
        assert len(ys) == 2  # one per trial, whichever side started first
        assert all(abs(y - math.log(1.04)) < 0.006 for y in ys)  # the histograms' bins are 0.6% wide


def test_start_order_says_what_it_did_not_find(tmp_path):
    with pytest.raises(SystemExit, match="no such folder: .*nope"):
        start_order.main([str(tmp_path / "nope")])
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /x": {"failure_ratio": 0}}, "regression": {"entries": {"GET /x": {"p50": 0.1}}}})
    )
    kept_run(tmp_path / "runs" / "0", slower_first=1.0)  # samples of GET /e only
    for view in ([], ["--by-window"]):
        with pytest.raises(SystemExit, match="no kept runs with samples of .*t.json's regression rules"):
            start_order.main([*view, "--thresholds", str(tmp_path / "t.json"), str(tmp_path / "runs")])


def test_the_rule_table_counts_each_status_and_reads_as_the_readme_has_it():
    def run(status: str, low: float, high: float) -> dict:
        result = {"name": "p50 regression of GET /e", "metric": "p50_regression", "status": status}
        return {"condition": "A/A", "results": [{**result, "interval": [low, high], "ratio": 1.0, "baseline": 1.0}]}

    runs = [run("pass", 0.98, 1.02), run("pass", 0.99, 1.03), run("inconclusive", 1.01, 1.08)]
    [row] = series_report.rule_rows(runs, ["A/A"])
    assert (row["n"], row["pass"], row["inconclusive"], row["fail"], row["holds"]) == (3, 2, 1, 0, 2)
    header, _, line = series_report.markdown_table([row], {"p50 of GET /e": 0.05})
    assert header.startswith("| condition | rule (tolerance) |")
    assert line.startswith("| A/A | p50 of GET /e (5%) | 0/3 | 2/3 | 1/3 | 1.000 |") and line.endswith("| 2/3 |")


def test_the_catch_table_counts_the_runs_each_slowdown_fails(tmp_path):
    ys = [math.log(r) for r in (1.004, 0.996, 1.002, 0.998, 1.003, 0.997, 1.001, 0.999, 1.0, 1.0)]
    series = [{"condition": "A/A", "trial": 0, "trials": {"p50 of GET /e": {"ln_ratios": ys, "within_log": 0.001}}}]
    (tmp_path / "s.json").write_text(json.dumps(series))
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.05}}}})
    )
    _, _, row = rejudge.catch_table(series_args(tmp_path), ["A/A"], [1.03, 1.10])
    assert row == "| p50 of GET /e (5%) | 0/1 | 1/1 |"  # +3% is within the tolerance, +10% is caught
    # a run that stopped after 4 trials as made: +6% is undecided there, and the gate would have gone on
    series[0]["trials"]["p50 of GET /e"]["ln_ratios"] = [math.log(r) for r in (1.03, 0.99, 1.04, 0.98)]
    (tmp_path / "s.json").write_text(json.dumps(series))
    _, _, row = rejudge.catch_table(series_args(tmp_path), ["A/A"], [1.06])
    assert row == "| p50 of GET /e (5%) | 0/1 (+1?) |"
    assert regression_detection.factors_arg("1.03, 1.1") == [1.03, 1.1]
    for bad in ("", "x", "0.97", "1.03,1"):
        with pytest.raises(argparse.ArgumentTypeError, match="factors above 1"):
            regression_detection.factors_arg(bad)


def test_each_sides_processes_are_found_from_its_backend_log(tmp_path):
    for side, api, when in (("baseline", 10, "08:00:01"), ("candidate", 20, "08:00:03")):
        (tmp_path / f"backend-{side}-trial2.log").write_text(
            f"BASE_URL=http://127.0.0.1:1\n2027-01-15 {when},000 backend.embedded backend up: api pid {api}, "
            f"1 worker(s), postgres /tmp/pg-{side}/pgdata\n"
            f"2027-01-15 {when},500 request-processor worker vm-{api + 1}-7 ready\n"
        )
    (tmp_path / "backend-baseline-trial1.log").write_text("backend.embedded backend stopped\n")  # an earlier trial

    def proc(cmd: str, ppid: int, run: int) -> dict:
        return {"cmd": cmd, "ppid": ppid, "sched": (run, 2 * run, 3)}

    procs = {
        10: proc("python -m uvicorn", 1, 100),
        11: proc("python -m backend.app.worker", 1, 10),
        12: proc("postgres -D /tmp/pg-baseline/pgdata", 1, 1),
        13: proc("postgres: idle", 12, 2),
        20: proc("python -m uvicorn", 1, 200),
        21: proc("python -m backend.app.worker", 1, 20),
        22: proc("postgres -D /tmp/pg-candidate/pgdata", 1, 4),
    }
    sides = cpu_by_side.sides_of(tmp_path, procs)
    assert sides["baseline"]["trial"] == 2 and sides["baseline"]["pids"] == [10, 11, 12, 13]
    assert sides["baseline"]["api"] == [100, 200, 3] and sides["baseline"]["pg"] == [3, 6, 6]
    assert sides["candidate"]["worker"] == [20, 40, 3] and sides["candidate"]["pg"] == [4, 8, 3]


def test_the_side_started_first_is_compared_with_the_one_started_second():
    def sample(t: int, trial: int, first: str) -> dict:
        second = "candidate" if first == "baseline" else "baseline"
        grow = {first: 1.02, second: 1.0}  # the first-started side uses 2% more CPU, waits alike per CPU second
        sides = {
            side: {
                "trial": trial,
                "started": "08:00:01" if side == first else "08:00:03",
                "pids": [1, 2],
                **{c: [int(t * 1e9 * grow[side]), int(t * 2e9 * grow[side]), t * 100] for c in cpu_by_side.COMPONENTS},
            }
            for side in (first, second)
        }
        return {"results": "r", "sides": sides}

    samples = [sample(t, 1, "candidate") for t in range(1, 31)] + [sample(t, 2, "baseline") for t in range(1, 31)]
    got = cpu_by_side.first_over_second(samples)
    assert len(got[("api", "run")]) == 2
    assert all(math.isclose(math.exp(y), 1.02, rel_tol=1e-6) for y in got[("worker", "run")])
    assert all(abs(y) < 1e-6 for y in got[("pg", "wait/run")] + got[("api", "slices")])
    assert cpu_by_side.report(samples)[1].split()[:3] == ["api", "run", "1.0200"]


def test_the_start_order_is_read_from_compose_logs_too(tmp_path):
    """Compose logs have no "backend up" line: PostgreSQL's start, the first
    service `up --wait` brings up, says which side came first."""
    db = "db_1                 | 2026-11-30 05:42:{} UTC [1] LOG:  starting PostgreSQL 15.18 (Debian) on x86_64\n"
    attach = "Attaching to perfgate-{}_db_1\n"
    (tmp_path / "backend-baseline-trial1.log").write_text(attach.format("baseline") + db.format("32.807"))
    (tmp_path / "backend-candidate-trial1.log").write_text(attach.format("candidate") + db.format("24.573"))
    (tmp_path / "backend-baseline-trial2.log").write_text(db.format("09.100"))
    (tmp_path / "backend-candidate-trial2.log").write_text(db.format("10.000"))
    (tmp_path / "backend-baseline-trial3.log").write_text(attach.format("baseline"))
    (tmp_path / "backend-candidate-trial3.log").write_text(db.format("10.000"))
    assert [trial_ratios.candidate_first(tmp_path, n) for n in (1, 2, 3)] == [True, False, None]


def test_a_kept_runs_start_order_is_the_gates_own_when_it_recorded_one(tmp_path):
    import shutil

    from tests.conftest import FIXTURES

    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "compare", run)
    info = json.loads((run / "locust_run_info.json").read_text())
    info["trials"] = [[info["start_time"], info["spawning_complete_time"], info["stop_time"]]]
    (run / "locust_run_info.json").write_text(json.dumps(info))
    thresholds = regression_detection.ROOT / "thresholds.json"
    assert trial_ratios.load(run, thresholds).candidate_first == [None]  # no record, no backend logs
    info["candidate_first"] = [False]
    (run / "locust_run_info.json").write_text(json.dumps(info))
    assert trial_ratios.load(run, thresholds).candidate_first == [False]


def test_every_estimator_finds_a_known_ratio_and_leaves_the_warm_up_out():
    rng = np.random.default_rng(7)
    times = np.sort(rng.uniform(0, 30, 6000)) + 1_800_000_000
    values = rng.lognormal(math.log(10), 0.5, 6000)
    base = Samples(times, values)
    cand = Samples(times, np.where(times < times[0] + 5, values * 3, values * 1.1))  # a cold first window
    span = (times[0], times[-1] + 1)
    for percentile in (50, 95):
        found = quantile_estimators.trial_estimates(base, cand, span, 5.0, percentile)
        assert len(found) == len(quantile_estimators.ESTIMATORS)
        assert found == pytest.approx([math.log(1.1)] * 4, abs=0.01), (percentile, found)
    thin = (times[0], times[0] + 6)  # one window after the warm-up: no ratio of its own
    assert quantile_estimators.trial_estimates(base, cand, thin, 5.0, 50) is None


def test_a_warm_up_cut_recomputes_each_trials_ratio_from_the_kept_samples(tmp_path):
    """The side started first is 4% slower throughout: every cut sees it, and
    the series' runs are replayed with the recomputed ratios."""
    kept_run(tmp_path / "keep" / "AA" / "0", slower_first=1.04)
    thresholds = tmp_path / "t.json"
    thresholds.write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.1}}}})
    )
    stored = [{"condition": "A/A", "trial": 0, "trials": {}}, {"condition": "A/A", "trial": 1, "trials": {}}]
    for cut in (0.0, 5.0, 20.0):
        [run] = warmup_cut.recut(stored, tmp_path / "keep", ["A/A"], thresholds, cut)  # run 1 was not kept
        got = run["trials"]["p50 of GET /e"]
        assert got["candidate_first"] == [True, False]
        assert got["ln_ratios"] == pytest.approx([math.log(1.04), -math.log(1.04)], abs=0.006)
    assert math.isnan(warmup_cut.pooled_spread([run], "p50 of GET /e"))  # 2 trials: too few for a spread
    six = {"ln_ratios": [0.01, -0.01, 0.03, -0.01, 0.02, -0.01], "candidate_first": [True, False] * 3}
    assert warmup_cut.pooled_spread([{"trials": {"r": six}}], "r") == pytest.approx(math.sqrt(0.0002 / 4))
    with pytest.raises(argparse.ArgumentTypeError):
        warmup_cut.cuts_arg("5,-1")


def test_an_effect_that_lasts_a_run_shows_in_the_spread_of_the_runs_means():
    rng = np.random.default_rng(3)
    firsts = [bool(n % 2) for n in range(10)]

    def runs(lasting: float) -> list:
        return [
            (list(rng.normal(rng.normal(0, lasting), 0.03, 10) + np.where(firsts, 0.02, 0)), firsts) for _ in range(60)
        ]

    assert 0.6 < warmup_cut.run_level(runs(0.0)) < 1.5  # the trials' spread predicts the runs' means
    assert warmup_cut.run_level(runs(0.03)) > 4  # each run's own offset: the means spread ten times as much


def test_the_trials_spread_is_split_into_within_and_between_trials():
    """Trials of 10 whose windows' se says 1% per trial and whose ratios spread
    by 2% (an order effect of 3% on top, taken out): 1.7% between trials."""
    rng = np.random.default_rng(5)
    runs = []
    for _ in range(200):
        first = [bool(n % 2) for n in range(10)]
        ys = rng.normal(0, 0.02, 10) + np.where(first, 0.03, 0.0)
        trials = {"ln_ratios": list(ys), "within_log": 0.01 / math.sqrt(10), "candidate_first": first}
        runs.append({"trials": {"r": trials}})
    spread, within, between = trial_length.split_noise(runs, "r")
    assert spread == pytest.approx(0.02, rel=0.05) and within == pytest.approx(0.01)
    assert between == pytest.approx(math.sqrt(0.02**2 - 0.01**2), rel=0.08)


def test_shorter_trials_pay_for_fresh_starts_with_warm_up_and_degrees_of_freedom():
    width = {x: trial_length.half_width(0.03, 0.0, x, 300, 0.9) for x in (15, 30, 60, 150)}
    assert width[30] < width[15] and width[30] < width[60]  # no variance between trials: 30 s is the best of these
    assert width[150] == math.inf  # 2 trials: no spread of their own
    between = {x: trial_length.half_width(0.03, 0.03, x, 300, 0.9) for x in (20, 60)}
    assert between[20] < between[60]  # fresh starts that disagree: more of them narrow the interval


def test_the_checker_benchmark_runs_and_prints_its_table(capsys):
    from benchmarks import check_many_entries

    check_many_entries.main(["--entries", "20", "--repeats", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| named") or "unnamed" in line]
    assert len(rows) == 3 and all(row.endswith("| 0 |") for row in rows), rows  # every rule judged: a pass


def test_shard_merge_sets_three_runners_against_one_of_the_same_trials(tmp_path, capsys):
    from benchmarks import shard_merge

    rng = np.random.default_rng(3)
    order = [n % 2 == 0 for n in range(9)]
    trial = lambda: {"ln_ratios": list(rng.normal(0, 0.02, 9)), "within_log": 0.01, "candidate_first": order}  # noqa: E731
    runs = [{"condition": "A/A", "trials": {"p50 of GET /e": trial()}} for _ in range(6)]
    series = tmp_path / "aa.json"
    series.write_text(json.dumps(runs))
    shard_merge.main(["--json", str(series), "--merges", "5", "--trials-per-runner", "3"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("p50 of GET /e"))
    merges, merged, single = row.split()[4:7]
    assert merges == "5" and merged.endswith("%") and single.endswith("%")
