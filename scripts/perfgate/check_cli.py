"""perf-check: judge a finished Locust run against thresholds.json.

Exit codes: 0 pass, 1 a check failed, 2 usage/configuration error,
3 no verdict possible (nothing measured, results unreadable).
Whatever the exit code, junit.xml, summary.md and verdict.json are written.
"""

import argparse
import contextlib
import io
import json
import os
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO
from xml.sax.saxutils import quoteattr

from perfgate import (
    bounded,
    charts,
    context,
    crash,
    plots,
    reporters,
    results,
    samples,
    sequential,
    stalls,
    summary,
    thresholds,
)
from perfgate.check import ERROR, Verdict, check
from perfgate.compare import compare_run
from perfgate.errors import EXIT_NO_VERDICT, ConfigError, NoVerdict
from perfgate.github import GitHub
from perfgate.resource_use import judge_resources, not_judged
from perfgate.resources import SUFFIX as RESOURCES
from perfgate.samples import CANDIDATE
from perfgate.thresholds import CONTROL_CHARACTERS

CHART_WINDOW_S = 5.0  # the timeline's window, and the comparison's by default
MAX_ERROR_LINES = 20  # "Error:" lines on stderr; every problem is in verdict.json and junit.xml all the same
MAX_CONTEXT_BYTES = 10**6  # perf-gate writes a few hundred bytes of run context; a report only
NOWHERE = Path(os.devnull)  # a "folder" that holds no context file: context.load then uses the run info alone


class Parser(argparse.ArgumentParser):
    """Usage errors are ConfigErrors, so they are reported like any other (exit 2)."""

    def error(self, message: str):
        raise ConfigError(f"{self.prog}: {message}")


def looks(text: str) -> tuple[int, ...]:
    try:
        return sequential.parse_looks(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="perf-check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--results", type=Path, default=Path("results"), help="folder of the run (default: results)")
    parser.add_argument("--prefix", default="locust", help="the --csv prefix Locust was given, inside --results")
    parser.add_argument("--thresholds", type=Path, default=Path("thresholds.json"))
    parser.add_argument(
        "--fail-on-overload",
        action="store_true",
        help="no verdict (exit 3) when the load generator's CPU went above 90%%",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also judge candidate against baseline from raw samples (side-by-side runs)",
    )
    parser.add_argument(
        "--looks",
        type=looks,
        default=(1,),
        help="a sequential run: the trial counts it was looked at after, e.g. 3,4,5,6 (intervals widen to match)",
    )
    return parser


def evaluate(args: argparse.Namespace) -> tuple[Verdict, samples.RawSamples | None]:
    """The verdict, and the raw samples when they could be read (for the timeline)."""
    limits = thresholds.load(args.thresholds)
    prefix = args.results / args.prefix
    run = results.load(prefix)
    verdict = check(run, limits, fail_on_overload=args.fail_on_overload)
    verdict.context, unreadable = load_context(args.results, run.run_info)
    verdict.warnings += unreadable
    try:
        raw = samples.load(Path(f"{prefix}_raw.csv"))
    except NoVerdict as exc:
        if limits.stall or args.compare:  # they are evidence only for these
            stall_note = f'; cannot look for stalls (for plain Locust output set "stall": false in {args.thresholds})'
            verdict.problems.append(f"{exc}{stall_note}" if limits.stall else str(exc))
        reason = f"requests per side are counted from the raw samples: {exc}"
        not_judged(verdict, limits, reason, compare=args.compare)
        return verdict, None
    if limits.stall:
        found, problems = stalls.judge(raw, run.run_info, limits.stall)
        verdict.results += found
        verdict.problems += problems
    looks = tuple(getattr(args, "looks", (1,)))
    if args.compare:
        info = run.run_info
        compare_run(verdict, raw, limits, info.trials, looks, info.candidate_first, info.runners)
    judge_resources(
        verdict, raw, run.run_info, limits, Path(f"{prefix}{RESOURCES}"),
        compare=args.compare, looks=looks, reasons=verdict.context.resources,
    )  # fmt: skip
    label = CANDIDATE if args.compare else ""
    charts.add_latency_windows(verdict.results, raw.ok, label, CHART_WINDOW_S)
    charts.add_outcome_windows(verdict.results, raw.ok, raw.failed, label, CHART_WINDOW_S)
    return verdict, raw


