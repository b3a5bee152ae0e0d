import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perfgate import thresholds
from perfgate.errors import ConfigError
from tests.conftest import ROOT


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "thresholds.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_repository_thresholds_load():
    t = thresholds.load(ROOT / "thresholds.json")
    assert {"POST /requests", "GET /requests/{id}", "ASYNC submit-to-complete"} <= set(t.entries)
    assert t.exclude_ramp_up is True


def test_entries_of_a_locustfile_s_own_request_types_are_accepted(tmp_path):
    """Locust's CSV types an entry by whatever request_type the locustfile fired
    (grpc, WebSocket, SQL clients): no list of HTTP methods limits them."""
    entries = {"grpc /helloworld.Greeter/SayHello": {"p95_ms": 50}, "WSR chat message": {"p50_ms": 5}}
    data = {"entries": entries, "regression": {"entries": {"grpc /helloworld.Greeter/SayHello": {"p95": 0.1}}}}
    t = thresholds.load(write(tmp_path, data))
    assert set(t.entries) == set(entries)
    assert [r.entry for r in t.regressions] == ["grpc /helloworld.Greeter/SayHello"]


def test_limits_flattened(tmp_path):
    t = thresholds.load(
        write(
            tmp_path,
            {"entries": {"POST /requests": {"p95_ms": 100, "min_rps": 5}}, "aggregate": {"failure_ratio": 0.01}},
        )
    )
    assert [(lim.entry, lim.metric, lim.value, lim.is_minimum, lim.default) for lim in t.limits] == [
        ("POST /requests", "p95_ms", 100.0, False, False),
        ("POST /requests", "min_rps", 5.0, True, False),
        ("POST /requests", "failure_ratio", 0.01, False, True),  # the failure guard, where none is set
        ("Aggregated", "failure_ratio", 0.01, False, False),
    ]
    assert t.stall == thresholds.StallRule(min_duration_s=5, rate_below=0.1)


