"""perf-gate's run: options checked (perfgate.gate_options), the backends up
for each trial, Locust with the gate's plugin, the trials merged, the checker,
every outcome reported. The data flow one way: run -> results on disk ->
check -> report."""

import argparse
import contextlib
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
import threading
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from perfgate import (
    backends,
    calibrate,
    check_cli,
    context,
    cpus,
    crash,
    inputs,
    plots,
    reporters,
    resources,
    results,
    samples,
    shards,
    thresholds,
    trials,
)
from perfgate.check import FAIL, PASS, Verdict
from perfgate.check_cli import results_dir
from perfgate.errors import EXIT_FAIL, EXIT_NO_VERDICT, EXIT_PASS, EXIT_USAGE, ConfigError, NoVerdict
from perfgate.gate_options import DEFAULT_TRIAL_S, parse_args
from perfgate.worktree import baseline_worktree

PREFIX = "locust"
# Everything a run writes: cleared first, so the folder holds only this run's reports.
RUN_FILES = [*reporters.FILE_REPORTERS, "report.html", plots.FILE, crash.FILE, context.FILE, *calibrate.FILES]
RUN_GLOBS = [f"{PREFIX}_*", "backend-*.log"]
PLUGIN = Path(__file__).parent / "locust_entry" / "perfgate_plugin.py"  # loaded beside the user's locustfile
MIN_TRIAL_S = 20  # a trial's first window is warm-up: it needs a few more to say anything
DEFAULT_BUDGET_S = 300  # a comparison goes on until decided, up to this much load, unless --max-run-time says
# Past its run time and stop timeout, Locust gets this long to start, stop its users and write its reports.
LOCUST_MARGIN_S = 120
LOCUST_TERM_S = 30  # after SIGTERM (Locust then writes its reports), before SIGKILL
SHUFFLE = random.SystemRandom()  # start order and ports; the verdict depends on the samples only


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
    if getattr(args, "expect_workers", None):
        cmd += ["--master", "--expect-workers", str(args.expect_workers)]
        cmd += ["--master-bind-host", args.master_bind_host, "--master-bind-port", str(args.master_bind_port)]
        cmd += ["--expect-workers-max-wait", f"{math.ceil(args.workers_timeout)}"]
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
    services_cpus: frozenset[int] | None = None,
) -> backends.Backend:
    log = args.results / f"backend-{name}{log_suffix}.log"
    if args.host:
        return stack.enter_context(backends.running(args.host, args.health_path))
    if args.backend_cmd:
        free = backends.free_port()
        up = backends.command(args.backend_cmd, source, log, env, free, args.health_path, cpus=services_cpus)
        return stack.enter_context(up)
    if args.backend == "compose":
        project = f"perfgate-{name}"
        up = backends.compose(source, project, log, env, port, args.compose_file, args.health_path)
        return stack.enter_context(up)
    return stack.enter_context(backends.embedded(source, log, env, workers=args.workers, cpus=services_cpus))


