"""perf-gate's Locust plugin: what the gate needs from any locustfile.

perf-gate loads it beside the user's locustfile (`locust -f
theirs.py,.../perfgate/locust_entry/perfgate_plugin.py`), so the locustfile
needs no change. It adds three options:

- `--raw-samples FILE`: every request's end time, entry, unrounded response
  time and outcome (Locust's CSV rounds percentiles), for the comparison and
  the stall check;
- `--run-info FILE`: when the load started, was fully spawned and stopped, how
  many users, whether a load-generator process ran out of CPU, which users
  could not run side by side and which hosts were not compared;
- `--compare-hosts baseline=URL,candidate=URL`: every user works against each
  host with a user object of its own, each task once per host, with its
  entries labelled `[baseline] ...` and `[candidate] ...` (perfgate.pairing).

With a LoadTestShape, the load stops at `--run-time` (or when the shape ends,
if sooner), as it does without one.

With Locust's `--processes` or `--master`/`--worker`, workers send their
samples, tallies and CPU warnings to the master in batches; the master writes
the files. Workers take these options from the master, as Locust passes custom
options on when the load starts. A locustfile that fires its own entries
(events.request.fire) labels them with `label(user)`.
"""

import csv
import json
import time

import gevent
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from perfgate import pairing

COLUMNS = ["time", "type", "name", "response_time_ms", "ok"]
SAMPLES_MESSAGE, CPU_MESSAGE, COUNT_MESSAGE = "perfgate_samples", "perfgate_cpu", "perfgate_count"
FLUSH_S = 1.0

run_info: dict = {"cpu_warning": False, "max_cpu_percent": 0.0, "unfinished_at_stop": 0, "cpu_warnings": {}}
_rows: list[list] = []  # a worker's samples not yet sent to the master
_writer: csv.writer = None  # type: ignore[assignment]
_counts: dict[str, int] = {}
_not_compared_counts: dict[str, int] = {}  # host -> requests a side-by-side user sent there, not compared


@events.init_command_line_parser.add_listener
def _options(parser, **kw) -> None:
    group = parser.add_argument_group("perf gate")
    group.add_argument(
        "--compare-hosts",
        default="",
        env_var="LOCUST_COMPARE_HOSTS",
        help="label=URL,label=URL: load several backends side by side",
    )
    group.add_argument(
        "--raw-samples",
        default="",
        env_var="LOCUST_RAW_SAMPLES",
        help="write every sample (time, entry, response time) to this CSV",
    )
    group.add_argument(
        "--run-info",
        default="",
        env_var="LOCUST_RUN_INFO",
        help="write facts about the run (start, stop, CPU warnings) to this JSON",
    )


def _add(tallies: dict[str, int], key: str, n: int = 1) -> None:
    tallies[key] = tallies.get(key, 0) + n


def count(key: str, n: int = 1) -> None:
    """A tally for the run info (e.g. the demo's unfinished submissions), summed over every process."""
    _add(_counts, key, n)


def label(user) -> str:
    """The label of the side this user works against ('[baseline] '), or ''."""
    return user.__dict__.get(pairing.LABEL, "") or pairing.current_label()


# -- raw samples: written where they happen, or sent by workers to the master ----------


def _write_rows(rows: list[list], node: str) -> None:
    """Rows into the file, counted per process (the run info shows that every process contributed)."""
    if _writer is not None:
        _writer.writerows(rows)
    per_process = run_info.setdefault("samples_per_process", {})
    per_process[node] = per_process.get(node, 0) + len(rows)


def _worker_samples(msg, **kw) -> None:
    _write_rows(msg.data["rows"], msg.data["node"])


def _on_request(request_type, name, response_time, exception, **kw) -> None:
    row = [f"{time.time():.4f}", request_type, name, f"{response_time:.3f}", int(exception is None)]
    if _writer is not None:
        _write_rows([row], "local")
    else:
        _rows.append(row)


def _flush(environment) -> None:
    """A worker's pending samples and tallies to the master."""
    global _rows
    rows, _rows = _rows, []
    if rows:
        environment.runner.send_message(SAMPLES_MESSAGE, {"node": environment.runner.client_id, "rows": rows})
    if _counts or _not_compared_counts:
        tallies = {"node": environment.runner.client_id, "counts": _counts, "not_compared": _not_compared_counts}
        environment.runner.send_message(COUNT_MESSAGE, tallies)


def _flusher(environment) -> None:
    while True:
        gevent.sleep(FLUSH_S)
        _flush(environment)