@pytest.mark.parametrize(
    "data, expected",
    [
        ('{"entries": {', r"thresholds.json:1:\d+: invalid JSON"),
        ("[1, 2]", r"\$: \[1, 2\] is not of type 'object'"),
        (
            {"entries": {"POST /requests": {"p96_ms": 1}}},
            r"\$\.entries\[\"POST /requests\"\]: unknown key 'p96_ms'; expected one of: p50_ms",
        ),
        (
            {"entries": {"POST /requests": {"p95_ms": "fast"}}},
            r"\$\.entries\[\"POST /requests\"\]\.p95_ms: 'fast' is not of type 'number'",
        ),
        ({"entries": {"POST /requests": {"p95_ms": -5}}}, r"p95_ms: -5 is less than or equal to the minimum of 0"),
        ({"entries": {"POST /requests": {"failure_ratio": 2}}}, r"failure_ratio: 2 is greater than the maximum of 1"),
        ({"entries": {"POST /requests": {"min_requests": 1.5}}}, r"min_requests: 1.5 is not of type 'integer'"),
        ({"entries": {"/requests": {"p95_ms": 1}}}, r"entry name '/requests' must be 'TYPE name'"),
        ({"entries": {"POST  /requests": {"p95_ms": 1}}}, r"entry name 'POST  /requests' must be 'TYPE name'"),
        ({"entries": {"POST /requests": {}}}, r"should be non-empty|does not have enough properties"),
        ({"entries": {}}, r"no limits at all"),
        ({"limits": {}}, r"'entries' is a required property"),
        (
            {"entries": {"GET /x": {"p95_ms": 1}}, "exclude_ramp_up": "yes"},
            r"exclude_ramp_up: 'yes' is not of type 'boolean'",
        ),
        # numbers that cannot be limits: always pass, always fail, or crash the parser
        ('{"entries": {"GET /x": {"p95_ms": Infinity}}}', r'\$\.entries\["GET /x"\]\.p95_ms: Infinity is not a finite'),
        ('{"entries": {"GET /x": {"p95_ms": -Infinity}}}', r"p95_ms: -Infinity is not a finite"),
        ('{"entries": {"GET /x": {"p95_ms": NaN}}}', r"p95_ms: NaN is not a finite"),
        ('{"entries": {"GET /x": {"p95_ms": 1e400}}}', r"p95_ms: 1e400 is not a finite"),
        ('{"entries": {"GET /x": {"min_requests": 1' + "0" * 400 + "}}}", r"min_requests: 10000.*is not a finite"),
        ('{"entries": {"GET /x": {"min_requests": ' + "7" * 5000 + "}}}", r"min_requests: 7777.*is not a finite"),
        ({"entries": {"GET /x": {"p95_ms": 1e300}}}, r"p95_ms: 1e\+300 is greater than the maximum"),
        ('{"entries": {"GET /x": {"p95_ms": 5}, "GET /x": {"p95_ms": 500}}}', r"\$\.entries: duplicate key 'GET /x'"),
        ('{"entries": {"GET /x": {"p95_ms": 5, "p95_ms": 9}}}', r'\$\.entries\["GET /x"\]: duplicate key \'p95_ms\''),
        ('{"entries": ' + "[" * 100_000 + "]" * 100_000 + "}", r"nested too deeply"),
        ('{"entries": {"GET /x": {"p95_ms": ' + "[" * 900 + "]" * 900 + "}}}", r"is not of type 'number'"),
        # the regression and stall sections, bounded so that no value can crash the comparison
        ('{"entries": {"GET /x": {"p95_ms": 1}}, "regression": {"window_s": NaN}}', r"window_s: NaN is not a finite"),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "regression": {"window_s": 1e-9}}, r"window_s: 1e-09 is less than"),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "regression": {"window_s": 1e9}}, r"window_s: .* greater than"),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "regression": {"confidence": 1}}, r"confidence: 1 is greater than"),
        (
            {"entries": {"GET /x": {"p95_ms": 1}}, "regression": {"entries": {"GET /x": {"p95": 0}}}},
            r"p95: 0 is less than or equal to the minimum of 0",
        ),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "stall": {"rate_below": 2}}, r"\$\.stall"),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "stall": True}, r"\$\.stall"),
        ({"entries": {"GET /x": {"p95_ms": 1}}, "default_failure_ratio": -1}, r"default_failure_ratio: -1"),
    ],
)
def test_bad_thresholds_name_file_place_and_expectation(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=expected) as exc:
        thresholds.load(path)
    assert str(exc.value).startswith(str(path))
    assert exc.value.exit_code == 2


def test_stall_off_and_guard_changed(tmp_path):
    t = thresholds.load(
        write(tmp_path, {"entries": {"GET /x": {"p95_ms": 1}}, "stall": False, "default_failure_ratio": 1})
    )
    assert t.stall is None
    assert [(lim.entry, lim.value, lim.default) for lim in t.limits if lim.metric == "failure_ratio"] == [
        ("GET /x", 1.0, True),
        ("Aggregated", 1.0, True),
    ]


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read thresholds file"):
        thresholds.load(tmp_path / "nope.json")


def test_not_utf8(tmp_path):
    path = tmp_path / "t.json"
    path.write_bytes(b"\xff\xfe{")
    with pytest.raises(ConfigError, match="not UTF-8"):
        thresholds.load(path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=3),
    max_leaves=12,
)
metric = st.sampled_from([*thresholds.METRICS, "p96_ms", "avg"])
entry = st.sampled_from(["POST /requests", "GET /requests/{id}", "ASYNC submit-to-complete", "post /x", "X"])


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"entries": st.dictionaries(entry, st.dictionaries(metric, json_values, max_size=3), max_size=3)}
        ),
    )
)
def test_any_json_is_accepted_or_rejected_cleanly(data):
    """Whatever the file holds: Thresholds, or a ConfigError with a JSON path. Never another exception."""
    try:
        t = thresholds.parse(data, Path("thresholds.json"))
    except ConfigError as exc:
        assert str(exc).startswith("thresholds.json: ")
        assert "$" in str(exc)
    else:
        assert t.limits
        assert all(lim.value >= 0 for lim in t.limits)
