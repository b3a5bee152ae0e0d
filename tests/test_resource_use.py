"""Resource rules judged from readings and raw samples (perfgate.resource_use)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from perfgate import resource_use
from perfgate.check import ERROR, FAIL, PASS, Verdict
from perfgate.errors import NoVerdict
from perfgate.resources import COLUMNS
from perfgate.results import RunInfo
from perfgate.samples import RawSamples, Samples
from perfgate.thresholds import parse

T0 = 1_800_000_000.0
HEAD = "time,session,side,method,cpu_s,memory_bytes\n"
TRIAL_S, GAP_S, RATE = 30.0, 10.0, 50  # 50 requests a second per side


def spans(n: int) -> list[tuple[float, float, float]]:
    return [
        (T0 + i * (TRIAL_S + GAP_S), T0 + i * (TRIAL_S + GAP_S), T0 + i * (TRIAL_S + GAP_S) + TRIAL_S) for i in range(n)
    ]


def raw_of(sides: list[str], n: int) -> RawSamples:
    """Every side completes RATE requests a second through each trial."""
    ok = {}
    for label in sides:
        times = np.concatenate([np.arange(start + 0.01, stop, 1 / RATE) for start, _, stop in spans(n)])
        ok[(label, "GET /x")] = Samples(times, np.full(len(times), 5.0))
    return RawSamples(Path("raw.csv"), ok, {})


def write_readings(path: Path, rows: list[tuple], method: str = "proc") -> Path:
    """Rows of (time, side, cpu, memory[, session]); the session is the trial's by default."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for t, side, cpu, mem, *session in rows:
            mark = session[0] if session else f"s{int((t - T0 + 5) // (TRIAL_S + GAP_S))}"
            writer.writerow((f"{t:.3f}", mark, side, method, f"{cpu:.6f}", int(mem)))
    return path


def readings(n: int, per_side: dict[str, tuple[float, float]], warmup_burst: float = 0.0, leak: dict | None = None):
    """Every 0.5 s from 2 s before each trial to 2 s after it: CPU growing at
    `ms_per_request` × RATE, memory flat (or growing by `leak[side]` bytes a trial)."""
    rows = []
    for start, _, stop in spans(n):
        for side, (ms_per_request, memory) in per_side.items():
            for t in np.arange(start - 2, stop + 2.01, 0.5):
                busy = min(max(t - start, 0.0), TRIAL_S)
                cpu = 1.0 + busy * RATE * ms_per_request / 1000 + (warmup_burst if t > start + 1 else 0.0)
                grown = (leak or {}).get(side, 0.0) * busy / TRIAL_S
                rows.append((t, side, cpu, memory + grown))
    return rows


def thresholds(data: dict, tmp_path: Path):
    base = {"entries": {"GET /x": {"failure_ratio": 0}}}
    return parse({**base, **data}, tmp_path / "thresholds.json")


RULES = {
    "regression": {"entries": {"GET /x": {"p95": 0.1}}, "resources": {"cpu_per_request": 0.03, "peak_memory": 0.05}}
}


def judged(tmp_path, n, per_side, data=RULES, compare=True, candidate_first=None, context=None, **kw) -> Verdict:
    path = write_readings(tmp_path / "locust_resources.csv", readings(n, per_side, **kw))
    info = RunInfo(tmp_path / "info.json", trials=spans(n), candidate_first=candidate_first)
    verdict = Verdict()
    labels = ["baseline", "candidate"] if compare else [""]
    resource_use.judge_resources(
        verdict, raw_of(labels, n), info, thresholds(data, tmp_path), path, compare=compare, reasons=context
    )
    return verdict


def by_metric(verdict: Verdict) -> dict[str, object]:
    return {r.metric: r for r in verdict.results}


def test_the_same_cpu_per_request_and_memory_pass_and_the_sides_are_shown(tmp_path):
    # a few per mille of trial-to-trial wobble, as the counters give
    verdict = judged(
        tmp_path, 6, {"baseline": (1.0, 150e6), "candidate": (1.002, 150.1e6)}, candidate_first=[True, False] * 3
    )
    rules = by_metric(verdict)
    assert rules["cpu_per_request_regression"].status == PASS, rules["cpu_per_request_regression"].message
    assert rules["peak_memory_regression"].status == PASS
    assert "over 6 trials" in rules["cpu_per_request_regression"].message
    sides = {u.side: u for u in verdict.resources}
    assert sides["baseline"].cpu_ms_per_request == pytest.approx(1.0, rel=0.01)
    assert sides["candidate"].peak_memory_mb == pytest.approx(150.1, rel=0.001)
    assert sides["baseline"].trials == 6 and sides["baseline"].method == "proc"
    # each trial's first window is warm-up: 25 s of 50 requests a second are judged
    assert sides["baseline"].requests == pytest.approx(6 * 25 * RATE, abs=6 * 2)


