"""The checker's failure paths cannot fail themselves: whatever the input
files hold (huge, endless, binary, control characters) and whatever goes wrong
while reporting (out of memory, a reporter's bug), the run ends with its exit
code, one `Error:` line on stderr and no traceback, reports written where
they can be."""

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import traceback
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from perfgate import bounded, check_cli, crash, reporters, results, samples, summary, thresholds
from perfgate.check import FAIL, RuleResult, Verdict
from perfgate.errors import NoVerdict
from perfgate.github import GitHub
from tests.conftest import FIXTURES, ROOT

ADDRESS_SPACE = 3 * 10**9  # the probes' limit: a runner's memory, give or take


@pytest.fixture
def folder(tmp_path) -> Path:
    """A healthy run's results, which pass ROOT's thresholds (exit 0)."""
    results_dir = tmp_path / "results"
    shutil.copytree(FIXTURES / "healthy", results_dir)
    return results_dir


def check(folder: Path, thresholds_file: Path = ROOT / "thresholds.json", env=None) -> tuple[int, str, str]:
    args = check_cli.build_parser().parse_args(["--results", str(folder), "--thresholds", str(thresholds_file)])
    out, err = io.StringIO(), io.StringIO()
    code = check_cli.run_check(args, env or {}, out, err)
    return code, out.getvalue(), err.getvalue()


def one_error_line(err: str, *expected: str) -> None:
    assert err.startswith("Error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for text in expected:
        assert text in err, err


def reported(folder: Path, code: int) -> dict:
    """The file reports agree with the exit code, and each is whole."""
    verdict = json.loads((folder / "verdict.json").read_text())
    assert verdict["exit_code"] == code
    assert ET.parse(folder / "junit.xml").getroot().tag == "testsuites"
    assert (folder / "summary.md").read_text().startswith("## Perf gate")
    return verdict


def sparse(path: Path, size: int) -> Path:
    """A file of `size` bytes that takes no disk: its size alone must refuse it."""
    with path.open("wb") as f:
        f.truncate(size)
    return path


# --- size bounds: refused by the file's size before it is read ---------------------------------------------

RESULT_BOUNDS = [
    ("locust_stats.csv", results.MAX_STATS_BYTES, "the bound for Locust's stats CSV"),
    ("locust_run_info.json", results.MAX_RUN_INFO_BYTES, "the bound for a run info file"),
    ("locust_raw.csv", samples.MAX_RAW_BYTES, "the bound for raw samples"),
]


@pytest.mark.parametrize("name, bound, says", RESULT_BOUNDS)
def test_a_results_file_past_its_bound_is_no_verdict_naming_file_and_bound(folder, name, bound, says):
    path = sparse(folder / name, bound + 1)
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, f"{path}: larger than {bounded.size(bound)}, {says}")
    reported(folder, 3)


@pytest.mark.parametrize("name, bound, says", RESULT_BOUNDS)
def test_a_results_file_at_its_bound_is_read(folder, name, bound, says, monkeypatch):
    """The bound is the most allowed, not one byte less (checked with a small
    bound: the file's own text, padded to exactly it)."""
    data = (folder / name).read_bytes()
    module = results if name != "locust_raw.csv" else samples
    constant = {"locust_stats.csv": "MAX_STATS_BYTES", "locust_run_info.json": "MAX_RUN_INFO_BYTES"}
    monkeypatch.setattr(module, constant.get(name, "MAX_RAW_BYTES"), len(data))
    assert check(folder)[0] == 0
    monkeypatch.setattr(module, constant.get(name, "MAX_RAW_BYTES"), len(data) - 1)
    assert check(folder)[0] == 3


def test_a_thresholds_file_past_its_bound_is_a_usage_error(folder, tmp_path):
    path = sparse(tmp_path / "thresholds.json", thresholds.MAX_FILE_BYTES + 1)
    code, _, err = check(folder, path)
    assert code == 2
    one_error_line(err, f"{path}: larger than 4 MB, the bound for a thresholds file")
    reported(folder, 2)


@pytest.mark.parametrize("name", ["locust_stats.csv", "locust_run_info.json", "locust_raw.csv"])
def test_an_endless_results_file_is_no_verdict(folder, name):
    (folder / name).unlink()
    (folder / name).symlink_to("/dev/zero")
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, f"{folder / name}")
    reported(folder, 3)


def test_an_endless_thresholds_file_is_a_usage_error(folder):
    code, _, err = check(folder, Path("/dev/zero"))
    assert code == 2
    one_error_line(err, "/dev/zero: larger than 4 MB, the bound for a thresholds file")
    reported(folder, 2)