@dataclass
class Reports:
    """Every report as text, rendered before any is written."""

    files: dict[str, str]  # file name -> text
    stdout: str  # the annotations, then the summary
    summary: str


def render(verdict: Verdict, thresholds_file: Path | None, root: Path) -> Reports:
    text = io.StringIO()
    summary.markdown(verdict, text)
    notes = io.StringIO()
    reporters.annotations(verdict, notes, reporters.rule_places(thresholds_file, root))
    files = reporters.render_files(verdict, rendered={"summary.md": text.getvalue()})
    return Reports(files, notes.getvalue() + text.getvalue(), text.getvalue())


def minimal_reports(note: str) -> Reports:
    """Written by hand, no reporter involved: for when the reporters themselves fail."""
    markdown = f"## Perf gate: ⚠️ error\n\n> **No verdict:** {note}\n"
    error = (
        f'<error type="no-verdict" message={quoteattr(CONTROL_CHARACTERS.sub("?", note))}/>'  # not even escaped in XML
    )
    junit = (
        '<?xml version="1.0" encoding="utf-8"?>\n<testsuites><testsuite name="perf-gate" tests="1" errors="1" '
        f'failures="0"><testcase name="reports" classname="{reporters.CLASSNAME}">{error}</testcase></testsuite>'
        "</testsuites>\n"
    )
    data = {"verdict": ERROR, "exit_code": EXIT_NO_VERDICT, "configuration_errors": [], "problems": [note]}
    data |= {"warnings": [], "load_generator_overloaded": False, "results": []}
    files = {"junit.xml": junit, "summary.md": markdown, "verdict.json": json.dumps(data, indent=2) + "\n"}
    annotation = f"::error title=perf gate - no verdict::{reporters.escape_command(note)}\n"
    return Reports(files, annotation + markdown, markdown)


def render_safely(verdict: Verdict, out_dir: Path, root: Path, thresholds_file: Path | None) -> tuple[Verdict, Reports]:
    """The reports of `verdict`; when they cannot be rendered (out of memory, a
    reporter's bug), reports of that failure instead, and no verdict."""
    try:
        return verdict, render(verdict, thresholds_file, root)
    except Exception as exc:  # noqa: BLE001 - the reports must say something, whatever failed
        note = crash.describe(exc, out_dir, "writing the reports")
    # Out of the handler, what the failed rendering held is freed before the fallback is rendered.
    if verdict.results:
        note += f"; {len(verdict.results)} rules were judged, their results cannot be reported"
    fallback = Verdict(problems=[note, *[*verdict.config_errors, *verdict.problems][:MAX_ERROR_LINES]])
    try:
        return fallback, render(fallback, None, root)
    except Exception:  # noqa: BLE001 - a reporter that fails on any verdict: the hand-written reports
        return fallback, minimal_reports(note)


def say(stderr: TextIO, line: str) -> None:
    """A line on stderr; a stderr that cannot be written leaves nothing to tell."""
    with contextlib.suppress(Exception):
        stderr.write(line + "\n")


def say_errors(verdict: Verdict, stderr: TextIO) -> None:
    lines = verdict.config_errors + verdict.problems
    for line in lines[:MAX_ERROR_LINES]:
        say(stderr, f"Error: {line}")
    if len(lines) > MAX_ERROR_LINES:
        say(stderr, f"Error: and {len(lines) - MAX_ERROR_LINES} more; every one is in verdict.json and junit.xml")


def attempt(what: str, step: Callable[[], object], out_dir: Path, stderr: TextIO) -> bool:
    """One report's writing. False when it failed unexpectedly (out of memory,
    a bug): the run then has no verdict. A disk or permission error is said
    and the verdict stands, as the other reports still carry it."""
    try:
        step()
    except OSError as exc:
        say(stderr, f"Error: cannot write {what}: {exc.strerror or exc}")
    except Exception as exc:  # noqa: BLE001 - every outcome is reported, never a traceback
        say(stderr, f"Error: {crash.describe(exc, out_dir, f'writing {what}')}")
        return False
    return True


