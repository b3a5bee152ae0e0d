"""perf-check: judge a finished Locust run against thresholds.json.

Exit codes: 0 pass, 1 a check failed, 2 usage/configuration error,
3 no verdict possible (nothing measured, results unreadable).
"""

import argparse
import io
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from perfgate import plots, reporters, results, thresholds
from perfgate.check import Verdict, check
from perfgate.errors import GateError
from perfgate.github import GitHub


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="perf-check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
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
    return parser


def evaluate(args: argparse.Namespace) -> Verdict:
    limits = thresholds.load(args.thresholds)
    run = results.load(args.results / args.prefix)
    verdict = check(run, limits, fail_on_overload=args.fail_on_overload)
    if args.compare:
        from perfgate.compare import compare_run

        compare_run(verdict, args.results / f"{args.prefix}_raw.csv", limits)
    return verdict


def report(verdict: Verdict, out_dir: Path, env: Mapping[str, str], stdout: TextIO) -> None:
    reporters.write_all(verdict, out_dir)
    reporters.annotations(verdict, stdout)
    summary = io.StringIO()
    reporters.markdown(verdict, summary)
    stdout.write(summary.getvalue())
    gh = GitHub.from_env(env)
    gh.append_summary(summary.getvalue())
    gh.set_outputs({"verdict": verdict.status, "junit": str(out_dir / "junit.xml")})


def run_check(args: argparse.Namespace, env: Mapping[str, str], stdout: TextIO, stderr: TextIO) -> int:
    try:
        verdict = evaluate(args)
        code = verdict.exit_code
    except GateError as exc:
        stderr.write(f"Error: {exc}\n")
        if exc.exit_code == 2:
            GitHub.from_env(env).set_outputs({"verdict": "error"})
            return exc.exit_code
        verdict, code = Verdict(problems=[str(exc)]), exc.exit_code
    report(verdict, args.results, env, stdout)
    plots.write_timeline(args.results / f"{args.prefix}_raw.csv", args.results)
    return code


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_check(args, os.environ, sys.stdout, sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
