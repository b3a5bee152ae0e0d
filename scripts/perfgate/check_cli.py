"""perf-check: judge a finished Locust run against thresholds.json.

Exit codes: 0 pass, 1 a check failed, 2 usage/configuration error,
3 no verdict possible (nothing measured, results unreadable).
Whatever the exit code, junit.xml, summary.md and verdict.json are written.
"""

import argparse
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from perfgate import (
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
from perfgate.check import Verdict, check
from perfgate.compare import compare_run
from perfgate.errors import ConfigError, NoVerdict
from perfgate.github import GitHub
from perfgate.samples import CANDIDATE

CHART_WINDOW_S = 5.0  # the timeline's window, and the comparison's by default


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
    verdict.context, unreadable = context.load(args.results, run.run_info)
    verdict.warnings += unreadable
    try:
        raw = samples.load(Path(f"{prefix}_raw.csv"))
    except NoVerdict as exc:
        if limits.stall or args.compare:  # they are evidence only for these
            stall_note = f'; cannot look for stalls (for plain Locust output set "stall": false in {args.thresholds})'
            verdict.problems.append(f"{exc}{stall_note}" if limits.stall else str(exc))
        return verdict, None
    if limits.stall:
        found, problems = stalls.judge(raw, run.run_info, limits.stall)
        verdict.results += found
        verdict.problems += problems
    if args.compare:
        looks = tuple(getattr(args, "looks", (1,)))
        compare_run(verdict, raw, limits, run.run_info.trials, looks, run.run_info.candidate_first)
    charts.add_latency_windows(verdict.results, raw.ok, CANDIDATE if args.compare else "", CHART_WINDOW_S)
    return verdict, raw


def finish(
    verdict: Verdict,
    out_dir: Path,
    env: Mapping[str, str],
    stdout: TextIO,
    stderr: TextIO,
    thresholds_file: Path | None = None,
) -> int:
    """Every report, each on its own (one that cannot be written does not stop
    the others); the exit code."""
    for line in verdict.config_errors + verdict.problems:
        stderr.write(f"Error: {line}\n")
    text = io.StringIO()
    summary.markdown(verdict, text)
    try:
        reporters.write_all(verdict, out_dir, rendered={"summary.md": text.getvalue()})
    except OSError as exc:
        stderr.write(f"Error: cannot write reports to {out_dir}: {exc.strerror or exc}\n")
    root = Path(env.get("GITHUB_WORKSPACE") or Path.cwd())
    reporters.annotations(verdict, stdout, reporters.rule_places(thresholds_file, root))
    stdout.write(text.getvalue())
    gh = GitHub.from_env(env)
    try:
        gh.append_summary(text.getvalue())
        gh.set_outputs({"verdict": verdict.status, "junit": str(out_dir / "junit.xml")})
    except OSError as exc:
        stderr.write(f"Error: cannot write GitHub's step summary or outputs: {exc.strerror or exc}\n")
    return verdict.exit_code


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


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except ConfigError as exc:
        return finish(Verdict(config_errors=[str(exc)]), Path("results"), os.environ, sys.stdout, sys.stderr)
    return run_check(args, os.environ, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
