"""perf-gate: the whole gate in one command.

Brings the backend up (embedded by default, or docker compose, or --host),
waits for /health, runs Locust headless with CSV and HTML output, judges the
results against thresholds.json, always tears the backend down, and exits
with the verdict: 0 pass, 1 fail, 2 usage error, 3 no verdict. Whatever the
exit code, junit.xml, summary.md and verdict.json say why.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from perfgate import (
    backends,
    calibrate,
    check_cli,
    context,
    crash,
    inputs,
    plots,
    reporters,
    results,
    samples,
    thresholds,
    trials,
)
from perfgate.check import FAIL, PASS, Verdict
from perfgate.errors import ConfigError, NoVerdict
from perfgate.worktree import baseline_worktree

PREFIX = "locust"
# Everything a run writes: cleared first, so the folder holds only this run's reports.
RUN_FILES = [*reporters.FILE_REPORTERS, "report.html", plots.FILE, crash.FILE, context.FILE, *calibrate.FILES]
RUN_GLOBS = [f"{PREFIX}_*", "backend-*.log"]
MAX_DIGITS = 9
PLUGIN = Path(__file__).parent / "locust_entry" / "perfgate_plugin.py"  # loaded beside the user's locustfile
DEFAULT_TRIALS = 3  # for a comparison; see the README on how it was chosen
MIN_TRIAL_S = 20  # a trial's first window is warm-up: it needs a few more to say anything
SHUFFLE = random.SystemRandom()  # start order and ports; the verdict depends on the samples only


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def positive_int(text: str) -> int:
    if not re.fullmatch(f"[0-9]{{1,{MAX_DIGITS}}}", text.strip()):
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {10**MAX_DIGITS - 1}, got {text[:40]!r}")
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text[:40]!r}")
    return value


def processes(text: str) -> int:
    """Locust's --processes: a count of at least 1, or -1 for one per core."""
    if text.strip() == "-1":
        return -1
    return positive_int(text)


def run_time(text: str) -> str:
    """Locust's forms (90, 90s, 2m, 1h30m), at least a second: Locust takes 0 as 'no limit'."""
    try:
        seconds = inputs.run_time_seconds(text)
    except inputs.InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("run-time: ")) from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1s (Locust takes 0 as 'run forever'), got {text!r}")
    return f"{seconds}s"


def url(text: str) -> str:
    parts = urllib.parse.urlsplit(text.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number in range
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text[:80]!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"expected a URL like http://localhost:8000, got {text[:80]!r}")
    return text.strip().rstrip("/")


def build_parser(env: Mapping[str, str] | None = None) -> argparse.ArgumentParser:
    """Options; most also read a PERF_GATE_* variable (PERF_GATE_BACKEND,
    PERF_GATE_BACKEND_CMD, PERF_GATE_COMPARE_TO, PERF_GATE_LOCUSTFILE,
    PERF_GATE_THRESHOLDS, PERF_GATE_HEALTH_PATH, PERF_GATE_PROCESSES,
    PERF_GATE_TRIALS), so a workflow or the action sets them without shell logic."""
    env = {} if env is None else env
    p = check_cli.Parser(prog="perf-gate", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--backend",
        choices=["embedded", "compose"],
        default=env.get("PERF_GATE_BACKEND") or "embedded",
        help="how to bring the backend up (default: embedded, no Docker)",
    )
    p.add_argument("--host", type=url, help="load an already running backend at this URL instead")
    p.add_argument(
        "--backend-cmd",
        metavar="COMMAND",
        default=env.get("PERF_GATE_BACKEND_CMD") or None,
        help='start any service with this command line, {port} filled in, e.g. "gunicorn app:app -b 127.0.0.1:{port}"',
    )
    p.add_argument(
        "--compose-file",
        default=env.get("PERF_GATE_COMPOSE_FILE") or None,
        help="with --backend compose: your compose file, relative to the checkout; it publishes the service "
        'as "${PERF_GATE_PORT:-8000}:<container port>" (default: docker-compose.yml)',
    )
    p.add_argument(
        "--health-path",
        default=env.get("PERF_GATE_HEALTH_PATH") or "/health",
        help="the path that answers 200 once the service is ready (default: /health)",
    )
    p.add_argument("--users", "-u", type=positive_int, help="Locust users (default: locust.conf)")
    p.add_argument("--spawn-rate", "-r", type=positive_number, help="users started per second (default: locust.conf)")
    p.add_argument("--run-time", "-t", type=run_time, help="e.g. 30s, 2m (default: locust.conf)")
    p.add_argument("--results", type=Path, default=Path("results"), help="folder for every report (default: results)")
    p.add_argument("--thresholds", type=Path, default=env.get("PERF_GATE_THRESHOLDS") or "thresholds.json")
    p.add_argument(
        "--locustfile",
        default=env.get("PERF_GATE_LOCUSTFILE") or "locustfile.py",
        help="yours; the gate's plugin is loaded beside it",
    )
    p.add_argument(
        "--processes",
        type=processes,
        default=env.get("PERF_GATE_PROCESSES") or None,
        help="Locust processes generating load: N, or -1 for one per core (default: one)",
    )
    p.add_argument(
        "--health-timeout", type=positive_number, default=60.0, help="seconds to wait for /health (default: 60)"
    )
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
        "--trials",
        type=positive_int,
        default=env.get("PERF_GATE_TRIALS") or None,
        help=f"fresh-start trials the run time is split into (default: {DEFAULT_TRIALS} with --compare-to, else 1)",
    )
    p.add_argument(
        "--max-run-time",
        type=run_time,
        default=env.get("PERF_GATE_MAX_RUN_TIME") or None,
        help="with --compare-to: go on adding trials of the same length until every rule is decided or this much "
        "load time is spent (intervals widen to keep false alarms at the file's rate)",
    )
    p.add_argument(
        "--calibrate",
        action="store_true",
        help="A/A: load this commit against itself and report the noise and the smallest detectable slowdown",
    )
    return p