def test_ten_percent_more_cpu_per_request_fails_naming_both_sides(tmp_path):
    verdict = judged(tmp_path, 4, {"baseline": (1.0, 150e6), "candidate": (1.1, 150e6)})
    rule = by_metric(verdict)["cpu_per_request_regression"]
    assert rule.status == FAIL, rule.message
    assert rule.ratio == pytest.approx(1.1, rel=0.01)
    assert "regression (1.00 ms -> 1.10 ms per request)" in rule.message
    assert len(rule.trial_ratios) == 4 and rule.per_window  # a chart per trial, and per window
    assert by_metric(verdict)["peak_memory_regression"].status == PASS


def test_a_leak_fails_peak_memory_and_not_cpu(tmp_path):
    verdict = judged(
        tmp_path, 4, {"baseline": (1.0, 150e6), "candidate": (1.0, 150e6)}, leak={"candidate": 20e6, "baseline": 0.0}
    )
    rules = by_metric(verdict)
    assert rules["peak_memory_regression"].status == FAIL
    assert rules["peak_memory_regression"].ratio == pytest.approx(170 / 150, rel=0.01)
    assert rules["cpu_per_request_regression"].status == PASS


def test_cpu_spent_in_the_warm_up_window_is_not_judged(tmp_path):
    verdict = judged(tmp_path, 4, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)}, warmup_burst=50.0)
    assert by_metric(verdict)["cpu_per_request_regression"].status == PASS


def test_fewer_than_three_trials_cannot_judge_a_resource_rule_and_say_so(tmp_path):
    verdict = judged(tmp_path, 2, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)})
    rule = by_metric(verdict)["cpu_per_request_regression"]
    assert rule.status == ERROR and "needs 3 or more" in rule.message and "had 2" in rule.message
    assert verdict.resources  # what was spent is shown all the same


def test_a_side_without_readings_is_not_judged_and_the_reason_is_given(tmp_path):
    context = {"baseline": "unavailable: a service at --host: the gate did not start it", "candidate": "proc"}
    verdict = judged(tmp_path, 4, {"candidate": (1.0, 1e8)}, context=context)
    rules = by_metric(verdict)
    for metric in ("cpu_per_request_regression", "peak_memory_regression"):
        assert rules[metric].status == ERROR
        assert "the baseline's CPU and memory could not be read: a service at --host" in rules[metric].message
        assert rules[metric].final  # more trials would not read it: a comparison stops adding them


def test_the_side_that_cannot_be_read_is_the_one_named(tmp_path):
    context = {"baseline": "proc", "candidate": "unavailable: the containers' cgroups could not be found"}
    rules = by_metric(judged(tmp_path, 4, {}, context=context))  # neither side has readings
    rule = rules["cpu_per_request_regression"]
    assert rule.final and "the candidate's CPU and memory could not be read: the containers'" in rule.message


def test_a_side_whose_meter_misses_the_service_is_not_judged_on_what_it_read(tmp_path):
    """A `docker run` command's tree reads the client: readings that must not stand for the service."""
    misses = "unavailable: its process tree runs a container client, docker (PID 9)"
    context = {"baseline": "proc", "candidate": misses}
    limits = {"resources": {"cpu_ms_per_request": 50}}
    verdict = judged(tmp_path, 4, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)}, RULES | limits, context=context)
    rules = by_metric(verdict)
    assert {r.status for r in rules.values() if r.entry == "the service"} == {ERROR}
    assert rules["cpu_per_request_regression"].final
    assert "container client, docker" in rules["cpu_ms_per_request"].message
    assert [u.side for u in verdict.resources] == ["baseline"]


def test_a_trial_with_too_few_readings_waits_for_more_trials(tmp_path):
    rules = by_metric(judged(tmp_path, 2, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)}))
    assert not any(r.final for r in rules.values())


def test_no_readings_file_leaves_resource_rules_unjudged_never_passed(tmp_path):
    verdict = Verdict()
    info = RunInfo(tmp_path / "info.json", trials=spans(4))
    limits = thresholds(RULES, tmp_path)
    resource_use.judge_resources(
        verdict, raw_of(["baseline", "candidate"], 4), info, limits, tmp_path / "none.csv", compare=True
    )
    assert [r.status for r in verdict.results] == [ERROR, ERROR]
    assert "a run of Locust alone has none" in verdict.results[0].message
    assert not any(r.final for r in verdict.results)  # the next trial may be read