def _fifo(path: Path) -> Path:
    path.unlink(missing_ok=True)
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("name", ["locust_stats.csv", "locust_run_info.json", "locust_raw.csv"])
def test_a_pipe_nobody_writes_to_is_no_verdict_not_a_hang(folder, name, monkeypatch):
    monkeypatch.setattr(bounded, "PIPE_TIMEOUT_S", 0.2)
    path = _fifo(folder / name)
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, f"{path}", "not ended after 0.2 s")


def test_thresholds_through_a_pipe_are_read_like_a_file(folder, tmp_path):
    """`perf-check --thresholds <(jq ... thresholds.json)` keeps working."""
    path = _fifo(tmp_path / "thresholds.json")
    writer = threading.Thread(target=path.write_bytes, args=((ROOT / "thresholds.json").read_bytes(),), daemon=True)
    writer.start()
    code, out, err = check(folder, path)
    writer.join(5)
    assert code == 0, err
    assert "file=" not in out  # a pipe's lines are no place in the repository


def test_a_thresholds_pipe_nobody_writes_to_is_a_usage_error(folder, tmp_path, monkeypatch):
    monkeypatch.setattr(bounded, "PIPE_TIMEOUT_S", 0.2)
    path = _fifo(tmp_path / "thresholds.json")
    code, _, err = check(folder, path)
    assert code == 2
    one_error_line(err, f"{path}: cannot read thresholds file: not ended after 0.2 s")


@pytest.mark.parametrize("how", ["huge", "endless", "pipe"])
def test_a_run_context_that_cannot_be_read_is_passed_over(folder, how):
    """The context is a report only: the verdict stands, with a warning."""
    path = folder / "perf-gate-context.json"
    if how == "huge":
        sparse(path, check_cli.MAX_CONTEXT_BYTES + 1)
    elif how == "endless":
        path.symlink_to("/dev/zero")
    else:
        _fifo(path)
    code, out, err = check(folder)
    assert code == 0 and err == ""
    assert f"{path}: run context not read" in " ".join(reported(folder, 0)["warnings"])


def test_a_directory_in_place_of_a_file_is_unreadable(folder, tmp_path):
    (folder / "locust_stats.csv").unlink()
    (folder / "locust_stats.csv").mkdir()
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, "locust_stats.csv: unreadable: is a directory")
    code, _, err = check(folder, tmp_path)
    assert code == 2
    one_error_line(err, f"{tmp_path}: cannot read thresholds file: is a directory")


# --- the probes, as a user's process meets them: a real exit code and stderr, memory bounded -------------


def perf_check(folder: Path, thresholds_file: Path, *python: str) -> subprocess.CompletedProcess:
    """perf-check in its own process under a 3 GB address space; `python`, when
    given, is run first (to break something inside the process)."""
    args = ["--results", str(folder), "--thresholds", str(thresholds_file)]
    code = "\n".join(["import sys", *python, "from perfgate.check_cli import main", f"sys.exit(main({args!r}))"])
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE)),
    )


def test_probe_a_50_mb_thresholds_file(folder, tmp_path):
    big = tmp_path / "thresholds.json"
    entries = ",".join(f'"GET /e{i}":{{"p95_ms":100}}' for i in range(1_400_000))
    big.write_text('{"entries":{' + entries + "}}")
    assert big.stat().st_size > 40 * 10**6
    proc = perf_check(folder, big)
    assert proc.returncode == 2
    one_error_line(proc.stderr, f"{big}: larger than 4 MB")


@pytest.mark.parametrize("name", ["thresholds", "locust_stats.csv", "locust_raw.csv"])
def test_probe_dev_zero(folder, name):
    thresholds_file = Path("/dev/zero") if name == "thresholds" else ROOT / "thresholds.json"
    if name != "thresholds":
        (folder / name).unlink()
        (folder / name).symlink_to("/dev/zero")
    proc = perf_check(folder, thresholds_file)
    assert proc.returncode == (2 if name == "thresholds" else 3)
    one_error_line(proc.stderr)


def test_probe_out_of_memory_while_reporting(folder):
    """MemoryError from the JUnit reporter, inside a real process: exit 3, one
    line, and the reports of the failure written instead."""
    boom = "def boom(verdict, stream): raise MemoryError"
    patch = "import perfgate.reporters as r; r.FILE_REPORTERS['junit.xml'] = boom"
    proc = perf_check(folder, ROOT / "thresholds.json", boom, patch)
    assert proc.returncode == 3
    one_error_line(proc.stderr, "out of memory while writing the reports, no verdict")
    assert "Traceback" not in proc.stdout
    reported(folder, 3)


