"""Reporters: each turns a Verdict into one format and writes it to a stream
or file given to it. Names coming from results are escaped for their format."""

import contextlib
import io
import json
import re
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from junit_xml import TestCase, TestSuite, to_xml_report_string

from perfgate import bounded, summary
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict
from perfgate.thresholds import MAX_FILE_BYTES, SERVICE

INCONCLUSIVE_PREFIX = "inconclusive, not a regression: "
CLASSNAME = "perf-gate"
MESSAGE_CHARS = 200
PRETTY_MAX = 1000  # reports with more rules than this are written compact


def _short(text: str) -> str:
    """A message attribute: one line, short (consumers show it as a title); the whole text goes in the body."""
    first = text.split("\n", 1)[0]
    return first if len(first) <= MESSAGE_CHARS else first[: MESSAGE_CHARS - 1] + "…"


def _case(name: str, stdout: str | None = None) -> TestCase:
    # One classname for all: consumers split classnames on dots into files and packages,
    # and an entry like "GET /v1.2/items" would become one.
    return TestCase(name=name, classname=CLASSNAME, stdout=stdout, elapsed_sec=0.0)


def junit(verdict: Verdict, stream: TextIO) -> None:
    """One test case per rule; problems that blocked a verdict are errored cases.
    Inconclusive is an error, not a skip: JUnit consumers show skips green
    while the job is red. Valid under Jenkins xunit's junit-10.xsd, in pytest's
    manner: a short message attribute and the details in the element's body."""
    cases = []

    def errored(name: str, text: str, kind: str) -> None:
        case = _case(name)
        case.add_error_info(message=_short(text), output=text, error_type=kind)
        cases.append(case)

    for error in verdict.config_errors:
        errored("configuration", error, "configuration")
    small = len(verdict.results) <= PRETTY_MAX
    for r in verdict.results:
        # a passed rule's message repeats its name and numbers: kept in small reports only
        case = _case(r.name, stdout=r.message if small and r.status == PASS else None)
        if r.status == FAIL:
            case.add_failure_info(message=_short(r.message), output=r.message, failure_type="threshold")
        elif r.status == ERROR:
            case.add_error_info(message=_short(r.message), output=r.message, error_type="no-verdict")
        elif r.status == INCONCLUSIVE:
            text = INCONCLUSIVE_PREFIX + r.message
            case.add_error_info(message=_short(text), output=text, error_type="inconclusive")
        cases.append(case)
    for problem in verdict.problems:
        errored("measurement", problem, "no-verdict")
    if verdict.overloaded and verdict.fail_on_overload:
        errored("load generator", "; ".join(verdict.warnings), "overloaded")
    ctx = verdict.context
    suite = TestSuite(
        "perf-gate",
        cases,
        hostname=socket.gethostname(),
        timestamp=None
        if ctx is None or ctx.started is None
        else datetime.fromtimestamp(ctx.started).astimezone().isoformat(),
    )
    # junit-xml pretty-prints by parsing its own output again: seconds for tens of thousands of cases
    xml = to_xml_report_string([suite], prettyprint=len(cases) <= PRETTY_MAX)
    duration = None if ctx is None else ctx.duration_s
    stream.write(_schema_head(xml, duration))


def _schema_head(xml: str, duration_s: float | None) -> str:
    """junit-xml writes `disabled` on <testsuites> and <testsuite>, which the
    schema does not allow, and the sum of the cases' times as the suite's: the
    run's duration is the time that means something here. Both tags come before
    the first case, and attribute values cannot hold a quote, so a pattern over
    that head is exact."""
    end = min((i for i in (xml.find("<testcase"), xml.find("<properties")) if i >= 0), default=len(xml))
    head = re.sub(r' disabled="\d+"', "", xml[:end])
    if duration_s is not None:
        head = re.sub(r' time="[^"]*"', f' time="{max(duration_s, 0.0):.3f}"', head)
    return head + xml[end:]


def verdict_json(verdict: Verdict, stream: TextIO) -> None:
    data = {
        "verdict": verdict.status,
        "exit_code": verdict.exit_code,
        "configuration_errors": verdict.config_errors,
        "problems": verdict.problems,
        "warnings": verdict.warnings,
        "load_generator_overloaded": verdict.overloaded,
        "results": [{"name": r.name, **vars(r)} for r in verdict.results],
        "resources": [vars(u) for u in verdict.resources],
    }
    # json.dump to a stream encodes in Python; dumps without indent in C
    stream.write(json.dumps(data, indent=2 if len(verdict.results) <= PRETTY_MAX else None) + "\n")