def parse_args(argv: list[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    args = build_parser(env).parse_args(argv)
    if args.compare_to and args.compare_to.strip().lower() == "none":  # a workflow's way to say: no comparison
        args.compare_to = None
    if args.calibrate:
        args.compare_to = args.compare_to or "HEAD"
    if args.backend not in ("embedded", "compose"):
        raise ConfigError(f"PERF_GATE_BACKEND: expected embedded or compose, got {args.backend!r}")
    if args.compare_to and args.host:
        raise ConfigError("--compare-to starts both backends itself; it cannot be used with --host")
    if args.backend_cmd and args.host:
        raise ConfigError("--backend-cmd starts the service; --host loads one already running: give one of them")
    if args.backend_cmd:
        backends.command_args(args.backend_cmd, 8000)  # a bad command line is a usage error now, not after a build
    if not args.health_path.startswith("/"):
        raise ConfigError(f"--health-path {args.health_path!r}: expected a path starting with /")
    return args


def results_dir(argv: list[str] | None) -> Path:
    """Where reports go, read leniently: a run whose other options are bad is reported there too."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--results", type=Path, default=Path("results"))
    try:
        return p.parse_known_args(argv)[0].results
    except SystemExit:  # e.g. --results without a value: the real parser will say so
        return Path("results")


def prepare_results(folder: Path) -> None:
    """A folder that can be written, holding nothing from an earlier run."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"--results {folder}: is a file; expected a folder for the reports")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError as exc:
        raise ConfigError(f"--results {folder}: cannot write there: {exc.strerror or exc}") from None
    stale = [folder / name for name in RUN_FILES] + [p for pattern in RUN_GLOBS for p in folder.glob(pattern)]
    for path in stale:
        if path.is_file() or path.is_symlink():
            path.unlink()
    for path in folder.glob("trial-*"):  # an earlier run's trials
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)


def say(stream: TextIO, text: str) -> None:
    stream.write(f"==> {text}\n")
    stream.flush()


def locust_command(
    args: argparse.Namespace,
    host: str,
    exclude_ramp_up: bool,
    compare_hosts: str = "",
    out: Path | None = None,
    run_time: str | None = None,
) -> list[str]:
    """Locust's command line; `out` and `run_time` for one trial of several."""
    out = out or args.results
    prefix = out / PREFIX
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        f"{args.locustfile},{PLUGIN}",
        "--headless",
        "--host",
        host,
        "--csv",
        str(prefix),
        "--html",
        str(out / "report.html"),
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
    if args.processes:
        cmd += ["--processes", str(args.processes)]
    run_time = run_time or args.run_time
    for flag, value in (("--users", args.users), ("--spawn-rate", args.spawn_rate), ("--run-time", run_time)):
        if value is not None:
            cmd += [flag, str(value)]
    return cmd


def preflight(cmd: list[str], env: Mapping[str, str]) -> dict:
    """Locust's verdict on the options and the locustfile, before anything starts."""
    check = [sys.executable, "-m", "perfgate.locust_options", *cmd[3:]]
    proc = subprocess.run(check, env=dict(env), capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        raise ConfigError(f"Locust refuses the run: {lines[-1] if lines else f'exit {proc.returncode}'}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def start(
    args: argparse.Namespace,
    stack: ExitStack,
    source: Path,
    name: str,
    env: Mapping[str, str],
    port: int = 8000,
    log_suffix: str = "",
) -> backends.Backend:
    log = args.results / f"backend-{name}{log_suffix}.log"
    if args.host:
        return stack.enter_context(backends.running(args.host, args.health_path))
    if args.backend_cmd:
        free = backends.free_port()
        return stack.enter_context(backends.command(args.backend_cmd, source, log, env, free, args.health_path))
    if args.backend == "compose":
        project = f"perfgate-{name}"
        up = backends.compose(source, project, log, env, port, args.compose_file, args.health_path)
        return stack.enter_context(up)
    return stack.enter_context(backends.embedded(source, log, env, workers=args.workers))


def trials_of(args: argparse.Namespace, run_time_s: int | None) -> int:
    """How many fresh-start trials: --trials, else 3 for a comparison and 1 for a plain run."""
    count = args.trials or (DEFAULT_TRIALS if args.compare_to else 1)
    if count > 1:
        if args.host:
            raise ConfigError("--trials starts the backends afresh for each trial; it cannot be used with --host")
        if not run_time_s:
            raise ConfigError("--trials needs a run time (--run-time or locust.conf) to split among the trials")
        if run_time_s // count < MIN_TRIAL_S:
            raise ConfigError(
                f"--trials {count}: a run of {run_time_s} s gives trials of {run_time_s // count} s; "
                f"each needs at least {MIN_TRIAL_S} s (fewer trials, or a longer --run-time)"
            )
    return count


def max_trials(args: argparse.Namespace, count: int, seconds: int) -> int:
    """With --max-run-time, trials go on past `count` until every rule is
    decided or the budget is spent; else exactly `count`."""
    if not args.max_run_time:
        return count
    if not args.compare_to:
        raise ConfigError("--max-run-time keeps comparing until every rule is decided; it needs --compare-to")
    budget = inputs.run_time_seconds(args.max_run_time)
    if budget < count * seconds:
        raise ConfigError(f"--max-run-time {args.max_run_time}: less than the run time ({count * seconds} s)")
    return max(count, budget // seconds)


def all_decided(folders: list[Path], args: argparse.Namespace, check_args: argparse.Namespace, limits) -> bool:
    """Whether every regression rule is decided (pass or fail) on the trials so far,
    at the sequential run's confidence: the look that may stop the run."""
    trials.merge(folders, args.results, PREFIX, limits.exclude_ramp_up)
    try:
        verdict, _ = check_cli.evaluate(check_args)
    except Exception:  # noqa: BLE001 - an unreadable look is no decision: go on loading
        return False
    rules = [r for r in verdict.results if r.metric.endswith("_regression")]
    return bool(rules) and all(r.status in (PASS, FAIL) for r in rules)


def run_trial(
    args: argparse.Namespace,
    env: Mapping[str, str],
    err: TextIO,
    sides: dict[str, tuple[Path, Mapping[str, str]]],
    exclude_ramp_up: bool,
    out: Path,
    seconds: int,
    n: int,
    count: int,
) -> None:
    """Backends started afresh, in a random order and on shuffled ports (what
    differs between the side started first and the other must not always
    favour one), loaded for `seconds`, then torn down."""
    order = list(sides)
    ports = [8000, 8001][: len(order)]
    if count > 1:
        SHUFFLE.shuffle(order)
        SHUFFLE.shuffle(ports)
    with ExitStack() as stack:
        up = {}
        for name, port in zip(order, ports, strict=True):
            source, side_env = sides[name]
            label = f"{name} ({args.compare_to})" if name == "baseline" else name
            how = f"host {args.host}" if args.host else args.backend_cmd or args.backend
            say(err, f"starting {label} backend ({how})")
            suffix = f"-trial{n}" if count > 1 else ""
            up[name] = start(args, stack, source, name, side_env, port=port, log_suffix=suffix)
        for name, backend in up.items():
            say(err, f"waiting for {backend.url}{backend.health_path} ({name}, up to {args.health_timeout:g}s)")
            backends.wait_healthy(backend, args.health_timeout)
        compare_hosts = ",".join(f"{name}={up[name].url}" for name in sides) if args.compare_to else ""
        run_time = f"{seconds}s" if count > 1 else None
        cmd = locust_command(args, up["candidate"].url, exclude_ramp_up, compare_hosts, out, run_time)
        say(err, "running Locust: " + " ".join(cmd[2:]))
        code = subprocess.run(cmd, env=dict(env)).returncode
        if code != 0:
            raise NoVerdict(f"Locust exited with {code} (it crashed or was misconfigured); see its output above")
        say(err, "tearing the backend down")


def gate(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    limits = thresholds.load(args.thresholds)  # a bad file fails before anything starts
    cwd = Path.cwd()
    # The same options as the real run, with a placeholder host: checked before any backend starts.
    planned = preflight(locust_command(args, "http://localhost", limits.exclude_ramp_up), env)
    say(err, f"Locust: {planned['users']} users, {planned['spawn_rate']:g}/s, {planned['run_time_s']} s")
    context.write(
        args.results,
        users=planned["users"],
        spawn_rate=planned["spawn_rate"],
        run_time_s=planned["run_time_s"],
        backend=args.host or ("command" if args.backend_cmd else args.backend),
        candidate=context.commit(cwd, "HEAD"),
        baseline=context.commit(cwd, args.compare_to) if args.compare_to else None,
    )
    candidate_env = {**env, **dict(args.backend_env)}
    count = trials_of(args, planned["run_time_s"])
    seconds = (planned["run_time_s"] or 0) // count
    most = max_trials(args, count, seconds)
    looks = tuple(range(count, most + 1)) if most > count else (1,)
    check_args = argparse.Namespace(
        results=args.results,
        prefix=PREFIX,
        thresholds=args.thresholds,
        fail_on_overload=args.fail_on_overload,
        compare=bool(args.compare_to),
        looks=looks,
    )
    with ExitStack() as worktree:
        sides = {"candidate": (cwd, candidate_env)}
        if args.compare_to:
            say(err, f"preparing baseline {args.compare_to} in a worktree")
            base_src = worktree.enter_context(baseline_worktree(cwd, args.compare_to, args.results / "baseline-src"))
            sides = {"baseline": (base_src, {**env, **dict(args.baseline_env)}), **sides}
        folders: list[Path] = []
        for n in range(1, most + 1):
            folder = trials.folder(args.results, n) if most > 1 else args.results
            folder.mkdir(parents=True, exist_ok=True)
            if most > 1:
                say(
                    err,
                    f"trial {n} of {count}" + (f" (up to {most} until every rule is decided)" if most > count else ""),
                )
            run_trial(args, env, err, sides, limits.exclude_ramp_up, folder, seconds, n, most)
            folders.append(folder)
            if n >= count and n < most and all_decided(folders, args, check_args, limits):
                say(err, f"every rule decided after {n} trials ({n * seconds} s of load)")
                break
    if len(folders) > 1:
        trials.merge(folders, args.results, PREFIX, limits.exclude_ramp_up)
        context.update(args.results, trials=len(folders), max_trials=most)
    say(err, f"checking results against {args.thresholds}")
    code = check_cli.run_check(check_args, env, out, err)
    if args.calibrate:
        try:
            info = results.load_run_info(args.results / f"{PREFIX}_run_info.json")
            noise = calibrate.calibrate(samples.load(args.results / f"{PREFIX}_raw.csv"), limits, trials=info.trials)
            calibrate.write(noise, args.results)
            calibrate.markdown(noise, out)
        except (NoVerdict, OSError) as exc:
            err.write(f"Error: calibration not written: {exc}\n")
    say(err, f"reports in {args.results}/: junit.xml, summary.md, verdict.json, report.html, timeline.png")
    return code


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the ExitStack, so the backend is torn down


def main(argv: list[str] | None = None) -> int:
    env, out, err = os.environ, sys.stdout, sys.stderr
    folder = results_dir(argv)
    signal.signal(signal.SIGTERM, _terminate)
    try:
        try:
            args = parse_args(argv, env)  # --help prints and exits here, touching nothing
        except ConfigError:
            prepare_results(folder)  # a usage error's report must not stand beside an earlier run's
            raise
        prepare_results(folder)
        return gate(args, env, out, err)
    except KeyboardInterrupt:
        verdict = Verdict(problems=["interrupted; backend torn down, no verdict"])
    except Exception as exc:  # noqa: BLE001 - every outcome is reported, never a traceback
        verdict = check_cli.verdict_for(exc, folder)
    return check_cli.finish(verdict, folder, env, out, err)


if __name__ == "__main__":
    sys.exit(main())
