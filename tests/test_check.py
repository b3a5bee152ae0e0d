import re
from pathlib import Path

import pytest

from perfgate import results, thresholds
from perfgate.check import ERROR, FAIL, PASS, check, judge
from perfgate.errors import ConfigError
from perfgate.thresholds import Limit
from tests.conftest import FIXTURES, ROOT


def limits(entries: dict, aggregate: dict | None = None) -> thresholds.Thresholds:
    data = {"entries": entries, **({"aggregate": aggregate} if aggregate else {})}
    return thresholds.parse(data, Path("thresholds.json"))


def run(case: str) -> results.RunResults:
    return results.load(FIXTURES / case / "locust")


@pytest.mark.parametrize(
    "metric, limit, status, message",
    [
        ("p95_ms", 20, PASS, "p95 of POST /requests: 17 ms <= limit 20 ms"),
        ("p95_ms", 10, FAIL, "p95 of POST /requests: 17 ms > limit 10 ms"),
        ("p50_ms", 5, FAIL, "p50 of POST /requests: 6 ms > limit 5 ms"),
        ("p99.9_ms", 200, PASS, "p99.9 of POST /requests: 120 ms <= limit 200 ms"),
        ("avg_ms", 9, PASS, "avg of POST /requests: 8.9 ms <= limit 9 ms"),
        ("avg_ms", 8, FAIL, "avg of POST /requests: 8.9 ms > limit 8 ms"),
        ("max_ms", 100, FAIL, "max of POST /requests: 127.4 ms > limit 100 ms"),
        ("failure_ratio", 0, PASS, "failure ratio of POST /requests: 0.00% <= limit 0.00%"),
        ("min_rps", 100, PASS, "requests/s of POST /requests: 114.6 req/s >= limit 100.0 req/s"),
        ("min_rps", 200, FAIL, "requests/s of POST /requests: 114.6 req/s < limit 200.0 req/s"),
        ("min_requests", 1030, PASS, "requests of POST /requests: 1030 >= limit 1030"),
        ("min_requests", 1031, FAIL, "requests of POST /requests: 1030 < limit 1031"),
    ],
)
def test_each_rule_kind_passes_and_fails(metric, limit, status, message):
    verdict = check(run("healthy"), limits({"POST /requests": {metric: limit}}))
    [result] = [r for r in verdict.results if not r.default]
    assert (result.status, result.message) == (status, message)
    assert verdict.status == status


def test_failure_guard_is_on_by_default_and_an_explicit_value_overrides_it():
    latency_only = limits({"ASYNC submit-to-complete": {"p95_ms": 1000}})
    verdict = check(run("failing"), latency_only)
    guard = {(r.entry, r.status) for r in verdict.results if r.default}
    assert guard == {("ASYNC submit-to-complete", FAIL), ("Aggregated", FAIL)}  # 1.5% of all requests failed
    assert verdict.exit_code == 1
    failed = next(r for r in verdict.results if r.status == FAIL)
    assert failed.message == (
        "failure ratio of ASYNC submit-to-complete: 10.00% > limit 1.00% "
        "(the default limit; set failure_ratio in the thresholds file to change it)"
    )
    tolerant = thresholds.parse(
        {"entries": {"ASYNC submit-to-complete": {"p95_ms": 1000}}, "default_failure_ratio": 0.5}, Path("t.json")
    )
    assert check(run("failing"), tolerant).exit_code == 0
    explicit = limits({"ASYNC submit-to-complete": {"p95_ms": 1000, "failure_ratio": 0.2}}, {"failure_ratio": 0.02})
    assert check(run("failing"), explicit).exit_code == 0


def test_failure_ratio_fails_on_failed_completions():
    verdict = check(run("failing"), limits({"ASYNC submit-to-complete": {"failure_ratio": 0.01}}))
    assert verdict.results[0].message == "failure ratio of ASYNC submit-to-complete: 10.00% > limit 1.00%"
    assert verdict.exit_code == 1


def test_aggregate_rules():
    verdict = check(run("healthy"), limits({"GET /requests/{id}": {"p95_ms": 100}}, {"p95_ms": 70, "min_rps": 700}))
    assert [(r.entry, r.metric, r.status) for r in verdict.results if not r.default] == [
        ("GET /requests/{id}", "p95_ms", PASS),
        ("Aggregated", "p95_ms", FAIL),
        ("Aggregated", "min_rps", PASS),
    ]


