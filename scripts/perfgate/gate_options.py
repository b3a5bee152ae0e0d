"""perf-gate's options: parsed and checked before anything starts, so that a
mistake is exit 2 naming the option, in seconds. Most also read a PERF_GATE_*
variable, so a workflow or the action sets them without shell logic."""

import argparse
import math
import os
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

from perfgate import backends, check_cli, inputs, samples
from perfgate.errors import ConfigError

DEFAULT_TRIAL_S = 30  # a comparison's run is split into trials this long (README: Why trials of 30 s)
# Bounds of the numeric options: past them a value is a typo, not a plan.
MAX_USERS = 100_000  # more than Locust's processes on one machine can drive; the workflow allows fewer
MAX_SPAWN_RATE = 10_000.0  # users a second; the lower bound is the workflow's (inputs.MIN_SPAWN_RATE)
MAX_RUN_TIME_S = samples.MAX_SPAN_S  # the checker refuses samples spanning more than a day
MIN_HEALTH_TIMEOUT_S = 0.1  # one look at the health path
MAX_HEALTH_TIMEOUT_S = 3600.0  # a backend not healthy within an hour is not starting
MAX_WORKERS = 64  # request-processor processes on one machine; past this they only contend
MAX_PROCESSES = 256  # Locust processes on one machine
MAX_REMOTE_WORKERS = 1000  # Locust workers elsewhere, connected to the gate's master
MAX_TRIALS = 1000  # at 20 s or more each, over five hours of load
HELP = """perf-gate: the whole gate in one command.

Brings the backend up (embedded by default, docker compose, any command line,
or --host), waits for its health path, runs Locust headless with the gate's
plugin beside your locustfile, judges the results against thresholds.json
(and, with --compare-to, against the base commit side by side), always tears
the backend down, and exits with the verdict: 0 pass, 1 fail, 2 usage error,
3 no verdict. Whatever the exit code, junit.xml, summary.md and verdict.json
say why.

`perf-gate schema` prints the JSON Schema of thresholds.json (for an editor).
"""


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An option's parser: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        digits = text.strip()
        if not re.fullmatch(f"[0-9]{{1,{len(str(high))}}}", digits) or not low <= int(digits) <= high:
            raise argparse.ArgumentTypeError(f"expected a whole number from {low} to {high}, got {text[:40]!r}")
        return int(digits)

    return parse


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number above 0, got {text[:40]!r}")
    return value


def number(low: float, high: float, unit: str) -> Callable[[str], float]:
    """An option's parser: a number from `low` to `high`."""

    def parse(text: str) -> float:
        value = positive_number(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low:g} to {high:g} {unit}, got {text[:40]!r}")
        return value

    return parse


def processes(text: str) -> int:
    """Locust's --processes: a count of at least 1, or -1 for one per core."""
    if text.strip() == "-1":
        return -1
    return whole_number(1, MAX_PROCESSES)(text)


def run_time(text: str) -> str:
    """Locust's forms (90, 90s, 2m, 1h30m), at least a second: Locust takes 0 as 'no limit'."""
    try:
        seconds = inputs.run_time_seconds(text)
    except inputs.InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("run-time: ")) from None
    if seconds < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1s (Locust takes 0 as 'run forever'), got {text!r}")
    if seconds > MAX_RUN_TIME_S:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_RUN_TIME_S // 3600}h (the checker refuses samples spanning more), got {text[:40]!r}"
        )
    return f"{seconds}s"


MAX_SHARDS = 256


