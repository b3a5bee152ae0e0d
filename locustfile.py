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

Run by perf-gate, the gate's Locust plugin (perfgate.locust_plugin) records
raw samples and run info and, with `--compare-hosts`, runs each task against
both backends with entries labelled `[baseline] ...` and `[candidate] ...`;
the submit-to-complete entry this file fires itself takes the same label.

Nothing started goes unrecorded: every HTTP call ends within `--http-timeout`,
and Locust's stop timeout (unless one is given) is long enough for a
submission in flight when the run stops to complete or time out. A submission
that Locust kills anyway is a failure, "unfinished at stop", and so is the
HTTP call it was waiting on; the run info counts them.
"""

import random
import time

import gevent
from gevent import GreenletExit
from locust import FastHttpUser, constant, events, task

from perfgate import locust_plugin

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


class Unfinished(Exception):
    """Work still in flight when Locust stopped the user."""


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


class AsyncRequestUser(FastHttpUser):
    # Think time is slept inside the task, not by Locust's wait_time: Locust kills a
    # "waiting" user with a callback that can land after the user has started its next
    # request, which would cut a healthy submission short at the end of every run.
    wait_time = constant(0)
    think_time_s = (0.05, 0.15)

    def on_start(self):
        self.opts = self.environment.parsed_options
        self.in_flight: tuple[str, str, float] | None = None  # method, entry name, start of the HTTP call

    @task
    def submit_and_wait(self):
        """One submission, against whichever backend the plugin points self.client at."""
        gevent.sleep(random.uniform(*self.think_time_s))
        client, label = self.client, locust_plugin.label(self)
        start = time.perf_counter()
        try:
            outcome = self.submit_and_poll(client, start)
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

    def submit_and_poll(self, client, start: float) -> Exception | None:
        """The submission's outcome: None when COMPLETE, else why it failed."""
        opts = self.opts
        params = {"user": id(self) % 10_000, "data": "x" * opts.payload_bytes}
        with self.call(client, "POST", "/requests", "/requests", json={"params": params}) as resp:
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
            with self.call(client, "GET", location, "/requests/{id}") as resp:
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
        locust_plugin.count("unfinished_at_stop")
        if self.in_flight:
            method, name, call_start = self.in_flight
            reason = "unfinished at stop: no answer before Locust stopped"
            self.fire(method, f"{label}{name}", call_start, Unfinished(reason))
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