def load_context(folder: Path, run_info: results.RunInfo) -> tuple[context.RunContext, list[str]]:
    """context.load reads its file whole: one that is not a small regular file
    (huge, /dev/zero, a FIFO) is passed over with a warning, never read."""
    path = folder / context.FILE
    try:
        info = path.stat()
    except OSError:  # absent: context.load goes without it
        return context.load(folder, run_info)
    if stat.S_ISREG(info.st_mode) and info.st_size <= MAX_CONTEXT_BYTES:
        return context.load(folder, run_info)
    found, warnings = context.load(NOWHERE, run_info)
    bound = f"not a regular file of at most {bounded.size(MAX_CONTEXT_BYTES)}"
    return found, [f"{path}: run context not read ({bound}); the report goes without it", *warnings]


def finish(
    verdict: Verdict,
    out_dir: Path,
    env: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    thresholds_file: Path | None = None,
) -> int:
    """Every report, each on its own (one that cannot be written does not stop
    the others); the exit code. All are rendered before any is written; when
    that fails, or writing one fails unexpectedly, the run ends without a
    verdict (exit 3), said wherever it still can be: never a traceback."""
    root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
    verdict, reports = render_safely(verdict, out_dir, root, thresholds_file)
    say_errors(verdict, stderr)
    intact = attempt(f"reports to {out_dir}", lambda: reporters.write_files(reports.files, out_dir), out_dir, stderr)
    intact &= attempt("the annotations and summary", lambda: stdout.write(reports.stdout), out_dir, stderr)
    status = verdict.status if intact else ERROR

    def github() -> None:
        gh = GitHub.from_env(env)
        gh.append_summary(reports.summary)
        gh.set_outputs({"verdict": status, "junit": str(out_dir / "junit.xml")})

    intact &= attempt("GitHub's step summary or outputs", github, out_dir, stderr)
    return verdict.exit_code if intact else EXIT_NO_VERDICT


def draw_timeline(raw: samples.RawSamples | None, verdict: Verdict, out_dir: Path, stderr: TextIO) -> None:
    """A report only: it never changes the verdict, whatever goes wrong."""
    try:
        (out_dir / plots.FILE).unlink(missing_ok=True)
        if raw is not None:
            limits = {r.entry: r.limit for r in verdict.results if r.metric == "p95_ms"}
            plots.write_timeline(raw.ok, out_dir, CHART_WINDOW_S, limits)
    except Exception as exc:  # noqa: BLE001 - a picture must not turn a verdict into a crash
        stderr.write(f"Warning: timeline not drawn: {type(exc).__name__}: {exc}\n")


def verdict_for(exc: BaseException, out_dir: Path) -> Verdict:
    if isinstance(exc, ConfigError):
        return Verdict(config_errors=[str(exc)])
    if isinstance(exc, NoVerdict):
        return Verdict(problems=[str(exc)])
    return Verdict(problems=[crash.describe(exc, out_dir)])


def run_check(args: argparse.Namespace, env: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> int:
    raw = None
    try:
        verdict, raw = evaluate(args)
    except Exception as exc:  # noqa: BLE001 - every outcome is reported, never a traceback
        verdict = verdict_for(exc, args.results)
    code = finish(verdict, args.results, env, stdout, stderr, args.thresholds)
    draw_timeline(raw, verdict, args.results, stderr)
    return code


def results_dir(argv: list[str] | None) -> Path:
    """Where reports go, read leniently: a run whose other options are bad is reported there too."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--results", type=Path, default=Path("results"))
    try:
        return p.parse_known_args(argv)[0].results
    except SystemExit:  # e.g. --results without a value: the real parser will say so
        return Path("results")


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except ConfigError as exc:
        # reported where --results says, read leniently, as perf-gate does
        folder = results_dir(sys.argv[1:] if argv is None else argv)
        return finish(Verdict(config_errors=[str(exc)]), folder, os.environ, sys.stdout, sys.stderr)
    return run_check(args, os.environ, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