@events.init.add_listener
def _init(environment, **kw) -> None:
    global _writer
    opts = environment.parsed_options
    if not opts:
        return
    runner = environment.runner
    if isinstance(runner, WorkerRunner):
        # A worker learns the master's options only when the load starts: it always sends its samples.
        environment.events.request.add_listener(_on_request)
        gevent.spawn(_flusher, environment)
        environment.events.test_stop.add_listener(lambda **_: _flush(environment))
        environment.events.cpu_warning.add_listener(
            lambda cpu_usage, **_: runner.send_message(CPU_MESSAGE, {"node": runner.client_id, "cpu": cpu_usage})
        )
    else:
        if opts.raw_samples:
            f = open(opts.raw_samples, "w", newline="")  # noqa: SIM115 - open for the whole run
            _writer = csv.writer(f)
            _writer.writerow(COLUMNS)
            environment.events.quitting.add_listener(lambda **_: f.close())
            if isinstance(runner, MasterRunner):
                runner.register_message(
                    SAMPLES_MESSAGE, lambda msg, **_: _write_rows(msg.data["rows"], msg.data["node"])
                )
            else:
                environment.events.request.add_listener(_on_request)
        if isinstance(runner, MasterRunner):
            runner.register_message(CPU_MESSAGE, lambda msg, **_: _cpu_warning(msg.data["cpu"], msg.data["node"]))
            runner.register_message(COUNT_MESSAGE, _worker_count)
        else:
            environment.events.cpu_warning.add_listener(lambda cpu_usage, **_: _cpu_warning(cpu_usage, "local"))
    pairing.install(_sides_of, _not_compared)  # users pair only with --compare-hosts (a worker learns it at the start)
    if environment.shape_class is not None and not isinstance(runner, WorkerRunner):
        _bound_shape(environment)


_worker_counts: dict[str, dict] = {}  # each worker's latest tallies (they are cumulative)


def _worker_count(msg, **kw) -> None:
    _worker_counts[msg.data["node"]] = msg.data


def _cpu_warning(cpu: float, node: str) -> None:
    run_info["cpu_warning"] = True
    run_info["max_cpu_percent"] = max(run_info["max_cpu_percent"], cpu)
    run_info["cpu_warnings"][node] = max(run_info["cpu_warnings"].get(node, 0.0), cpu)


@events.test_start.add_listener
def _started(environment, **kw) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        run_info["start_time"] = time.time()
        run_info["stop_timeout_s"] = environment.stop_timeout


@events.spawning_complete.add_listener
def _spawned(environment=None, user_count=None, **kw) -> None:
    if environment is not None and isinstance(environment.runner, WorkerRunner):
        return
    run_info["spawning_complete_time"] = time.time()
    run_info["users"] = user_count


@events.test_stopping.add_listener
def _stopping(environment, **kw) -> None:
    if not isinstance(environment.runner, WorkerRunner):
        run_info["stop_time"] = time.time()


@events.quitting.add_listener
def _quitting(environment, **kw) -> None:
    opts = environment.parsed_options
    if not opts or not opts.run_info or isinstance(environment.runner, WorkerRunner):
        return
    totals, hosts = dict(_counts), dict(_not_compared_counts)
    for tallies in _worker_counts.values():
        for into, sent in ((totals, tallies.get("counts", {})), (hosts, tallies.get("not_compared", {}))):
            for key, n in sent.items():
                _add(into, key, n)
    info = {**run_info, **totals}
    if opts.compare_hosts:
        info["unpaired_users"] = _unpaired(environment)
        info["not_compared_hosts"] = hosts
    with open(opts.run_info, "w") as f:
        json.dump(info, f)


# -- side by side: a user per side (perfgate.pairing) -------------------------------------


def _sides_of(user) -> list[pairing.Side]:
    spec = getattr(user.environment.parsed_options, "compare_hosts", "")
    return pairing.parse_targets(spec) if spec else []


def _not_compared(origin: str) -> None:
    _add(_not_compared_counts, origin)


def _unpaired(environment) -> dict[str, str]:
    """The user classes that cannot run side by side, with the reason."""
    reasons = {cls.__name__: pairing.unpairable_reason(cls) for cls in environment.user_classes}
    return {name: reason for name, reason in sorted(reasons.items()) if reason}


# -- every run ends: a LoadTestShape stops at the run time --------------------------------


def _bound_shape(environment) -> None:
    """Locust runs a shape until its tick() returns None and ignores
    --run-time; the gate's run time bounds it like any run."""
    run_time = getattr(environment.parsed_options, "run_time", None)
    shape = environment.shape_class
    if not run_time or getattr(shape.tick, "_perfgate", False):
        return
    tick = shape.tick

    def bounded_tick():
        return None if shape.get_run_time() >= run_time else tick()

    bounded_tick._perfgate = True  # type: ignore[attr-defined]
    shape.tick = bounded_tick
    run_info["shape"] = type(shape).__name__