# --- an exception while reporting: exit 3, reports written where they can be -------------------------------


def _raise(exc: BaseException):
    def fail(*args, **kw):
        raise exc

    return fail


def _once(real, exc: BaseException):
    """`real`, except that its first call raises `exc`."""
    calls = []

    def maybe(*args, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise exc
        return real(*args, **kw)

    return maybe


@pytest.mark.parametrize("exc", [MemoryError(), ZeroDivisionError("division by zero")])
@pytest.mark.parametrize(
    "where",
    ["junit", "verdict_json", "summary", "annotations", "rule_places"],
)
def test_a_reporter_that_fails_once_gives_reports_of_the_failure(folder, monkeypatch, where, exc):
    """Rendered again for the failure alone, which then succeeds (the memory
    the failed rendering held is free again)."""
    if where in ("junit", "verdict_json"):
        name = "junit.xml" if where == "junit" else "verdict.json"
        monkeypatch.setitem(reporters.FILE_REPORTERS, name, _once(reporters.FILE_REPORTERS[name], exc))
    elif where == "summary":
        monkeypatch.setattr(summary, "markdown", _once(summary.markdown, exc))
    else:
        monkeypatch.setattr(reporters, where, _once(getattr(reporters, where), exc))
    code, out, err = check(folder)
    assert code == 3
    said = "out of memory" if isinstance(exc, MemoryError) else "internal error"
    one_error_line(err, f"{said} while writing the reports, no verdict")
    verdict = reported(folder, 3)
    assert verdict["verdict"] == "error" and said in verdict["problems"][0]
    assert "rules were judged, their results cannot be reported" in verdict["problems"][0]
    assert "::error title=perf gate - no verdict::" in out and "Traceback" not in out
    assert (folder / crash.FILE).exists()


@pytest.mark.parametrize("exc", [MemoryError(), KeyError("x")])
def test_a_reporter_that_always_fails_gives_hand_written_reports(folder, monkeypatch, exc):
    monkeypatch.setitem(reporters.FILE_REPORTERS, "junit.xml", _raise(exc))
    output = folder.parent / "github_output"
    code, out, err = check(folder, env={"GITHUB_OUTPUT": str(output)})
    assert code == 3
    one_error_line(err, "while writing the reports, no verdict")
    verdict = reported(folder, 3)
    assert verdict["verdict"] == "error" and verdict["results"] == []
    error = ET.parse(folder / "junit.xml").getroot().find(".//testcase/error")
    assert error.get("type") == "no-verdict" and "while writing the reports" in error.get("message")
    assert "verdict=error\n" in output.read_text()
    assert out.startswith("::error title=perf gate - no verdict::")


@pytest.mark.parametrize("exc", [MemoryError(), ValueError("bad")])
def test_failing_to_write_the_report_files_is_exit_3(folder, monkeypatch, exc):
    monkeypatch.setattr(reporters, "write_files", _raise(exc))
    output = folder.parent / "github_output"
    code, out, err = check(folder, env={"GITHUB_OUTPUT": str(output)})
    assert code == 3
    one_error_line(err, f"while writing reports to {folder}, no verdict")
    assert "verdict=error\n" in output.read_text()  # the outputs say what the exit code says


def test_failing_to_write_github_s_files_is_exit_3(folder, monkeypatch):
    monkeypatch.setattr(GitHub, "append_summary", _raise(MemoryError()))
    code, _, err = check(folder, env={"GITHUB_STEP_SUMMARY": str(folder.parent / "summary")})
    assert code == 3
    one_error_line(err, "out of memory while writing GitHub's step summary or outputs")


def test_a_disk_error_is_said_and_the_verdict_stands(folder, monkeypatch):
    """A full disk or a read-only folder: said on stderr; the verdict, carried
    by the exit code and stdout, is still the run's."""
    monkeypatch.setattr(reporters, "write_files", _raise(OSError(28, "No space left on device")))
    code, out, err = check(folder)
    assert code == 0
    one_error_line(err, f"cannot write reports to {folder}: No space left on device")
    assert "## Perf gate" in out


def test_a_report_file_that_fails_part_way_is_removed_and_the_others_written(tmp_path, monkeypatch):
    real = Path.write_text

    def full(self, text, *args, **kw):
        if self.name == "junit.xml":
            real(self, text[:10], *args, **kw)
            raise OSError(28, "No space left on device")
        return real(self, text, *args, **kw)

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OSError):
        reporters.write_files({"summary.md": "x", "junit.xml": "<testsuites/>", "verdict.json": "{}"}, tmp_path)
    assert not (tmp_path / "junit.xml").exists()
    assert (tmp_path / "summary.md").exists() and (tmp_path / "verdict.json").exists()  # tried all the same


