"""perf-gate's Locust plugin: what the gate needs from any locustfile.

perf-gate loads it beside the user's locustfile (`locust -f
theirs.py,.../perfgate/locust_entry/perfgate_plugin.py`), so the locustfile
needs no change. It adds three options:

- `--raw-samples FILE`: every request's end time, entry, unrounded response
  time and outcome (Locust's CSV rounds percentiles), for the comparison and
  the stall check;
- `--run-info FILE`: when the load started, was fully spawned and stopped, how
  many users, and whether a load-generator process ran out of CPU;
- `--compare-hosts baseline=URL,candidate=URL`: every HttpUser or
  FastHttpUser runs each of its tasks once against each host, in a random
  order per task, with its entries labelled `[baseline] ...` and
  `[candidate] ...`: the same load on both, side by side in time. Any
  other User takes part when it has a `perfgate_client(url)` method that
  returns its client for that host: `self.client` is that client while a
  task runs against the host, and the entries it fires are labelled.

With Locust's `--processes` or `--master`/`--worker`, workers send their
samples and CPU warnings to the master in batches; the master writes the
files. Workers take these options from the master, as Locust passes custom
options on when the load starts. A user's on_start runs against --host only. A locustfile that fires
its own entries (events.request.fire) labels them with `label(user)`.
"""

import csv
import json
import random
import time
from collections.abc import Callable

import gevent
from locust import events
from locust.clients import HttpSession
from locust.contrib.fasthttp import FastHttpSession, FastHttpUser
from locust.runners import MasterRunner, WorkerRunner
from locust.user.task import DefaultTaskSet, TaskSet
from locust.user.users import LOCUST_STATE_STOPPING, HttpUser

COLUMNS = ["time", "type", "name", "response_time_ms", "ok"]
SAMPLES_MESSAGE, CPU_MESSAGE, COUNT_MESSAGE = "perfgate_samples", "perfgate_cpu", "perfgate_count"
FLUSH_S = 1.0

run_info: dict = {"cpu_warning": False, "max_cpu_percent": 0.0, "unfinished_at_stop": 0, "cpu_warnings": {}}
_rows: list[list] = []  # a worker's samples not yet sent to the master
_writer: csv.writer = None  # type: ignore[assignment]
_counts: dict[str, int] = {}


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


def parse_targets(spec: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in spec.split(",") if item.strip()]
    return {label.strip(): url.strip() for label, url in pairs}


def count(key: str, n: int = 1) -> None:
    """A tally for the run info (e.g. the demo's unfinished submissions), summed over every process."""
    _counts[key] = _counts.get(key, 0) + n


def label(user) -> str:
    """The label of the side the user is working against now ('[baseline] '), or ''."""
    return getattr(user, "_perfgate_label", "")


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
    if _counts:
        environment.runner.send_message(COUNT_MESSAGE, {"node": environment.runner.client_id, "counts": _counts})


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
    _pair_tasks()  # a no-op for users without --compare-hosts (a worker learns them at the start)


_worker_counts: dict[str, dict[str, int]] = {}  # each worker's latest tallies (they are cumulative)


def _worker_count(msg, **kw) -> None:
    _worker_counts[msg.data["node"]] = msg.data["counts"]


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
    totals = dict(_counts)
    for counts in _worker_counts.values():
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    info = {**run_info, **totals}
    with open(opts.run_info, "w") as f:
        json.dump(info, f)


# -- side by side: each task once per host, with labelled entries -----------------------


def session_for(user, url: str):
    """A client like the user's own, for another host."""
    if isinstance(user, FastHttpUser):
        return FastHttpSession(
            base_url=url,
            request_event=user.environment.events.request,
            network_timeout=user.network_timeout,
            connection_timeout=user.connection_timeout,
            max_redirects=user.max_redirects,
            max_retries=user.max_retries,
            insecure=user.insecure,
            concurrency=user.concurrency,
            user=user,
            client_pool=user.client_pool,
            ssl_context_factory=user.ssl_context_factory,
            headers=user.default_headers,
            proxy_host=user.proxy_host,
            proxy_port=user.proxy_port,
        )
    session = HttpSession(
        base_url=url, request_event=user.environment.events.request, user=user, pool_manager=user.pool_manager
    )
    session.trust_env = False
    return session


def _labelled(session, prefix: str):
    request = session.request

    def labelled_request(method, url, name=None, **kw):
        return request(method, url, name=prefix + (name if name is not None else url), **kw)

    session.request = labelled_request
    return session


def _sessions(user) -> dict[str, object]:
    """The user's client for each side, labelled; {} for a user the plugin cannot point at a host."""
    if not hasattr(user, "_perfgate_sessions"):
        sessions = {}
        spec = getattr(user.environment.parsed_options, "compare_hosts", "")
        targets = parse_targets(spec) if spec else {}
        if targets and isinstance(user, HttpUser | FastHttpUser):
            sessions = {f"[{name}] ": _labelled(session_for(user, url), f"[{name}] ") for name, url in targets.items()}
        elif targets and callable(getattr(user, "perfgate_client", None)):
            sessions = {f"[{name}] ": user.perfgate_client(url) for name, url in targets.items()}
            _label_events(user.environment)
        user._perfgate_sessions = sessions
    return user._perfgate_sessions


_task_labels: dict = {}  # greenlet -> the side its paired task is working against now


def _label_events(environment) -> None:
    """Entries a client of its own fires (`perfgate_client`) get the side's label
    of the task that fired them: such a client does not know the user it serves."""
    hook = environment.events.request
    if getattr(hook.fire, "_perfgate", False):
        return
    fire = hook.fire

    def labelled_fire(*, reverse=False, **kw):
        side = _task_labels.get(gevent.getcurrent(), "")
        name = kw.get("name")
        if side and isinstance(name, str) and _unlabelled(name):
            kw["name"] = side + name
        return fire(reverse=reverse, **kw)

    labelled_fire._perfgate = True  # type: ignore[attr-defined]
    hook.fire = labelled_fire


def _unlabelled(name: str) -> bool:
    """Whether an entry name carries no side's label yet."""
    return not (name.startswith("[") and "] " in name)


def _paired(execute: Callable) -> Callable:
    def execute_task(self, task):
        user = self.user
        if isinstance(task, type) and issubclass(task, TaskSet):  # its own tasks are paired when they run
            return execute(self, task)
        sessions = _sessions(user)
        if not sessions:
            return execute(self, task)
        own = getattr(user, "client", None)
        sides = list(sessions)
        random.shuffle(sides)
        current = gevent.getcurrent()
        try:
            for side in sides:
                if user._state == LOCUST_STATE_STOPPING:
                    return None  # the run is over: start no new task
                user.client, user._perfgate_label = sessions[side], side
                _task_labels[current] = side
                execute(self, task)
        finally:
            user.client, user._perfgate_label = own, ""
            _task_labels.pop(current, None)
        return None

    execute_task._perfgate = True  # type: ignore[attr-defined]
    return execute_task


def _pair_tasks() -> None:
    for cls in (TaskSet, DefaultTaskSet):
        if not getattr(cls.execute_task, "_perfgate", False):
            cls.execute_task = _paired(cls.execute_task)
