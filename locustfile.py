"""What users of an asynchronous request-reply backend feel.

A user submits work (`POST /requests`, answered `202`), polls
`GET /requests/{id}` until the work is `COMPLETE`, and records the time from
submitting to seeing it complete as its own Locust entry,
`ASYNC submit-to-complete`, so it lands in the CSV and can be thresholded
like any endpoint. `FAILED`, a submission that was not accepted, or no
completion within `--complete-timeout`, counts as a failure of that entry.

Polls back off geometrically from `--poll-min-ms` to `--poll-max-ms` and each
wait is jittered (x0.5..1.5), so measured completion times are not pinned to
a fixed poll grid. A server's `Retry-After` is honoured as the least wait.

With `--compare-hosts baseline=URL,candidate=URL` each user works against both
backends in turn (random order per iteration), with entries labelled
`[baseline] ...` and `[candidate] ...`: equal load, side by side in time.

Nothing started goes unrecorded: every HTTP call ends within `--http-timeout`,
and Locust's stop timeout (unless one is given) is long enough for a
submission in flight when the run stops to complete or time out. A submission
that Locust kills anyway is a failure, "unfinished at stop", and so is the
HTTP call it was waiting on. The run-info file keeps when the load started,
was fully spawned and stopped, so the checker can look for stalls in between.
"""

import csv
import json
import random
import time

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.user.users import LOCUST_STATE_STOPPING

ASYNC_TYPE = "ASYNC"
ASYNC_NAME = "submit-to-complete"


@events.init_command_line_parser.add_listener
def _(parser, **kw):
    group = parser.add_argument_group("perf gate")
    group.add_argument(
        "--payload-bytes",
        type=int,
        default=64,
        env_var="LOCUST_PAYLOAD_BYTES",
        help="size of the params sent with each request",
    )
    group.add_argument(
        "--complete-timeout",
        type=float,
        default=30.0,
        env_var="LOCUST_COMPLETE_TIMEOUT",
        help="seconds a request may take to complete before it counts as failed",
    )
    group.add_argument(
        "--http-timeout",
        type=float,
        default=10.0,
        env_var="LOCUST_HTTP_TIMEOUT",
        help="seconds one HTTP call may take before it counts as failed",
    )
    group.add_argument("--poll-min-ms", type=float, default=5.0, env_var="LOCUST_POLL_MIN_MS")
    group.add_argument("--poll-max-ms", type=float, default=200.0, env_var="LOCUST_POLL_MAX_MS")
    group.add_argument("--poll-factor", type=float, default=1.25, env_var="LOCUST_POLL_FACTOR")
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