def test_without_rules_or_readings_nothing_is_added(tmp_path):
    verdict = Verdict()
    info = RunInfo(tmp_path / "info.json", trials=spans(1))
    limits = thresholds({}, tmp_path)
    resource_use.judge_resources(verdict, raw_of([""], 1), info, limits, tmp_path / "none.csv", compare=False)
    assert verdict.results == [] and verdict.resources == [] and verdict.warnings == []


def test_limits_judge_the_candidate_in_a_plain_run(tmp_path):
    data = {"resources": {"cpu_ms_per_request": 1.5, "peak_memory_mb": 120}}
    verdict = judged(tmp_path, 1, {"candidate": (1.0, 150e6)}, data=data, compare=False)
    rules = by_metric(verdict)
    assert rules["cpu_ms_per_request"].status == PASS
    assert rules["cpu_ms_per_request"].message == "CPU per request of the service: 1.00 ms <= limit 1.50 ms"
    assert rules["cpu_ms_per_request"].per_window  # CPU per request in each window, for the chart
    assert rules["peak_memory_mb"].status == FAIL
    assert rules["peak_memory_mb"].message == "peak memory of the service: 150.0 MB > limit 120.0 MB"


def test_a_counter_that_dips_between_reads_never_counts_back(tmp_path):
    rows = readings(4, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)})
    dipped = [
        (t, side, cpu - 0.5 if side == "candidate" and i % 17 == 0 else cpu, mem)
        for i, (t, side, cpu, mem) in enumerate(rows)
    ]
    path = write_readings(tmp_path / "r.csv", dipped)
    found = resource_use.load(path)
    info = RunInfo(tmp_path / "i.json", trials=spans(4))
    raw = raw_of(["baseline", "candidate"], 4)
    sides = {"baseline": "baseline", "candidate": "candidate"}
    judged = resource_use.judged_spans(raw, info, 5.0)
    uses = resource_use.uses(raw, info, found, sides, judged=judged, window_s=5.0)
    base = [u.cpu_ms_per_request for u in uses["baseline"]]
    cand = [u.cpu_ms_per_request for u in uses["candidate"]]
    # a dip inside the span is held at the counter's high; at most one reading's worth of growth is lost
    assert all(c == pytest.approx(b, rel=0.03) for b, c in zip(base, cand, strict=True))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("time,side\n", ":1: expected the header time,session,side,method,cpu_s,memory_bytes"),
        (f"{HEAD}1800000000,s,candidate,proc,1\n", ":2: expected 6 columns, got 5"),
        (f"{HEAD}1800000000,s,candidate,guess,1,2\n", ":2: method must be one of cgroup, proc"),
        (f"{HEAD}1800000000,s,candidate,proc,-1,2\n", ":2: cpu_s must be a finite number of at least 0"),
        (f"{HEAD}1800000000,s,candidate,proc,nan,2\n", ":2: cpu_s must be a finite number"),
        (f"{HEAD}12,s,candidate,proc,1,2\n", ":2: time must be a Unix time"),
        (f"{HEAD}1800000000,s,,proc,1,2\n", ":2: side must be a name"),
        (f"{HEAD}1800000000,,candidate,proc,1,2\n", ":2: session must be a name"),
        (f'{HEAD}1800000000,"{"x" * 200_000}', ":2: unreadable CSV: field larger than field limit"),
    ],
)
def test_readings_that_cannot_be_what_the_gate_wrote_are_no_verdict_naming_the_line(tmp_path, text, expected):
    path = tmp_path / "locust_resources.csv"
    path.write_text(text)
    with pytest.raises(NoVerdict, match=expected.replace("(", r"\(")):
        resource_use.load(path)


def test_unreadable_readings_leave_the_rules_unjudged_with_the_reason(tmp_path):
    path = tmp_path / "locust_resources.csv"
    path.write_bytes(b"\xff\xfe")
    verdict = Verdict()
    info = RunInfo(tmp_path / "i.json", trials=spans(4))
    resource_use.judge_resources(
        verdict, raw_of(["baseline", "candidate"], 4), info, thresholds(RULES, tmp_path), path, compare=True
    )
    assert {r.status for r in verdict.results} == {ERROR}
    assert all("not UTF-8" in r.message for r in verdict.results)