@pytest.mark.parametrize(
    "exc, said",
    [(MemoryError(), "out of memory, no verdict: an input is too large"), (ZeroDivisionError(), "internal error")],
)
def test_an_exception_while_judging_is_exit_3(folder, monkeypatch, exc, said):
    monkeypatch.setattr(check_cli, "check", _raise(exc))
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, said)
    reported(folder, 3)


def test_describing_a_crash_cannot_crash(tmp_path, monkeypatch):
    """Out of memory again while formatting the traceback, a message that
    itself raises, a folder that cannot be written: still one line."""

    class Odd(Exception):
        def __str__(self):
            raise RuntimeError("no message")

    monkeypatch.setattr(traceback, "format_exception", _raise(MemoryError()))
    line = crash.describe(Odd(), tmp_path / "no" / "such" / "folder")
    assert line == "internal error, no verdict: Odd (the traceback could not be saved; please report it)"
    assert crash.describe(MemoryError(), tmp_path).startswith("out of memory, no verdict")
    assert "its traceback could not be formatted" in (tmp_path / crash.FILE).read_text()


def test_many_problems_are_a_bounded_number_of_lines(tmp_path):
    verdict = Verdict(problems=[f"problem {i}" for i in range(500)])
    err = io.StringIO()
    assert check_cli.finish(verdict, tmp_path, {}, io.StringIO(), err) == 3
    lines = err.getvalue().splitlines()
    assert len(lines) == check_cli.MAX_ERROR_LINES + 1
    assert lines[-1] == "Error: and 480 more; every one is in verdict.json and junit.xml"
    assert len(json.loads((tmp_path / "verdict.json").read_text())["problems"]) == 500


# --- annotations' places: never a reason to read an unbounded file ------------------------------------------


def test_rule_places_skip_what_they_cannot_read_within_the_bound(tmp_path):
    rule = RuleResult("GET /x", "p95_ms", 1, 2, FAIL, "x")
    assert reporters.rule_places(Path("/dev/zero"), Path("/"))(rule) == ""
    huge = sparse(tmp_path / "t.json", thresholds.MAX_FILE_BYTES + 1)
    assert reporters.rule_places(huge, tmp_path)(rule) == ""
    assert reporters.rule_places(tmp_path / "gone.json", tmp_path)(rule) == ""
    compact = tmp_path / "c.json"
    compact.write_text('{"entries": {"GET /y": {"p95_ms": 1}, "GET /x" : {"p95_ms": 1}}}')
    assert reporters.rule_places(compact, tmp_path)(rule) == "file=c.json,line=1,"


# --- corrupted results: control characters in entry names ---------------------------------------------------

CONTROL = ["\x00", "\x1b", "\x7f", "\x85", "\t"]


@pytest.mark.parametrize("char", CONTROL)
@pytest.mark.parametrize("column", ["Type", "Name"])
def test_a_control_character_in_a_stats_entry_is_no_verdict(folder, char, column):
    path = folder / "locust_stats.csv"
    old = "POST,/requests," if column == "Name" else "GET,/requests/{id},"
    new = f"POST,/req{char}uests," if column == "Name" else f"G{char}ET,/requests/{{id}},"
    path.write_text(path.read_text().replace(old, new, 1))
    code, _, err = check(folder)
    assert code == 3
    line = 2 if column == "Name" else 3
    one_error_line(err, f"{path}:{line}: a control character in the entry's type or name; the file is corrupted")
    reported(folder, 3)


def test_a_line_break_in_a_quoted_stats_entry_is_no_verdict(folder):
    path = folder / "locust_stats.csv"
    path.write_text(path.read_text().replace("POST,/requests,", 'POST,"/req\nuests",', 1))
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, ":2: a control character")


@pytest.mark.parametrize("name", ["/req\x00uests", '"/req\nuests"', "/req\x1buests"])
def test_a_control_character_in_a_raw_sample_name_is_no_verdict(folder, name):
    path = folder / "locust_raw.csv"
    lines = path.read_text().count("\n")
    with path.open("a") as f:
        f.write(f"1800000005,POST,{name},3,1\n")
    code, _, err = check(folder)
    assert code == 3
    one_error_line(err, f"{path}:{lines + 1}: empty type or name, or a control character in one")