def test_repository_thresholds_pass_healthy_and_fail_slow():
    t = thresholds.load(ROOT / "thresholds.json")
    assert check(run("healthy"), t).exit_code == 0
    slow = check(run("slow"), t)
    assert slow.exit_code == 1
    failed = {r.name for r in slow.results if r.status == FAIL}
    assert "p95 of POST /requests" in failed


def test_na_cell_for_a_thresholded_metric_is_no_verdict():
    verdict = check(run("na"), limits({"POST /requests": {"p95_ms": 100}}))
    assert verdict.results[0].status == ERROR and verdict.exit_code == 3


def test_zero_requests_is_never_a_pass():
    verdict = check(run("zero"), limits({"POST /requests": {"p95_ms": 100}}))
    assert verdict.exit_code == 3
    assert "zero requests" in verdict.problems[0]


def test_entry_that_never_ran_is_no_verdict():
    verdict = check(run("healthy"), limits({"DELETE /requests/{id}": {"p95_ms": 100}}))
    assert verdict.exit_code == 3
    assert "'DELETE /requests/{id}' named in thresholds.json never ran" in verdict.problems[0]


def test_entry_name_typo_is_a_configuration_error():
    with pytest.raises(
        ConfigError,
        match=r"\$\.entries\['GET /request/\{id\}'\]: no such Locust entry; did you mean 'GET /requests/\{id\}'",
    ):
        check(run("healthy"), limits({"GET /request/{id}": {"p95_ms": 100}}))


@pytest.mark.parametrize("entry", ["POTS /requests", "post /requests", "get /request/{id}"])
def test_a_misspelt_request_type_is_a_configuration_error_too(entry):
    meant = "GET /requests/{id}" if "id" in entry else "POST /requests"
    with pytest.raises(ConfigError, match=f"no such Locust entry; did you mean '{re.escape(meant)}'"):
        check(run("healthy"), limits({entry: {"p95_ms": 100}}))


def test_an_entry_of_a_type_no_entry_had_is_no_verdict_not_a_typo():
    verdict = check(run("healthy"), limits({"grpc /requests": {"p95_ms": 100}}))
    assert verdict.exit_code == 3
    assert "'grpc /requests' named in thresholds.json never ran" in verdict.problems[0]


def test_overloaded_load_generator_is_said_and_optionally_no_verdict():
    t = limits({"POST /requests": {"p95_ms": 100}})
    verdict = check(run("cpu"), t)
    assert verdict.overloaded and "above 90% (peak 98%)" in verdict.warnings[0]
    assert verdict.exit_code == 0
    assert check(run("cpu"), t, fail_on_overload=True).exit_code == 3


def test_no_rules_evaluated_is_not_a_pass():
    from perfgate.check import Verdict

    assert Verdict().exit_code == 3


def test_judge_minimum_with_equal_value_passes():
    assert judge(Limit("X y", "min_requests", 5), 5.0).status == PASS


def test_users_and_hosts_that_were_not_compared_are_named(tmp_path):
    import json
    import shutil

    for name in ("locust_stats.csv", "locust_run_info.json"):
        shutil.copy(FIXTURES / "healthy" / name, tmp_path / name)
    info = json.loads((tmp_path / "locust_run_info.json").read_text())
    info |= {"unpaired_users": {"Fixed": "no perfgate_client"}, "not_compared_hosts": {"http://other:9": 12}}
    (tmp_path / "locust_run_info.json").write_text(json.dumps(info))
    verdict = check(results.load(tmp_path / "locust"), limits({"POST /requests": {"p95_ms": 20}}))
    assert "not compared: user class Fixed ran against the candidate only: no perfgate_client" in verdict.warnings
    assert any(w.startswith("not compared: 12 request(s) went to http://other:9") for w in verdict.warnings)


@pytest.mark.parametrize(
    "given", [{"unpaired_users": ["Fixed"]}, {"not_compared_hosts": {"h": -1}}, {"unpaired_users": {"A": "x\0"}}]
)
def test_malformed_names_in_the_run_info_are_no_verdict(tmp_path, given):
    import json

    from perfgate.errors import NoVerdict

    (tmp_path / "info.json").write_text(json.dumps(given))
    with pytest.raises(NoVerdict, match="must"):
        results.load_run_info(tmp_path / "info.json")