class RawSamples:
    """Every response time, unbucketed (Locust's CSV rounds them), for comparisons and stalls."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["time", "type", "name", "response_time_ms", "ok"])

    def on_request(self, request_type, name, response_time, exception, **kw):
        self.writer.writerow([f"{time.time():.4f}", request_type, name, f"{response_time:.3f}", int(exception is None)])


class Unfinished(Exception):
    """Work still in flight when Locust stopped the user."""


run_info: dict = {"cpu_warning": False, "max_cpu_percent": 0.0, "unfinished_at_stop": 0}


def stop_timeout_for(opts) -> float:
    """Long enough for the slowest submission that may still end on its own:
    polls until --complete-timeout, the last one taking up to --http-timeout."""
    return opts.complete_timeout + opts.http_timeout + 5.0


@events.init.add_listener
def _(environment, **kw):
    opts = environment.parsed_options
    if not opts:
        return
    AsyncRequestUser.network_timeout = AsyncRequestUser.connection_timeout = opts.http_timeout
    if not environment.stop_timeout:
        environment.stop_timeout = stop_timeout_for(opts)
    run_info["stop_timeout_s"] = environment.stop_timeout
    if opts.raw_samples:
        samples = RawSamples(opts.raw_samples)
        environment.events.request.add_listener(samples.on_request)
        environment.events.quitting.add_listener(lambda **_: samples.file.close())


@events.test_start.add_listener
def _(**kw):
    run_info["start_time"] = time.time()


@events.spawning_complete.add_listener
def _(user_count, **kw):
    run_info["spawning_complete_time"] = time.time()
    run_info["users"] = user_count


@events.test_stopping.add_listener
def _(**kw):
    run_info["stop_time"] = time.time()


@events.cpu_warning.add_listener
def _(cpu_usage, **kw):
    run_info["cpu_warning"] = True
    run_info["max_cpu_percent"] = max(run_info["max_cpu_percent"], cpu_usage)


@events.quitting.add_listener
def _(environment, **kw):
    opts = environment.parsed_options
    if opts and opts.run_info:
        with open(opts.run_info, "w") as f:
            json.dump(run_info, f)


def parse_targets(spec: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in spec.split(",") if item.strip()]
    return {label.strip(): url.strip() for label, url in pairs}


class AsyncRequestUser(FastHttpUser):
    # Think time is slept inside the task, not by Locust's wait_time: Locust kills a
    # "waiting" user with a callback that can land after the user has started its next
    # request, which would cut a healthy submission short at the end of every run.
    wait_time = constant(0)
    think_time_s = (0.05, 0.15)

    def on_start(self):
        opts = self.environment.parsed_options
        self.opts = opts
        targets = parse_targets(opts.compare_hosts) if opts and opts.compare_hosts else {}
        timeouts = {"network_timeout": self.network_timeout, "connection_timeout": self.connection_timeout}
        self.sessions = {
            f"[{label}] ": FastHttpSession(url, self.environment.events.request, user=self, **timeouts)
            for label, url in targets.items()
        } or {"": self.client}
        self.in_flight: tuple[str, str, float] | None = None  # method, entry name, start of the HTTP call

    @task
    def submit_and_wait(self):
        gevent.sleep(random.uniform(*self.think_time_s))
        labels = list(self.sessions)
        random.shuffle(labels)
        for label in labels:
            if self._state == LOCUST_STATE_STOPPING:
                return  # the run is over: finish the submission in flight, start no new one
            self.submit_and_wait_on(self.sessions[label], label)

    def submit_and_wait_on(self, client, label: str):
        start = time.perf_counter()
        try:
            outcome = self.submit_and_poll(client, label, start)
        except GreenletExit:
            self.record_unfinished(label, start)
            raise
        except Exception as exc:  # a malformed answer fails this submission, not the simulated user
            outcome = RuntimeError(f"{type(exc).__name__}: {exc}")
        self.fire(ASYNC_TYPE, f"{label}{ASYNC_NAME}", start, outcome)

    def call(self, client, method: str, path: str, name: str, **kw):
        """An HTTP call whose start is remembered, so a kill during it is recorded."""
        self.in_flight = (method, name, time.perf_counter())
        return client.request(method, path, name=name, catch_response=True, **kw)

    def submit_and_poll(self, client, label: str, start: float) -> Exception | None:
        """The submission's outcome: None when COMPLETE, else why it failed."""
        opts = self.opts
        params = {"user": id(self) % 10_000, "data": "x" * opts.payload_bytes}
        with self.call(client, "POST", "/requests", f"{label}/requests", json={"params": params}) as resp:
            self.in_flight = None
            if resp.status_code != 202:
                reason = _http_error(resp, 202)
                resp.failure(reason)
                return RuntimeError(f"not accepted: {reason}")
            try:
                location = resp.headers.get("Location") or f"/requests/{resp.json()['id']}"
            except (ValueError, KeyError, TypeError) as exc:
                return _malformed(resp, exc)
            retry_after = _retry_after(resp.headers.get("Retry-After"))

        wait_ms, status = opts.poll_min_ms, "PENDING"
        while True:
            elapsed = time.perf_counter() - start
            if elapsed > opts.complete_timeout:
                return TimeoutError(f"not COMPLETE within {opts.complete_timeout:g}s (last status {status})")
            pause = max(retry_after, wait_ms / 1000 * random.uniform(0.5, 1.5))
            gevent.sleep(min(pause, max(0.0, opts.complete_timeout - elapsed)))
            with self.call(client, "GET", location, f"{label}/requests/{{id}}") as resp:
                self.in_flight = None
                if resp.status_code != 200:
                    reason = _http_error(resp, 200)
                    resp.failure(reason)
                    return RuntimeError(f"poll: {reason}")
                try:
                    body = resp.json()
                    status = body["status"]
                except (ValueError, KeyError, TypeError) as exc:
                    return _malformed(resp, exc)
                retry_after = _retry_after(resp.headers.get("Retry-After"))
            if status == "COMPLETE":
                return None
            if status == "FAILED":
                return RuntimeError(f"request FAILED: {body.get('error')}")
            wait_ms = min(wait_ms * opts.poll_factor, opts.poll_max_ms)

    def record_unfinished(self, label: str, start: float) -> None:
        run_info["unfinished_at_stop"] += 1
        if self.in_flight:
            method, name, call_start = self.in_flight
            self.fire(method, name, call_start, Unfinished("unfinished at stop: no answer before Locust stopped"))
            self.in_flight = None
        timeout = self.environment.stop_timeout
        reason = f"unfinished at stop: not COMPLETE when Locust stopped the user (stop timeout {timeout:g}s)"
        self.fire(ASYNC_TYPE, f"{label}{ASYNC_NAME}", start, Unfinished(reason))

    def fire(self, request_type: str, name: str, start: float, exception: Exception | None) -> None:
        self.environment.events.request.fire(
            request_type=request_type,
            name=name,
            response_time=(time.perf_counter() - start) * 1000,
            response_length=0,
            exception=exception,
            context={},
        )


def _http_error(resp, expected: int) -> str:
    if not resp.status_code:
        return f"no answer ({type(resp.error).__name__}: {resp.error})"
    return f"expected {expected}, got {resp.status_code}"


def _malformed(resp, exc: Exception) -> Exception:
    """A reply that cannot be read fails its call (an exception inside a
    catch_response block would go unrecorded) and the submission."""
    reason = f"unreadable answer ({type(exc).__name__}: {exc})"
    resp.failure(reason)
    return RuntimeError(reason)


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