def trials_of(args: argparse.Namespace, run_time_s: int | None) -> int:
    """How many fresh-start trials: --trials, else one per DEFAULT_TRIAL_S of a
    comparison's run time (their own ratios make its interval from 3 on) and 1
    for a plain run."""
    count = args.trials or (max(1, run_time_s // DEFAULT_TRIAL_S) if args.compare_to and run_time_s else 1)
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


def placement_of(args: argparse.Namespace, err: TextIO) -> cpus.Placement | None:
    """With --compare-to, Locust on CPUs of its own and both backends on the
    rest (--pin-cpus auto), where perf-gate starts the processes itself."""
    compose = args.backend == "compose" and not args.backend_cmd  # Docker's daemon starts those processes
    if args.pin_cpus == "off" or not args.compare_to or compose:
        return None
    placement = cpus.split(args.processes or 1, cpus.available())
    say(err, placement.describe() if placement else "too few CPUs to keep Locust apart from the services")
    return placement


def max_trials(args: argparse.Namespace, count: int, seconds: int) -> int:
    """A comparison's trials go on past `count` until every rule is decided or
    the budget is spent: --max-run-time, else DEFAULT_BUDGET_S (or the run
    time, if longer). A plain run has exactly `count`."""
    if args.shard:  # the merge decides, over every shard's trials
        return count
    if not args.max_run_time:
        return max(count, DEFAULT_BUDGET_S // seconds) if args.compare_to and seconds and count > 1 else count
    if not args.compare_to:
        raise ConfigError("--max-run-time keeps comparing until every rule is decided; it needs --compare-to")
    budget = inputs.run_time_seconds(args.max_run_time)
    if budget < count * seconds:
        raise ConfigError(f"--max-run-time {args.max_run_time}: less than the run time ({count * seconds} s)")
    return max(count, budget // seconds)


def all_decided(
    folders: list[Path], args: argparse.Namespace, check_args: argparse.Namespace, limits, firsts: list[bool] | None
) -> bool:
    """Whether every regression rule is decided (pass or fail) on the trials so far,
    at the sequential run's confidence, or cannot be judged however many trials
    are made (a side whose CPU and memory cannot be read): the look that may
    stop the run."""
    trials.merge(folders, args.results, PREFIX, limits.exclude_ramp_up, firsts)
    try:
        verdict, _ = check_cli.evaluate(check_args)
    except Exception:  # noqa: BLE001 - an unreadable look is no decision: go on loading
        return False
    return decided(verdict)


def decided(verdict: Verdict) -> bool:
    rules = [r for r in verdict.results if r.metric.endswith("_regression")]
    return bool(rules) and all(r.status in (PASS, FAIL) or r.final for r in rules)


def start_order(first: list[str], n: int) -> list[str]:
    """Trial n's start order: `first` for odd trials, reversed for even ones."""
    return list(first) if n % 2 else list(reversed(first))


WAITING = re.compile(r"(\d+) of (\d+) connected")  # Locust's master, while it waits for its workers


def run_locust(
    cmd: list[str], env: Mapping[str, str], setup, run_time_s: float, stop_timeout_s: float, workers_wait_s: float = 0
) -> int:
    """Locust's exit code; past run time + stop timeout + LOCUST_MARGIN_S (a
    LoadTestShape that never ends, a user that ignores its stop), Locust is
    stopped and the run has no verdict. With `workers_wait_s`, Locust is a
    master waiting for workers elsewhere: its output is passed through and
    watched, so that workers that never came are named."""
    bound = run_time_s + stop_timeout_s + LOCUST_MARGIN_S + workers_wait_s
    watch = subprocess.PIPE if workers_wait_s else None
    proc = subprocess.Popen(cmd, env=dict(env), preexec_fn=setup, stderr=watch, text=bool(watch), errors="replace")
    joined: list[str] = []
    copier = None
    if watch:

        def copy() -> None:
            for line in proc.stderr:
                sys.stderr.write(line)
                if match := WAITING.search(line):
                    joined[:] = [f"{match[1]} of {match[2]}"]
                elif "Gave up waiting for workers" in line:
                    joined.append("gave up")

        copier = threading.Thread(target=copy, daemon=True)
        copier.start()
    try:
        code = proc.wait(timeout=bound)
    except subprocess.TimeoutExpired:
        backends.stop(proc, LOCUST_TERM_S)  # SIGTERM first: Locust writes its reports
        raise NoVerdict(
            f"Locust was still running {bound:g} s after it started (run time {run_time_s:g} s + stop timeout "
            f"{stop_timeout_s:g} s + {LOCUST_MARGIN_S} s to start and stop) and was stopped: a load shape or a "
            "user that does not stop at the run time"
        ) from None
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        if copier is not None:
            copier.join(5)
            proc.stderr.close()
    if "gave up" in joined:
        connected = joined[0] if joined[0] != "gave up" else "none"
        raise NoVerdict(
            f"Locust's workers did not all connect within {workers_wait_s:g} s ({connected} connected): start "
            "them with the master's address and port, the same locustfile and the gate's plugin"
        )
    return code


def worker_command(args: argparse.Namespace) -> str:
    """What each worker elsewhere runs, for this trial's master (a worker stops when its master does)."""
    host = "<this machine's address>" if args.master_bind_host in ("*", "0.0.0.0", "::") else args.master_bind_host
    return (
        f"waiting up to {args.workers_timeout:g} s for {args.expect_workers} Locust worker(s); start each with: "
        f"locust --worker --master-host {host} --master-port {args.master_bind_port} -f {args.locustfile},{PLUGIN}"
    )


@dataclass(frozen=True)
class Trial:
    """One fresh start of the backends, loaded for `seconds`."""

    n: int  # from 1
    count: int  # the run's trials at most
    seconds: int
    order: list[str]  # names from the sides, in the order they start
    out: Path  # its results folder


@dataclass
class TrialOutcome:
    notes: list[str]  # what the backends noted for the report
    meters: dict[str, str]  # side -> how its CPU and memory were read ("proc", "cgroup"), or why they were not


def run_trial(
    args: argparse.Namespace,
    env: Mapping[str, str],
    err: TextIO,
    sides: dict[str, tuple[Path, Mapping[str, str]]],
    trial: Trial,
    *,
    exclude_ramp_up: bool,
    placement: cpus.Placement | None = None,
    stop_timeout_s: float = 0.0,
) -> TrialOutcome:
    """Backends started afresh, in the trial's order and on shuffled ports,
    loaded while each side's CPU and memory are read, then torn down."""
    ports = [8000, 8001][: len(trial.order)]
    if trial.count > 1:
        SHUFFLE.shuffle(ports)
    with ExitStack() as stack:
        up = {}
        for name, port in zip(trial.order, ports, strict=True):
            source, side_env = sides[name]
            label = f"{name} ({args.compare_to})" if name == "baseline" else name
            how = f"host {args.host}" if args.host else args.backend_cmd or args.backend
            say(err, f"starting {label} backend ({how})")
            suffix = f"-trial{trial.n}" if trial.count > 1 else ""
            up[name] = start(args, stack, source, name, side_env, port, suffix, placement and placement.services)
        for name, backend in up.items():
            say(err, f"waiting for {backend.url}{backend.health_path} ({name}, up to {args.health_timeout:g}s)")
            backends.wait_healthy(backend, args.health_timeout)
        compare_hosts = ",".join(f"{name}={up[name].url}" for name in sides) if args.compare_to else ""
        run_time = f"{trial.seconds}s" if trial.count > 1 else None
        cmd = locust_command(args, up["candidate"].url, exclude_ramp_up, compare_hosts, trial.out, run_time)
        say(err, "running Locust: " + " ".join(cmd[2:]))
        setup = backends.child_setup(placement and placement.locust)
        meters = {name: b.meter for name in sides if (b := up[name]).meter is not None}
        wait_s = args.workers_timeout if args.expect_workers else 0.0
        if wait_s:
            say(err, worker_command(args))
        with resources.Sampler(trial.out / f"{PREFIX}{resources.SUFFIX}", meters):
            code = run_locust(cmd, env, setup, trial.seconds, stop_timeout_s, wait_s)
        if code != 0:
            raise NoVerdict(f"Locust exited with {code} (it crashed or was misconfigured); see its output above")
        say(err, "tearing the backend down")
    return TrialOutcome(
        notes=[note for backend in up.values() for note in backend.notes],
        meters={name: b.metering() for name, b in up.items()},
    )


def gate(args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    limits = thresholds.load(args.thresholds)  # a bad file fails before anything starts
    cwd = Path.cwd()
    # The same options as the real run, with a placeholder host: checked before any backend starts.
    planned = preflight(locust_command(args, "http://localhost", limits.exclude_ramp_up), env)
    if planned["shape"]:
        say(err, f"Locust: load shape {planned['shape']}, for {planned['run_time_s']} s or until it ends")
    else:
        say(err, f"Locust: {planned['users']} users, {planned['spawn_rate']:g}/s, {planned['run_time_s']} s")
    context.write(
        args.results,
        users=planned["users"],
        spawn_rate=planned["spawn_rate"],
        run_time_s=planned["run_time_s"],
        backend=args.host or ("command" if args.backend_cmd else args.backend),
        candidate=context.commit(cwd, "HEAD"),
        baseline=context.commit(cwd, args.compare_to) if args.compare_to else None,
        shard=f"{args.shard[0]}/{args.shard[1]}" if args.shard else None,
        thresholds_sha256=shards.sha256(args.thresholds),
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
    placement = placement_of(args, err)
    if placement:
        context.update(args.results, placement=placement.describe())
    with ExitStack() as worktree:
        sides = {"candidate": (cwd, candidate_env)}
        if args.compare_to:
            say(err, f"preparing baseline {args.compare_to} in a worktree")
            base_src = worktree.enter_context(baseline_worktree(cwd, args.compare_to, args.results / "baseline-src"))
            sides = {"baseline": (base_src, {**env, **dict(args.baseline_env)}), **sides}
        folders: list[Path] = []
        firsts: list[bool] = []  # per trial of a comparison: the candidate started first
        notes: dict[str, None] = {}  # in order, each once
        metered: dict[str, str] = {}  # per side: how its CPU and memory were read (TrialOutcome.meters)
        # The side started first comes out slower (A/A, 110 trials: by 1-3% in every rule), so trials
        # alternate which side starts first, from a random one: any two trials in a row balance it,
        # and the comparison takes the order's effect out of the trials' spread.
        first = list(sides)
        SHUFFLE.shuffle(first)
        for n in range(1, most + 1):
            folder = trials.folder(args.results, n) if most > 1 else args.results
            folder.mkdir(parents=True, exist_ok=True)
            if most > 1:
                say(
                    err,
                    f"trial {n} of {count}" + (f" (up to {most} until every rule is decided)" if most > count else ""),
                )
            order = start_order(first, n)
            outcome = run_trial(
                args, env, err, sides, Trial(n, most, seconds, order, folder),
                exclude_ramp_up=limits.exclude_ramp_up, placement=placement, stop_timeout_s=planned["stop_timeout_s"],
            )  # fmt: skip
            notes.update(dict.fromkeys(outcome.notes))
            if (now := resources.over_trials(metered, outcome.meters)) != metered:
                metered = now
                context.update(args.results, resources=metered)
            folders.append(folder)
            firsts.append(order[0] == "candidate")
            if n >= count and n < most and all_decided(folders, args, check_args, limits, firsts):
                say(err, f"every rule that trials can decide is decided after {n} trials ({n * seconds} s of load)")
                break
    if notes:
        context.update(args.results, notes=list(notes))
    if args.compare_to:
        context.update(args.results, candidate_first=firsts)
    if len(folders) > 1:
        trials.merge(folders, args.results, PREFIX, limits.exclude_ramp_up, firsts if args.compare_to else None)
        context.update(args.results, trials=len(folders), max_trials=most)
    say(err, f"checking results against {args.thresholds}")
    code = check_cli.run_check(check_args, env, out, err)
    if args.shard and code in (EXIT_FAIL, EXIT_NO_VERDICT) and measured(args.results):
        say(err, f"shard {args.shard[0]}/{args.shard[1]}: its trials are measured; `perf-gate merge` judges them all")
        code = EXIT_PASS
    if args.calibrate:
        try:
            info = results.load_run_info(args.results / f"{PREFIX}_run_info.json")
            noise = calibrate.calibrate(
                samples.load(args.results / f"{PREFIX}_raw.csv"),
                limits,
                info=info,
                readings=args.results / f"{PREFIX}{resources.SUFFIX}",
                reasons=metered,
            )
            calibrate.write(noise, args.results)
            calibrate.markdown(noise, out)
        except (NoVerdict, OSError) as exc:
            err.write(f"Error: calibration not written: {exc}\n")
    say(err, f"reports in {args.results}/: junit.xml, summary.md, verdict.json, report.html, timeline.png")
    return code


def measured(results: Path) -> bool:
    """A shard's own verdict is a look at part of the trials: it ran as it
    should unless its checker found a problem (nothing measured, unreadable
    results) or a configuration error."""
    try:
        verdict = json.loads((results / "verdict.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return not verdict.get("problems") and not verdict.get("configuration_errors")


def merge(argv: list[str], env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    """`perf-gate merge SHARD_RESULTS... --results OUT`: every shard's trials pooled, judged once."""
    folder = results_dir(argv)

    def report(exc: Exception) -> int:
        with contextlib.suppress(ConfigError, OSError):
            prepare_results(folder)
        return check_cli.finish(check_cli.verdict_for(exc, folder), folder, env, out, err)

    # checked before anything is written, a usage error's report included: its reports would replace
    # the shard's, and clearing the folder would delete its trials
    if any(folder.resolve() == shard.resolve() for shard in shards.named_folders(argv)):
        err.write(f"Error: --results {folder} is one of the shards' folders; the merge needs a folder of its own\n")
        return EXIT_USAGE
    try:
        args = shards.build_parser().parse_args(argv)  # --help prints and exits here, touching nothing
    except ConfigError as exc:
        return report(exc)
    try:
        limits = thresholds.load(args.thresholds)
        prepare_results(folder)
        for line in shards.merge(args.shards, folder, args.thresholds, limits.exclude_ramp_up):
            say(err, line)
        check_args = argparse.Namespace(
            results=folder, prefix=PREFIX, thresholds=args.thresholds, fail_on_overload=False, compare=True, looks=(1,)
        )
        say(err, f"checking the merged trials against {args.thresholds}")
        return check_cli.run_check(check_args, env, out, err)
    except Exception as exc:  # noqa: BLE001 - every outcome is reported, never a traceback
        return report(exc)


def _terminate(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt  # unwinds through the ExitStack, so the backend is torn down


def print_schema(out: TextIO) -> int:
    """`perf-gate schema`: the JSON Schema of thresholds.json, for an editor in any repository."""
    json.dump(thresholds.schema(), out, indent=2)
    out.write("\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    env, out, err = os.environ, sys.stdout, sys.stderr
    given = sys.argv[1:] if argv is None else argv
    if given == ["schema"]:
        return print_schema(out)
    if given[:1] == ["merge"]:
        return merge(given[1:], env, out, err)
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
        # torn down: a Ctrl-C more while the reports are written must not cut them short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        verdict = Verdict(problems=["interrupted; backend torn down, no verdict"])
    except Exception as exc:  # noqa: BLE001 - every outcome is reported, never a traceback
        verdict = check_cli.verdict_for(exc, folder)
    return check_cli.finish(verdict, folder, env, out, err)


if __name__ == "__main__":
    sys.exit(main())
