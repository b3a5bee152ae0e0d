"""Resource rules for real: a candidate that spends more CPU on every request,
and one that keeps memory it never frees, fail against this commit. The
same commit against itself passes them (tests/e2e/test_compare_gate.py)."""

import pytest

from tests.e2e.test_compare_gate import RESOURCE_RULES, compare, explain, regressions

pytestmark = pytest.mark.e2e


def test_more_cpu_per_request_and_a_leak_fail_the_resource_rules(tmp_path):
    """+1.5 ms of CPU on every POST and GET (the service spends about 1 ms a
    request) and 200 KB kept on every POST (hundreds of MB over a trial)."""
    knobs = ["BACKEND_GET_CPU_US=1500", "BACKEND_POST_CPU_US=1500", "BACKEND_LEAK_BYTES=200000"]
    proc, verdict = compare(tmp_path, *[arg for knob in knobs for arg in ("--backend-env", knob)])
    found = regressions(verdict)
    assert proc.returncode == 1, explain(proc, verdict)
    assert {name: found[name] for name in RESOURCE_RULES} == dict.fromkeys(RESOURCE_RULES, "fail"), explain(
        proc, verdict
    )
    sides = {u["side"]: u for u in verdict["resources"]}
    assert sides["candidate"]["cpu_ms_per_request"] > 1.5 * sides["baseline"]["cpu_ms_per_request"]
    assert sides["candidate"]["peak_memory_mb"] > sides["baseline"]["peak_memory_mb"] + 50
    rule = next(r for r in verdict["results"] if r["name"] == "CPU per request regression of the service")
    assert "per request)" in rule["message"] and len(rule["trial_ratios"]) == 3
