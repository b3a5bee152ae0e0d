"""Reporters: each turns a Verdict into one format and writes it to a stream
or file given to it. Names coming from results are escaped for their format."""

import json
import re
import socket
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TextIO

from junit_xml import TestCase, TestSuite, to_xml_report_string

from perfgate import summary
from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, RuleResult, Verdict

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
    }
    # json.dump to a stream encodes in Python; dumps without indent in C
    stream.write(json.dumps(data, indent=2 if len(verdict.results) <= PRETTY_MAX else None) + "\n")


def _escape_command(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def rule_places(thresholds: Path | None, root: Path) -> Callable[[RuleResult], str]:
    """`file=...,line=...,` for a rule: the line of its entry in the thresholds
    file (under "regression" for a comparison), so the annotation sits where the
    rule is written; "" where that cannot be found (a default limit, a file
    outside the repository)."""
    try:
        lines = thresholds.read_text(encoding="utf-8").splitlines() if thresholds else []
        name = thresholds.resolve().relative_to(root.resolve()).as_posix() if thresholds else ""
    except (OSError, ValueError):
        return lambda r: ""
    regression_at = next((i for i, line in enumerate(lines) if '"regression"' in line), len(lines))

    def place(r: RuleResult) -> str:
        key = json.dumps(r.entry) + ":"
        start = regression_at if r.metric.endswith("_regression") else 0
        for i in range(start, len(lines)):
            if key in lines[i].replace('": ', '":'):
                return f"file={_escape_property(name)},line={i + 1},"
        return ""

    return place


def _escape_property(text: str) -> str:
    return _escape_command(text).replace(",", "%2C").replace(":", "%3A")


def annotations(verdict: Verdict, stream: TextIO, place: Callable[[RuleResult], str] = lambda r: "") -> None:
    """GitHub workflow commands: one per rule that did not pass (error; warning
    when inconclusive), one per problem. The only annotations of a run: the
    JUnit action is told to make none, so nothing is annotated twice."""

    def command(kind: str, title: str, message: str, where: str = "") -> None:
        stream.write(f"::{kind} {where}title=perf gate - {_escape_property(title)}::{_escape_command(message)}\n")

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


def write_all(verdict: Verdict, out_dir: Path, rendered: dict[str, str] | None = None) -> list[Path]:
    """Every file report; `rendered` holds ones already rendered, by file name."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for filename, reporter in FILE_REPORTERS.items():
        path = out_dir / filename
        with path.open("w", encoding="utf-8") as stream:
            if rendered and filename in rendered:
                stream.write(rendered[filename])
            else:
                reporter(verdict, stream)
        written.append(path)
    return written
