"""What users of an asynchronous request-reply backend feel.

A user submits work (`POST /requests`, answered `202`), polls
`GET /requests/{id}` until the work is `COMPLETE`, and records the time from
submitting to seeing it complete as its own Locust entry,
`ASYNC submit-to-complete`, so it lands in the CSV and can be thresholded
like any endpoint. `FAILED`, or no completion within `--complete-timeout`,
counts as a failure of that entry.

Polls back off geometrically from `--poll-min-ms` to `--poll-max-ms` and each
wait is jittered (x0.5..1.5), so measured completion times are not pinned to
a fixed poll grid. A server's `Retry-After` is honoured as the least wait.

With `--compare-hosts baseline=URL,candidate=URL` each user works against both
backends in turn (random order per iteration), with entries labelled
`[baseline] ...` and `[candidate] ...`: equal load, side by side in time.
"""

import csv
import json
import random
import time

import gevent
from locust import FastHttpUser, between, events, task
from locust.contrib.fasthttp import FastHttpSession

ASYNC_TYPE = "ASYNC"
ASYNC_NAME = "submit-to-complete"
FINAL = {"COMPLETE", "FAILED"}


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
        help="write facts about the load generator (CPU warnings) to this JSON",
    )


class RawSamples:
    """Every response time, unbucketed (Locust's CSV rounds them), for comparisons."""

    def __init__(self, path: str) -> None:
        self.file = open(path, "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["time", "type", "name", "response_time_ms", "ok"])

    def on_request(self, request_type, name, response_time, exception, **kw):
        self.writer.writerow([f"{time.time():.4f}", request_type, name, f"{response_time:.3f}", int(exception is None)])


run_info = {"cpu_warning": False, "max_cpu_percent": 0.0}


@events.init.add_listener
def _(environment, **kw):
    opts = environment.parsed_options
    if opts and opts.raw_samples:
        samples = RawSamples(opts.raw_samples)
        environment.events.request.add_listener(samples.on_request)
        environment.events.quitting.add_listener(lambda **_: samples.file.close())


@events.cpu_warning.add_listener
def _(environment, cpu_usage, **kw):
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
    wait_time = between(0.05, 0.15)

    def on_start(self):
        opts = self.environment.parsed_options
        self.opts = opts
        targets = parse_targets(opts.compare_hosts) if opts and opts.compare_hosts else {}
        self.sessions = {
            f"[{label}] ": FastHttpSession(url, self.environment.events.request, user=self)
            for label, url in targets.items()
        } or {"": self.client}

    @task
    def submit_and_wait(self):
        labels = list(self.sessions)
        random.shuffle(labels)
        for label in labels:
            self.submit_and_wait_on(self.sessions[label], label)

    def submit_and_wait_on(self, client, label: str):
        opts = self.opts
        params = {"user": id(self) % 10_000, "data": "x" * opts.payload_bytes}
        start = time.perf_counter()
        with client.post("/requests", json={"params": params}, name=f"{label}/requests", catch_response=True) as resp:
            if resp.status_code != 202:
                resp.failure(f"expected 202, got {resp.status_code}")
                return
            location = resp.headers.get("Location") or f"/requests/{resp.json()['id']}"
            retry_after = _retry_after(resp.headers.get("Retry-After"))

        wait_ms, status, error = opts.poll_min_ms, "PENDING", None
        while True:
            elapsed = time.perf_counter() - start
            if elapsed > opts.complete_timeout:
                break
            pause = max(retry_after, wait_ms / 1000 * random.uniform(0.5, 1.5))
            gevent.sleep(min(pause, max(0.0, opts.complete_timeout - elapsed)))
            with client.get(location, name=f"{label}/requests/{{id}}", catch_response=True) as resp:
                if resp.status_code != 200:
                    resp.failure(f"expected 200, got {resp.status_code}")
                    error = f"poll answered {resp.status_code}"
                    break
                body = resp.json()
                status, error = body["status"], body.get("error")
                retry_after = _retry_after(resp.headers.get("Retry-After"))
            if status in FINAL:
                break
            wait_ms = min(wait_ms * opts.poll_factor, opts.poll_max_ms)

        total_ms = (time.perf_counter() - start) * 1000
        if status == "COMPLETE":
            exception = None
        elif status == "FAILED":
            exception = RuntimeError(f"request FAILED: {error}")
        elif error:
            exception = RuntimeError(error)
        else:
            exception = TimeoutError(f"not COMPLETE within {opts.complete_timeout:g}s (last status {status})")
        self.environment.events.request.fire(
            request_type=ASYNC_TYPE,
            name=f"{label}{ASYNC_NAME}",
            response_time=total_ms,
            response_length=0,
            exception=exception,
            context={},
        )


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