@pytest.mark.parametrize("entry", ["GET /a\\u0000b", "GET /a\\u001bb", "GET /a\\u0085b"])
def test_a_control_character_in_a_thresholds_entry_is_a_usage_error(folder, tmp_path, entry):
    path = tmp_path / "t.json"
    path.write_text(
        f'{{"entries": {{"GET /x": {{"p95_ms": 1}}}}, "regression": {{"entries": {{"{entry}": {{"p95": 0.1}}}}}}}}'
    )
    code, _, err = check(folder, path)
    assert code == 2
    one_error_line(err, f'{path}: $.regression.entries["{entry}"]: a control character in the entry name')


# --- raw samples are read a slice at a time: the same samples, the same line numbers ------------------------


@pytest.fixture
def tiny_slices(monkeypatch):
    monkeypatch.setattr(samples, "SLICE_BYTES", 100)  # two or three lines a slice, cut mid-line


def _same(a: samples.RawSamples, b: samples.RawSamples) -> bool:
    return a.ok.keys() == b.ok.keys() and all(
        (a.ok[k].times == b.ok[k].times).all() and (a.ok[k].values == b.ok[k].values).all() for k in a.ok
    )


@pytest.mark.parametrize("fixture", ["healthy", "compare"])
def test_slices_give_the_samples_the_whole_file_gives(fixture, monkeypatch):
    path = FIXTURES / fixture / "locust_raw.csv"
    whole = samples.load(path)
    monkeypatch.setattr(samples, "SLICE_BYTES", 100)
    assert _same(samples.load(path), whole)


@pytest.mark.parametrize(
    "line, expected",
    [
        ("1800000005,POST,/requests,-3,1", "response_time_ms '-3'"),
        ("1800000005,POST,/requests,3,2", "ok must be 0 or 1, got '2'"),
        ("1800000005,POST,/requests,3", "expected 5 cells, got 4"),
        ("soon,POST,/requests,3,1", "time must be a number, got 'soon'"),
    ],
)
def test_a_bad_line_in_a_later_slice_is_named_by_its_number(tmp_path, tiny_slices, line, expected):
    rows = [",".join(samples.COLUMNS)] + [f"{1800000000 + i},GET,/x,{i},1" for i in range(200)]
    path = tmp_path / "raw.csv"
    path.write_text("\n".join([*rows[:150], line, *rows[150:]]) + "\n")
    with pytest.raises(NoVerdict, match=f"raw.csv:151: {expected}"):
        samples.load(path)


def test_bytes_that_are_not_utf8_in_a_later_slice_are_named_by_their_line(tmp_path, tiny_slices):
    path = tmp_path / "raw.csv"
    rows = "time,type,name,response_time_ms,ok\n" + "".join(f"{1800000000 + i},GET,/x,1,1\n" for i in range(99))
    path.write_bytes(rows.encode() + b"1800000100,GET,/\xff,1,1\n")
    with pytest.raises(NoVerdict, match=r"raw.csv:101: not UTF-8"):
        samples.load(path)


@pytest.mark.parametrize(
    "text, samples_found",
    [("time,type,name,response_time_ms,ok\n", 0), ("time,type,name,response_time_ms,ok", 0), ("", None)],
)
def test_a_samples_file_with_a_header_only_or_nothing(tmp_path, text, samples_found):
    path = tmp_path / "raw.csv"
    path.write_text(text)
    if samples_found is None:
        with pytest.raises(NoVerdict, match=r"raw.csv:1: expected the header"):
            samples.load(path)
    else:
        assert samples.load(path).ok == {}


def test_the_last_line_needs_no_line_break(tmp_path, tiny_slices):
    path = tmp_path / "raw.csv"
    path.write_text("time,type,name,response_time_ms,ok\n1800000000,GET,/x,1,1\n1800000001,GET,/x,2,1")
    assert list(samples.load(path).ok[("", "GET /x")].values) == [1.0, 2.0]


def test_a_line_longer_than_any_sample_is_refused(tmp_path):
    path = tmp_path / "raw.csv"
    path.write_bytes(b"time,type,name,response_time_ms,ok\n" + b"x" * (samples.MAX_LINE_BYTES + 1))
    with pytest.raises(NoVerdict, match=r"raw.csv:2: a line of more than 1 MB"):
        samples.load(path)


def test_out_of_memory_reading_samples_names_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(samples, "_group", _raise(MemoryError()))
    path = shutil.copy(FIXTURES / "healthy" / "locust_raw.csv", tmp_path / "raw.csv")
    with pytest.raises(NoVerdict, match=r"raw.csv: too many raw samples for this machine's memory"):
        samples.load(Path(path))