def shard(text: str) -> tuple[int, int]:
    """'2/3' -> (2, 3)."""
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i = n = 0
    if not sep or not 1 <= i <= n <= MAX_SHARDS:
        raise argparse.ArgumentTypeError(f"expected I/N with 1 <= I <= N <= {MAX_SHARDS} (e.g. 2/3), got {text!r}")
    return i, n


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
    PERF_GATE_TRIALS, PERF_GATE_PIN_CPUS), so a workflow or the action sets them without shell logic."""
    env = {} if env is None else env
    p = check_cli.Parser(prog="perf-gate", description=HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
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
    p.add_argument("--users", "-u", type=whole_number(1, MAX_USERS), help="Locust users (default: locust.conf)")
    p.add_argument(
        "--spawn-rate",
        "-r",
        type=number(inputs.MIN_SPAWN_RATE, MAX_SPAWN_RATE, "users a second"),
        help="users started per second (default: locust.conf)",
    )
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
        "--expect-workers",
        type=whole_number(1, MAX_REMOTE_WORKERS),
        default=env.get("PERF_GATE_EXPECT_WORKERS") or None,
        metavar="N",
        help="Locust runs as master and waits for N workers started elsewhere (locust --worker --master-host ... "
        "with the same locustfile and the gate's plugin, whose path the gate prints)",
    )
    p.add_argument(
        "--master-bind-host",
        default=env.get("PERF_GATE_MASTER_BIND_HOST") or "*",
        help="with --expect-workers: the address the master listens on (default: Locust's, every address)",
    )
    p.add_argument(
        "--master-bind-port",
        type=whole_number(1, 65535),
        default=env.get("PERF_GATE_MASTER_BIND_PORT") or 5557,
        help="with --expect-workers: the port the master listens on (default: Locust's, 5557)",
    )
    p.add_argument(
        "--workers-timeout",
        type=number(1, 3600, "seconds"),
        default=env.get("PERF_GATE_WORKERS_TIMEOUT") or 120.0,
        help="with --expect-workers: how long to wait for the workers in each trial (default: 120)",
    )
    p.add_argument(
        "--health-timeout",
        type=number(MIN_HEALTH_TIMEOUT_S, MAX_HEALTH_TIMEOUT_S, "seconds"),
        default=60.0,
        help="seconds to wait for /health (default: 60)",
    )
    p.add_argument(
        "--workers", type=whole_number(1, MAX_WORKERS), default=1, help="request-processor processes (embedded)"
    )
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
        type=whole_number(1, MAX_TRIALS),
        default=env.get("PERF_GATE_TRIALS") or None,
        help=f"fresh-start trials the run time is split into (default: with --compare-to, one per {DEFAULT_TRIAL_S} s "
        "of run time; else 1)",
    )
    p.add_argument(
        "--max-run-time",
        type=run_time,
        default=env.get("PERF_GATE_MAX_RUN_TIME") or None,
        help="with --compare-to: go on adding trials of the same length until every rule is decided or this much "
        "load time is spent (intervals widen to keep false alarms at the file's rate)",
    )
    p.add_argument(
        "--pin-cpus",
        choices=("auto", "off"),
        default=env.get("PERF_GATE_PIN_CPUS") or "off",
        help="auto: with --compare-to, Locust runs on CPUs of its own and both backends on the rest, so the two "
        "sides share the same CPUs (embedded and --backend-cmd; not compose); off (default): the scheduler decides",
    )
    p.add_argument(
        "--shard",
        type=shard,
        default=env.get("PERF_GATE_SHARD") or None,
        metavar="I/N",
        help="with --compare-to: this runner's part of a comparison spread over N runners; each makes its trials, "
        "`perf-gate merge` pools them and judges once",
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
    if args.pin_cpus not in ("auto", "off"):
        raise ConfigError(f"PERF_GATE_PIN_CPUS: expected auto or off, got {args.pin_cpus!r}")
    if args.backend not in ("embedded", "compose"):
        raise ConfigError(f"PERF_GATE_BACKEND: expected embedded or compose, got {args.backend!r}")
    if args.compare_to and args.host:
        raise ConfigError("--compare-to starts both backends itself; it cannot be used with --host")
    if args.backend_cmd and args.host:
        raise ConfigError("--backend-cmd starts the service; --host loads one already running: give one of them")
    if args.backend_cmd:
        backends.command_args(args.backend_cmd, 8000)  # a bad command line is a usage error now, not after a build
    if args.expect_workers and args.processes:
        raise ConfigError(
            "--expect-workers waits for workers started elsewhere; --processes starts them here: give one"
        )
    if args.shard and not args.compare_to:
        raise ConfigError("--shard is one part of a comparison spread over runners; it needs --compare-to")
    if args.shard and (args.max_run_time or args.calibrate):
        flag = "--max-run-time" if args.max_run_time else "--calibrate"
        raise ConfigError(f"--shard makes a fixed number of trials and `perf-gate merge` decides; drop {flag}")
    if not args.health_path.startswith("/"):
        raise ConfigError(f"--health-path {args.health_path!r}: expected a path starting with /")
    if args.compose_file:
        compose_files(args)
    return args


def compose_files(args: argparse.Namespace) -> None:
    """A compose file that would be ignored or is not there is a usage error
    now, not a compose error after a build (compose takes a list joined by
    the path separator, as in COMPOSE_FILE)."""
    if args.backend != "compose" or args.host or args.backend_cmd:
        raise ConfigError(
            f"--compose-file {args.compose_file}: it is for --backend compose (without --host or --backend-cmd)"
        )
    for name in args.compose_file.split(os.pathsep):
        if not (Path.cwd() / name).is_file():
            raise ConfigError(
                f"--compose-file {name}: no such file in {Path.cwd()} (the path is relative to the checkout)"
            )
