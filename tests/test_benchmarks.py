"""The benchmarks' own arithmetic: judging a series again from its trials' ratios."""

import argparse
import json
import math

import pytest

from benchmarks import regression_detection, trial_ratios


def test_trials_are_judged_as_the_comparison_judges_them():
    ys = [math.log(r) for r in (1.01, 0.99, 1.02, 0.98, 1.00, 1.01)]
    status, low, high = trial_ratios.judge(ys, within_log=0.001, tolerance=0.05, critical=2.57)
    assert status == "pass" and low < 1.0 < high < 1.05
    status, *_ = trial_ratios.judge([y + math.log(1.2) for y in ys], 0.001, 0.05, 2.57)
    assert status == "fail"
    # the windows' noise is a floor: trials that happen to agree do not make the interval narrower
    _, low, high = trial_ratios.judge([0.0, 1e-6, -1e-6], within_log=0.02, tolerance=0.05, critical=4.3)
    assert math.log(high) > 0.08


def series_args(folder, shift=()) -> argparse.Namespace:
    """--rejudge-ratios of s.json at t.json, as a 2-minute run with a 5-minute budget."""
    return argparse.Namespace(
        json=folder / "s.json",
        thresholds=folder / "t.json",
        run_time="2m",
        max_run_time="5m",
        gate_trials=None,
        shift=list(shift),
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
        assert regression_detection.looks_of(args) == (4, 5, 6, 7, 8, 9, 10)
        [runs[tolerance]] = regression_detection.rejudge_ratios(args, ["A/A"])
    assert (runs[0.02]["exit"], runs[0.02]["results"][0]["status"]) == (1, "fail")
    assert (runs[0.10]["exit"], runs[0.10]["results"][0]["status"]) == (0, "pass")
    # the same noise around a known slowdown: what the tolerance would catch
    args.shift = [regression_detection.shift_arg("p50 of GET /e=1.10")]
    [shifted] = regression_detection.rejudge_ratios(args, ["A/A"])
    assert shifted["results"][0]["status"] == "fail"
    assert math.isclose(shifted["results"][0]["ratio"], runs[0.10]["results"][0]["ratio"] * 1.10)


def test_a_shift_names_a_rule_and_a_positive_factor(tmp_path):
    assert regression_detection.shift_arg("p95 of GET /a=b=1.05") == ("p95 of GET /a=b", 1.05)
    for bad in ("p95 of GET /a", "=1.05", "p95 of GET /a=x", "p95 of GET /a=-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="RULE=FACTOR"):
            regression_detection.shift_arg(bad)
    (tmp_path / "s.json").write_text("[]")
    (tmp_path / "t.json").write_text(
        json.dumps({"entries": {"GET /e": {"failure_ratio": 0}}, "regression": {"entries": {"GET /e": {"p50": 0.1}}}})
    )
    args = series_args(tmp_path, shift=[("p50 of GET /x", 1.1)])
    with pytest.raises(SystemExit, match="no regression rule 'p50 of GET /x'"):
        regression_detection.rejudge_ratios(args, ["A/A"])
