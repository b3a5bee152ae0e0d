"""Whatever lands in the results folder or the thresholds file, the checker
answers with an exit code in {0, 1, 2, 3} and never raises; impossible or
empty data never exits 0."""

import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from perfgate import check_cli
from perfgate.results import REQUIRED_COLUMNS
from tests.conftest import FIXTURES, ROOT

T0 = 1_800_000_000.0
ENTRIES = [("POST", "/requests"), ("GET", "/requests/{id}"), ("ASYNC", "submit-to-complete"), ("GET", "/other")]
LOOSE = FIXTURES / "thresholds-loose.json"  # sound data passes it about half the time
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

numbers = st.one_of(
    st.integers(-5, 5000).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["N/A", "", "nan", "inf", "-inf", "1e400", "9" * 400, "x", "\x00"]),
)


@st.composite
def sound_row(draw, kind: str, name: str) -> dict[str, str]:
    """A row Locust could have written: counts in order, percentiles rising."""
    count = draw(st.integers(0, 3000))
    failures = draw(st.one_of(st.just(0), st.integers(0, count)))
    percentiles = sorted(draw(st.lists(st.integers(1, 400), min_size=11, max_size=11)))
    cells = {"Type": kind, "Name": name, "Request Count": str(count), "Failure Count": str(failures)}
    cells |= {"Average Response Time": str(percentiles[5]), "Max Response Time": str(percentiles[-1])}
    cells["Requests/s"] = repr(draw(st.floats(0, 500)))
    return cells | dict(zip(REQUIRED_COLUMNS[7:], map(str, percentiles), strict=True))


@st.composite
def stats_csv(draw) -> tuple[str, bool]:
    """(text, impossible): rows Locust could have written, or broken ones, and
    whether Locust could not have written them (or nothing was measured)."""
    columns, impossible = REQUIRED_COLUMNS.copy(), False
    rows = [draw(sound_row(kind, name)) for kind, name in ENTRIES[:3]]
    if draw(st.integers(0, 2)) == 0:  # break something
        how = draw(st.sampled_from(["column", "duplicate", "cell", "negative", "overfail"]))
        impossible = True
        if how == "column":
            columns.remove(draw(st.sampled_from(REQUIRED_COLUMNS)))
        elif how == "duplicate":
            rows.append(draw(sound_row(*ENTRIES[0])))
        elif how == "cell":
            row = draw(st.sampled_from(rows))
            row[draw(st.sampled_from(REQUIRED_COLUMNS[2:]))] = draw(numbers.filter(lambda v: not v.isdigit()))
            impossible = False  # some broken cells (N/A) are allowed; the exit code must still be sound
        elif how == "negative":
            draw(st.sampled_from(rows))["Failure Count"] = str(-draw(st.integers(1, 5)))
        else:
            row = draw(st.sampled_from(rows))
            row["Failure Count"] = str(int(row["Request Count"]) + draw(st.integers(1, 5)))
    counts = [int(r["Request Count"]) for r in rows if r["Request Count"].lstrip("-").isdigit()]
    failures = [int(r["Failure Count"]) for r in rows if r["Failure Count"].lstrip("-").isdigit()]
    aggregate = draw(sound_row("", "Aggregated"))
    aggregate |= {"Request Count": str(sum(counts)), "Failure Count": str(sum(failures))}
    if draw(st.integers(0, 5)) == 0:
        aggregate["Request Count"] = str(sum(counts) + draw(st.integers(1, 10)))
        impossible = True
    impossible |= sum(counts) == 0  # nothing measured is never a pass either
    lines = [",".join(columns), *(",".join(row.get(col, "") for col in columns) for row in [*rows, aggregate])]
    return "\n".join(lines) + "\n", impossible