def escape_command(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


KEY = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:')  # a JSON object's key as written, escapes and all


def rule_places(thresholds: Path | None, root: Path) -> Callable[[RuleResult], str]:
    """`file=...,line=...,` for a rule: the line of its entry in the thresholds
    file (under "regression" for a comparison), so the annotation sits where the
    rule is written; "" where that cannot be found (a default limit, a file
    outside the repository, a file that cannot be read again). The file is read
    within the thresholds' own bound and indexed once: a place is a nicety, never
    a reason for the reports to fail."""
    try:
        if thresholds is None or not thresholds.is_file():  # a pipe's lines are no place in the repository
            return lambda r: ""
        name = thresholds.resolve().relative_to(root.resolve()).as_posix()
        text = bounded.read_bytes(thresholds, MAX_FILE_BYTES).decode("utf-8")
    except Exception:  # noqa: BLE001 - gone, changed, grown: the annotations go without places
        return lambda r: ""
    first: dict[str, int] = {}  # key as written -> its first line; and from the "regression" section on
    in_regression: dict[str, int] = {}
    regression_at = None
    for i, line in enumerate(text.splitlines()):
        if regression_at is None and '"regression"' in line:
            regression_at = i
        for key in KEY.findall(line):
            first.setdefault(key, i)
            if regression_at is not None:
                in_regression.setdefault(key, i)

    def place(r: RuleResult) -> str:
        key = r.metric.removesuffix("_regression") if r.entry == SERVICE else r.entry  # a resource rule: its key
        written = json.dumps(key)[1:-1]
        line = (in_regression if r.metric.endswith("_regression") else first).get(written)
        return "" if line is None else f"file={_escape_property(name)},line={line + 1},"

    return place


def _escape_property(text: str) -> str:
    return escape_command(text).replace(",", "%2C").replace(":", "%3A")


def annotations(verdict: Verdict, stream: TextIO, place: Callable[[RuleResult], str] = lambda r: "") -> None:
    """GitHub workflow commands: one per rule that did not pass (error; warning
    when inconclusive), one per problem. The only annotations of a run: the
    JUnit action is told to make none, so nothing is annotated twice."""

    def command(kind: str, title: str, message: str, where: str = "") -> None:
        stream.write(f"::{kind} {where}title=perf gate - {_escape_property(title)}::{escape_command(message)}\n")

    for r in verdict.results:
        if r.status in (FAIL, ERROR):
            command("error", r.name, r.message, place(r))
        elif r.status == INCONCLUSIVE:
            command("warning", f"inconclusive {r.name}", r.message, place(r))
    for e in verdict.config_errors:
        command("error", "configuration error", e)
    for p in verdict.problems:
        command("error", "no verdict", p)
    for w in verdict.warnings:
        command("warning", "warning", w)


FILE_REPORTERS: dict[str, Callable[[Verdict, TextIO], None]] = {
    "junit.xml": junit,
    "summary.md": summary.markdown,
    "verdict.json": verdict_json,
}


def render_files(verdict: Verdict, rendered: dict[str, str] | None = None) -> dict[str, str]:
    """Every file report as text, by file name, before any is written: a
    reporter that fails leaves no half-written file. `rendered` holds ones
    already rendered."""
    texts = {}
    for filename, reporter in FILE_REPORTERS.items():
        if rendered and filename in rendered:
            texts[filename] = rendered[filename]
        else:
            stream = io.StringIO()
            reporter(verdict, stream)
            texts[filename] = stream.getvalue()
    return texts


def write_files(texts: dict[str, str], out_dir: Path) -> list[Path]:
    """Each file, whether or not the one before could be written; one that
    fails part-way is removed (half a report is worse than none). The first
    error is raised once all were tried."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written, errors = [], []
    for filename, text in texts.items():
        path = out_dir / filename
        try:
            path.write_text(text, encoding="utf-8")
        except Exception as exc:  # noqa: BLE001 - raised below, once the others were tried
            with contextlib.suppress(OSError):
                path.unlink(missing_ok=True)
            errors.append(exc)
            continue
        written.append(path)
    if errors:
        raise errors[0]
    return written


def write_all(verdict: Verdict, out_dir: Path, rendered: dict[str, str] | None = None) -> list[Path]:
    """Every file report; `rendered` holds ones already rendered, by file name."""
    return write_files(render_files(verdict, rendered), out_dir)
