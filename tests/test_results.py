import pytest

from perfgate import results
from perfgate.errors import NoVerdict
from tests.conftest import FIXTURES


def test_healthy_run_parsed_by_column_name():
    run = results.load(FIXTURES / "healthy" / "locust")
    assert set(run.entries) == {"POST /requests", "GET /requests/{id}", "ASYNC submit-to-complete"}
    post = run.entries["POST /requests"]
    assert post.count == 1030 and post.failures == 0
    assert post.metric("p95_ms") == 17 and post.metric("p99.9_ms") == 120
    assert post.metric("failure_ratio") == 0
    assert run.aggregate.key == "Aggregated" and run.aggregate.count == 6895
    assert run.run_info.start_time == 1_800_000_000 and not run.run_info.cpu_warning


def test_na_percentile_is_none():
    run = results.load(FIXTURES / "na" / "locust")
    assert run.entries["POST /requests"].metric("p95_ms") is None


def test_zero_requests_parses_with_na_cells():
    run = results.load(FIXTURES / "zero" / "locust")
    assert run.aggregate.count == 0 and run.entries == {}
    assert run.aggregate.metric("failure_ratio") is None


def test_run_info_read():
    info = results.load(FIXTURES / "cpu" / "locust").run_info
    assert info.cpu_warning is True and info.max_cpu_percent == 97.5


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing", "Locust's stats CSV is missing"),
        ("empty", "no rows; Locust recorded nothing"),
        ("truncated", r"locust_stats.csv:4: truncated row"),
        ("missing_column", r"missing columns \['95%'"),
    ],
)
def test_unreadable_results_are_no_verdict(case, message):
    with pytest.raises(NoVerdict, match=message) as exc:
        results.load(FIXTURES / case / "locust")
    assert exc.value.exit_code == 3


def test_non_numeric_cell(tmp_path):
    text = (FIXTURES / "healthy" / "locust_stats.csv").read_text().replace("1030", "lots", 1)
    (tmp_path / "locust_stats.csv").write_text(text)
    with pytest.raises(NoVerdict, match=r":2, column 'Request Count': expected a number, got 'lots'"):
        results.load(tmp_path / "locust")


def test_side_by_side_run_judged_on_candidate_entries():
    run = results.load(FIXTURES / "compare" / "locust")
    assert set(run.entries) == {"POST /requests", "GET /requests/{id}", "ASYNC submit-to-complete"}
    assert run.entries["POST /requests"].metric("p95_ms") == 17  # the candidate's, not the baseline's 15
    assert run.aggregate.count == 3400
    assert run.aggregate.metric("min_rps") == pytest.approx(340.0)
