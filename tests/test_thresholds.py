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


def test_limits_flattened(tmp_path):
    t = thresholds.load(
        write(
            tmp_path,
            {"entries": {"POST /requests": {"p95_ms": 100, "min_rps": 5}}, "aggregate": {"failure_ratio": 0.01}},
        )
    )
    assert [(lim.entry, lim.metric, lim.value, lim.is_minimum) for lim in t.limits] == [
        ("POST /requests", "p95_ms", 100.0, False),
        ("POST /requests", "min_rps", 5.0, True),
        ("Aggregated", "failure_ratio", 0.01, False),
    ]


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
        ({"entries": {"POTS /requests": {"p95_ms": 1}}}, r"entry name 'POTS /requests' must be 'TYPE name'"),
        ({"entries": {"POST /requests": {}}}, r"should be non-empty|does not have enough properties"),
        ({"entries": {}}, r"no limits at all"),
        ({"limits": {}}, r"'entries' is a required property"),
        (
            {"entries": {"GET /x": {"p95_ms": 1}}, "exclude_ramp_up": "yes"},
            r"exclude_ramp_up: 'yes' is not of type 'boolean'",
        ),
    ],
)
def test_bad_thresholds_name_file_place_and_expectation(tmp_path, data, expected):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError, match=expected) as exc:
        thresholds.load(path)
    assert str(exc.value).startswith(str(path))
    assert exc.value.exit_code == 2


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