@st.composite
def raw_csv(draw) -> bytes:
    """Raw samples: sound ones over a 30 s run, or broken ones."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.binary(max_size=200))
    sound = draw(st.integers(0, 2)) > 0
    rows = ["time,type,name,response_time_ms,ok"]
    for _ in range(draw(st.integers(0, 80))):
        kind, name = draw(st.sampled_from(ENTRIES))
        t = draw(st.floats(T0, T0 + 30).map(repr) if sound else st.one_of(st.floats(T0, T0 + 30).map(repr), numbers))
        value = draw(st.floats(0, 500).map(repr) if sound else st.one_of(st.floats(0, 500).map(repr), numbers))
        ok = draw(st.sampled_from(["1", "1", "0"] if sound else ["1", "0", "2", ""]))
        rows.append(f"{t},{kind},{name},{value},{ok}")
    return ("\n".join(rows) + "\n").encode()


json_values = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=25), inner, max_size=4),
    max_leaves=10,
)
SOUND_INFO = json.dumps({"start_time": T0, "spawning_complete_time": T0 + 1, "stop_time": T0 + 30})
run_info = st.one_of(
    st.just(SOUND_INFO),
    st.just(SOUND_INFO),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {},
        optional={
            "cpu_warning": st.one_of(st.booleans(), json_values),
            "max_cpu_percent": st.one_of(st.floats(0, 100), json_values),
            "start_time": st.one_of(st.just(T0), st.floats(), json_values),
            "spawning_complete_time": st.one_of(st.just(T0 + 1), st.floats()),
            "stop_time": st.one_of(st.just(T0 + 30), st.floats()),
            "trials": st.one_of(st.just([[T0, T0 + 1, T0 + 15], [T0 + 15, T0 + 16, T0 + 30]]), json_values),
            "candidate_first": st.one_of(st.just([True, False]), st.just([False]), json_values),
        },
    ).map(lambda d: json.dumps(d, allow_nan=True)),
    st.binary(max_size=50).map(lambda b: b.decode("latin-1")),
)


def check(files: dict[str, bytes], thresholds: Path = ROOT / "thresholds.json", compare: bool = False) -> int:
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results"
        results.mkdir()
        for name, data in files.items():
            (results / name).write_bytes(data)
        extra = ["--compare"] if compare else []
        args = check_cli.build_parser().parse_args(["--results", str(results), "--thresholds", str(thresholds), *extra])
        out, err = io.StringIO(), io.StringIO()
        code = check_cli.run_check(args, {}, out, err)
        assert "Traceback" not in out.getvalue() + err.getvalue()
        assert json.loads((results / "verdict.json").read_text())["exit_code"] == code
        return code


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
@SETTINGS
@given(stats_csv(), raw_csv(), run_info, st.booleans())
def test_any_results_folder_gets_an_exit_code_and_impossible_data_is_never_green(stats, raw, info, compare):
    text, impossible = stats
    code = check(
        {"locust_stats.csv": text.encode(), "locust_raw.csv": raw, "locust_run_info.json": info.encode()},
        compare=compare,
    )
    assert code in (0, 1, 2, 3)
    if impossible:
        assert code != 0


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
def test_the_generators_reach_every_verdict():
    """The properties above are only worth something if sound data can pass and fail:
    for each verdict, Hypothesis searches the generators until one example gives it."""
    folders = st.tuples(stats_csv(), raw_csv(), run_info)

    def verdict(example) -> int:
        (stats, _), raw, info = example
        files = {"locust_stats.csv": stats.encode(), "locust_raw.csv": raw, "locust_run_info.json": info.encode()}
        return check(files, thresholds=LOOSE)

    search = settings(SETTINGS, max_examples=3000, derandomize=True, database=None, phases=[Phase.generate])
    for code in (0, 1, 3):
        find(folders, lambda example, code=code: verdict(example) == code, settings=search)  # NoSuchExample if never


@pytest.mark.slow  # a long statistical search: the whole suite runs it, the fast tier does not
@SETTINGS
@given(raw_csv(), run_info)
def test_broken_evidence_beside_healthy_stats_is_never_green_unless_it_is_sound(raw, info):
    files = {"locust_stats.csv": (FIXTURES / "healthy" / "locust_stats.csv").read_bytes()}
    files |= {"locust_raw.csv": raw, "locust_run_info.json": info.encode()}
    code = check(files)
    assert code in (0, 1, 2, 3)
    if code == 0:  # a pass needs readable samples and a run info with its times (the run's, or each trial's)
        data = json.loads(info)
        assert isinstance(data, dict) and ((data.get("stop_time") and data.get("start_time")) or data.get("trials"))
        assert raw.startswith(b"time,type,name,response_time_ms,ok")


thresholds_text = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {"entries": st.dictionaries(st.sampled_from([f"{k} {n}" for k, n in ENTRIES]), json_values, max_size=3)},
        optional={"regression": json_values, "stall": json_values, "default_failure_ratio": json_values},
    ).map(lambda d: json.dumps(d, allow_nan=True)),
    st.text(max_size=40),
    st.sampled_from(['{"entries": {"POST /requests": {"p95_ms": 1e400}}}', "[" * 5000, '{"a": 1, "a": 2}']),
)


@SETTINGS
@given(thresholds_text)
def test_any_thresholds_file_gets_an_exit_code(text):
    with tempfile.TemporaryDirectory() as folder:
        thresholds = Path(folder) / "thresholds.json"
        thresholds.write_text(text)
        files = {name: (FIXTURES / "healthy" / name).read_bytes() for name in ("locust_stats.csv", "locust_raw.csv")}
        files["locust_run_info.json"] = (FIXTURES / "healthy" / "locust_run_info.json").read_bytes()
        assert check(files, thresholds) in (0, 1, 2, 3)
