"""Reporters: each turns a Verdict into one format and writes it to a stream
or file given to it. Names coming from results are escaped for their format."""

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from junit_xml import TestCase, TestSuite, to_xml_report_string

from perfgate.check import ERROR, FAIL, INCONCLUSIVE, PASS, Verdict, fmt

ICONS = {PASS: "✅ pass", FAIL: "❌ fail", ERROR: "⚠️ error", INCONCLUSIVE: "❔ inconclusive"}


INCONCLUSIVE_PREFIX = "inconclusive, not a regression: "
PRETTY_MAX = 1000  # reports with more rules than this are written compact
MAX_ROWS = 500  # rules in the Markdown summary


def junit(verdict: Verdict, stream: TextIO) -> None:
    """One test case per rule; problems that blocked a verdict are errored cases.
    Inconclusive is an error, not a skip: JUnit consumers show skips green
    while the job is red."""
    cases = []
    for error in verdict.config_errors:
        case = TestCase(name="configuration", classname="perf-gate")
        case.add_error_info(message=error, error_type="configuration")
        cases.append(case)
    small = len(verdict.results) <= PRETTY_MAX
    for r in verdict.results:
        # a passed rule's message repeats its name and numbers: kept in small reports only
        stdout = r.message if small or r.status != PASS else None
        case = TestCase(name=r.name, classname=f"perf-gate.{r.entry}", stdout=stdout)
        if r.status == FAIL:
            case.add_failure_info(message=r.message, failure_type="threshold")
        elif r.status == ERROR:
            case.add_error_info(message=r.message, error_type="no-verdict")
        elif r.status == INCONCLUSIVE:
            case.add_error_info(message=INCONCLUSIVE_PREFIX + r.message, error_type="inconclusive")
        cases.append(case)
    for problem in verdict.problems:
        case = TestCase(name="measurement", classname="perf-gate")
        case.add_error_info(message=problem, error_type="no-verdict")
        cases.append(case)
    if verdict.overloaded and verdict.fail_on_overload:
        case = TestCase(name="load generator", classname="perf-gate")
        case.add_error_info(message="; ".join(verdict.warnings), error_type="overloaded")
        cases.append(case)
    # junit-xml pretty-prints by parsing its own output again: seconds for tens of thousands of cases
    stream.write(to_xml_report_string([TestSuite("perf-gate", cases)], prettyprint=len(cases) <= PRETTY_MAX))


def md_escape(text: str) -> str:
    for ch in "\\|`*_[]<>":
        text = text.replace(ch, "\\" + ch)
    return text


def _notice(label: str, text: str) -> list[str]:
    """The first line quoted; the rest (compose output, a backend's log) verbatim
    in a folded code block, where no log line can become a heading or a list."""
    first, _, rest = text.partition("\n")
    lines = [f"> **{label}:** {md_escape(first)}"]
    if rest.strip():
        fence = "`" * max(3, 1 + max((len(run) for run in re.findall(r"`+", rest)), default=0))
        lines += ["", "<details><summary>details</summary>", "", fence, rest.rstrip("\n"), fence, "", "</details>", ""]
    return lines


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _cell(metric: str, value: float | None) -> str:
    return "—" if value is None else fmt(metric, value)


def _ms(value: float | None) -> str:
    """Compared percentiles come from raw samples: a tenth of a millisecond is signal there."""
    return "—" if value is None else f"{value:.1f} ms"


def markdown_lines(verdict: Verdict) -> list[str]:
    lines = [f"## Perf gate: {ICONS[verdict.status]}", ""]
    for label, texts in (
        ("Configuration error", verdict.config_errors),
        ("No verdict", verdict.problems),
        ("Warning", verdict.warnings),
    ):
        for text in texts:
            lines += _notice(label, text)
    if verdict.config_errors or verdict.problems or verdict.warnings:
        lines.append("")
    shown, hidden = _within_limit(verdict.results)
    absolute = [r for r in shown if r.baseline is None and r.interval is None]
    compared = [r for r in shown if r.baseline is not None or r.interval is not None]
    if hidden:
        lines += [
            f"{len(shown)} of {len(verdict.results)} rules shown, every one that did not pass among them; "
            "all are in `verdict.json` and `junit.xml`.",
            "",
        ]
    if absolute:
        lines += ["| entry | metric | measured | limit | result |", "| --- | --- | ---: | ---: | --- |"]
        for r in absolute:
            limit = _limit_cell(r)
            lines.append(
                _row(md_escape(r.entry), md_escape(r.metric), _cell(r.metric, r.measured), limit, ICONS[r.status])
            )
        lines.append("")
        if any(r.default for r in absolute):
            lines += ["*(default)*: the failure guard, applied where the thresholds file sets no `failure_ratio`.", ""]
        lines += [f"- {md_escape(r.message)}" for r in absolute if r.metric == "stall" and r.status != PASS]
    if compared:
        lines += [
            "| entry | metric | baseline | candidate | ratio | interval | tolerated | result |",
            "| --- | --- | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        for r in compared:
            ratio = "—" if r.measured is None or not r.baseline else f"{r.measured / r.baseline:.3f}"
            interval = "—" if r.interval is None else f"{r.interval[0]:.3f} – {r.interval[1]:.3f}"
            percentile = r.metric.removesuffix("_regression")
            cells = [md_escape(r.entry), percentile, _ms(r.baseline), _ms(r.measured)]
            lines.append(_row(*cells, ratio, interval, f"+{r.limit:.0%}", ICONS[r.status]))
        lines.append("")
        lines += [f"- {md_escape(r.message)}" for r in compared if r.status != PASS]
    return lines


def _within_limit(results: list) -> tuple[list, int]:
    """At most MAX_ROWS rules, those that did not pass first: GitHub refuses a
    step summary over 1 MiB, and nobody reads ten thousand passing rows."""
    if len(results) <= MAX_ROWS:
        return results, 0
    keep = {id(r) for r in [r for r in results if r.status != PASS][:MAX_ROWS]}
    keep |= {id(r) for r in [r for r in results if r.status == PASS][: MAX_ROWS - len(keep)]}
    return [r for r in results if id(r) in keep], len(results) - len(keep)


def _limit_cell(r) -> str:
    if r.metric == "stall":
        return f"none ≥ {r.limit:g} s"
    limit = ("≥ " if r.metric.startswith("min_") else "≤ ") + fmt(r.metric, r.limit)
    return limit + (" *(default)*" if r.default else "")


def markdown(verdict: Verdict, stream: TextIO) -> None:
    stream.write("\n".join(markdown_lines(verdict)) + "\n")


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


def annotations(verdict: Verdict, stream: TextIO) -> None:
    """GitHub workflow commands: one ::error per failed rule or problem."""

    def command(kind: str, title: str, message: str) -> None:
        title = _escape_command(title).replace(",", "%2C").replace(":", "%3A")
        stream.write(f"::{kind} title=perf gate - {title}::{_escape_command(message)}\n")

    for r in verdict.results:
        if r.status in (FAIL, ERROR):
            command("error", r.name, r.message)
        elif r.status == INCONCLUSIVE:
            command("warning", f"inconclusive {r.name}", r.message)
    for e in verdict.config_errors:
        command("error", "configuration error", e)
    for p in verdict.problems:
        command("error", "no verdict", p)
    for w in verdict.warnings:
        command("warning", "load generator", w)


FILE_REPORTERS: dict[str, Callable[[Verdict, TextIO], None]] = {
    "junit.xml": junit,
    "summary.md": markdown,
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