def test_the_thresholds_schema_takes_resource_rules_and_refuses_unknown_ones(tmp_path):
    from perfgate.errors import ConfigError

    limits = thresholds({"resources": {"peak_memory_mb": 512}, **RULES}, tmp_path)
    assert [(r.metric, r.tolerance) for r in limits.resource_rules] == [
        ("cpu_per_request", 0.03),
        ("peak_memory", 0.05),
    ]
    assert [(lim.metric, lim.value) for lim in limits.resource_limits] == [("peak_memory_mb", 512.0)]
    with pytest.raises(ConfigError, match=r"\$\.regression\.resources: unknown key 'cpu'"):
        thresholds({"regression": {"resources": {"cpu": 0.03}}}, tmp_path)
    with pytest.raises(ConfigError, match=r"\$\.resources\.peak_memory_mb"):
        thresholds({"resources": {"peak_memory_mb": 0}}, tmp_path)
    json.dumps(limits.resource_rules[0].__dict__)  # plain data


def test_a_trial_s_readings_are_its_own_sampler_s_even_when_the_last_one_s_run_late(tmp_path):
    """The previous trial's sampler read on for 7 s past its stop (a slow Locust exit), well into
    where this trial's readings lie; its counter is that of processes already gone."""
    rows = readings(4, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)})
    late = []
    for start, _, stop in spans(4)[:-1]:
        for side in ("baseline", "candidate"):
            late += [
                (t, side, 500.0, 1e8, f"s{int((start - T0) // (TRIAL_S + GAP_S))}")
                for t in np.arange(stop + 2.5, stop + 7, 0.5)
            ]
    path = write_readings(tmp_path / "r.csv", rows + late)
    info = RunInfo(tmp_path / "i.json", trials=spans(4))
    raw = raw_of(["baseline", "candidate"], 4)
    sides = {"baseline": "baseline", "candidate": "candidate"}
    judged = resource_use.judged_spans(raw, info, 5.0)
    found = resource_use.uses(raw, info, resource_use.load(path), sides, judged=judged, window_s=5.0)
    assert [round(u.cpu_ms_per_request, 2) for u in found["candidate"]] == [1.0] * 4


def test_a_span_with_a_gap_in_its_readings_or_next_to_no_cpu_is_not_judged(tmp_path):
    gapped = [
        r
        for r in readings(4, {"baseline": (1.0, 1e8), "candidate": (1.0, 1e8)})
        if not (r[1] == "candidate" and 10 < (r[0] - T0) % 40 < 20)
    ]
    verdict = Verdict()
    info = RunInfo(tmp_path / "i.json", trials=spans(4))
    path = write_readings(tmp_path / "gapped.csv", gapped)
    resource_use.judge_resources(
        verdict, raw_of(["baseline", "candidate"], 4), info, thresholds(RULES, tmp_path), path, compare=True
    )
    assert {r.status for r in verdict.results} == {ERROR} and "gaps in them" in verdict.results[0].message
    assert not any(r.final for r in verdict.results)  # another trial may be read whole
    # what was read holds next to nothing of the service (a client of a VM or another machine): not
    # judged, and from three such trials on, more trials would not help
    verdict = judged(tmp_path, 4, {"baseline": (0.0, 1e7), "candidate": (1.0, 1e8)})
    assert {r.status for r in verdict.results} == {ERROR} and all(r.final for r in verdict.results)
    assert "what was read of the baseline spent next to no CPU (under 0.05 s a span, a few of" in (
        verdict.results[0].message
    )
    verdict = judged(tmp_path, 2, {"baseline": (0.0, 1e7), "candidate": (1.0, 1e8)})
    assert {r.status for r in verdict.results} == {ERROR} and not any(r.final for r in verdict.results)
    [limit] = judged(tmp_path, 4, {"candidate": (0.0, 1e7)}, {"resources": {"cpu_ms_per_request": 5}}, False).results
    assert limit.status == ERROR and "what was read of the candidate spent next to no CPU" in limit.message


def test_without_raw_samples_resource_limits_are_not_judged(tmp_path):
    import shutil

    from perfgate import check_cli
    from tests.conftest import FIXTURES

    shutil.copytree(FIXTURES / "healthy", tmp_path / "run")
    (tmp_path / "run" / "locust_raw.csv").unlink()
    path = tmp_path / "t.json"
    path.write_text(
        json.dumps(
            {"entries": {}, "aggregate": {"failure_ratio": 0.5}, "stall": False, "resources": {"peak_memory_mb": 800}}
        )
    )
    args = check_cli.build_parser().parse_args(["--results", str(tmp_path / "run"), "--thresholds", str(path)])
    verdict, _ = check_cli.evaluate(args)
    [limit] = [r for r in verdict.results if r.metric == "peak_memory_mb"]
    assert limit.status == ERROR and "raw samples" in limit.message and verdict.status != "pass"
