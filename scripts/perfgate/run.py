"""perf-gate: the whole gate in one command.

Brings the backend up (embedded by default, or docker compose, or --host),
waits for /health, runs Locust headless with CSV and HTML output, judges the
results against thresholds.json, always tears the backend down, and exits
with the verdict: 0 pass, 1 fail, 2 usage error, 3 no verdict.
"""

import argparse
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from perfgate import backends, calibrate, check_cli, thresholds
from perfgate.errors import EXIT_USAGE, ConfigError, GateError, NoVerdict
from perfgate.worktree import baseline_worktree

PREFIX = "locust"


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Options; --backend and --compare-to also read PERF_GATE_BACKEND and
    PERF_GATE_COMPARE_TO, so a workflow sets them without shell logic."""
    env = {} if env is None else env
    p = argparse.ArgumentParser(
        prog="perf-gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--backend",
        choices=["embedded", "compose"],
        default=env.get("PERF_GATE_BACKEND") or "embedded",
        help="how to bring the backend up (default: embedded, no Docker)",
    )
    p.add_argument("--host", help="load an already running backend at this URL instead")
    p.add_argument("--users", "-u", type=positive_int, help="Locust users (default: locust.conf)")
    p.add_argument("--spawn-rate", "-r", type=float, help="users started per second (default: locust.conf)")
    p.add_argument("--run-time", "-t", help="e.g. 30s, 2m (default: locust.conf)")
    p.add_argument("--results", type=Path, default=Path("results"), help="folder for every report (default: results)")
    p.add_argument("--thresholds", type=Path, default=Path("thresholds.json"))
    p.add_argument("--locustfile", default="locustfile.py")
    p.add_argument("--health-timeout", type=float, default=60.0, help="seconds to wait for /health (default: 60)")
    p.add_argument("--workers", type=positive_int, default=1, help="request-processor processes (embedded)")
    p.add_argument(
        "--backend-env",
        type=env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the backend under test, e.g. BACKEND_API_LATENCY_MS=20",
    )
    p.add_argument(
        "--fail-on-overload", action="store_true", help="no verdict (exit 3) when Locust's CPU went above 90%%"
    )
    p.add_argument(
        "--compare-to",
        metavar="REF",
        default=env.get("PERF_GATE_COMPARE_TO") or None,
        help="also load REF (e.g. origin/main) side by side and judge regressions against it",
    )
    p.add_argument(
        "--baseline-env",
        type=env_pair,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment for the baseline backend only (with --compare-to)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="A/A: load this commit against itself and report the noise and the smallest detectable slowdown",
    )
    return p


def say(stream: TextIO, text: str) -> None:
    stream.write(f"==> {text}\n")
    stream.flush()


def locust_command(args: argparse.Namespace, host: str, exclude_ramp_up: bool, compare_hosts: str = "") -> list[str]:
    prefix = args.results / PREFIX
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        args.locustfile,
        "--headless",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--html",
        str(args.results / "report.html"),
        "--run-info",
        f"{prefix}_run_info.json",
        "--raw-samples",
        f"{prefix}_raw.csv",
        "--exit-code-on-error",
        "0",
        "--only-summary",
    ]
    if exclude_ramp_up:
        cmd.append("--reset-stats")
    if compare_hosts:
        cmd += ["--compare-hosts", compare_hosts]
    for flag, value in (("--users", args.users), ("--spawn-rate", args.spawn_rate), ("--run-time", args.run_time)):
        if value is not None:
            cmd += [flag, str(value)]
    return cmd


def start(
    args: argparse.Namespace, stack: ExitStack, source: Path, name: str, env: Mapping[str, str]
) -> backends.Backend:
    log = args.results / f"backend-{name}.log"
    if args.host:
        return stack.enter_context(backends.running(args.host))
    if args.backend == "compose":
        port = 8001 if name == "baseline" else 8000
        return stack.enter_context(backends.compose(source, f"perfgate-{name}", log, env, port=port))
    return stack.enter_context(backends.embedded(source, log, env, workers=args.workers))


def gate(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    limits = thresholds.load(args.thresholds)  # a bad file fails before anything starts
    args.results.mkdir(parents=True, exist_ok=True)
    for old in args.results.glob(f"{PREFIX}_*"):
        old.unlink()
    cwd = Path.cwd()
    candidate_env = {**env, **dict(args.backend_env)}
    with ExitStack() as stack:
        if args.compare_to:
            if args.host:
                raise ConfigError("--compare-to starts both backends itself; it cannot be used with --host")
            say(err, f"preparing baseline {args.compare_to} in a worktree")
            base_src = stack.enter_context(baseline_worktree(cwd, args.compare_to, args.results / "baseline-src"))
            say(err, f"starting baseline ({args.compare_to}) and candidate (this checkout) backends")
            baseline = start(args, stack, base_src, "baseline", {**env, **dict(args.baseline_env)})
            candidate = start(args, stack, cwd, "candidate", candidate_env)
            backends_up = {"baseline": baseline, "candidate": candidate}
        else:
            say(err, f"starting backend ({'host ' + args.host if args.host else args.backend})")
            backends_up = {"candidate": start(args, stack, cwd, "candidate", candidate_env)}
        for name, backend in backends_up.items():
            say(err, f"waiting for {backend.url}/health ({name}, up to {args.health_timeout:g}s)")
            backends.wait_healthy(backend, args.health_timeout)
        compare_hosts = ",".join(f"{n}={b.url}" for n, b in backends_up.items()) if args.compare_to else ""
        cmd = locust_command(args, backends_up["candidate"].url, limits.exclude_ramp_up, compare_hosts)
        say(err, "running Locust: " + " ".join(cmd[2:]))
        code = subprocess.run(cmd, env=dict(env)).returncode
        if code != 0:
            raise NoVerdict(f"Locust exited with {code} (it crashed or was misconfigured); see its output above")
        say(err, "tearing the backend down")
    say(err, f"checking results against {args.thresholds}")
    check_args = argparse.Namespace(
        results=args.results,
        prefix=PREFIX,
        thresholds=args.thresholds,
        fail_on_overload=args.fail_on_overload,
        compare=bool(args.compare_to),
    )
    code = check_cli.run_check(check_args, env, out, err)
    if args.calibrate:
        noise = calibrate.calibrate(args.results / f"{PREFIX}_raw.csv", limits)
        calibrate.write(noise, args.results)
        calibrate.markdown(noise, out)
    reports = f"junit.xml, summary.md, verdict.json, report.html, timeline.png, {PREFIX}_*.csv"
    say(err, f"reports in {args.results}/: {reports}")
    return code


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the ExitStack, so the backend is torn down


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(os.environ)
    args = parser.parse_args(argv)
    if args.calibrate:
        args.compare_to = args.compare_to or "HEAD"
    if args.backend not in ("embedded", "compose"):
        parser.error(f"PERF_GATE_BACKEND: expected embedded or compose, got {args.backend!r}")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        return gate(args, os.environ, sys.stdout, sys.stderr)
    except GateError as exc:
        sys.stderr.write(f"Error: {exc}\n")
        if exc.exit_code != EXIT_USAGE:
            check_cli.report(check_cli.Verdict(problems=[str(exc)]), args.results, os.environ, sys.stdout)
        return exc.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("Error: interrupted; backend torn down, no verdict\n")
        return 3


if __name__ == "__main__":
    sys.exit(main())
