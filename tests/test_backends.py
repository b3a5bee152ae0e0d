"""Backend lifecycles that need no load: compose commands (with a stand-in
`docker` CLI, since no Docker engine runs here) and the health wait."""

import json
import os
import re
import stat
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from perfgate import backends, compose
from perfgate.errors import ConfigError, NoVerdict

FAKE_DOCKER = """#!/bin/sh
echo "$@" >> "$DOCKER_CALLS"
case "$*" in
  *" up "*) echo "up with COMPOSE_FILE=$COMPOSE_FILE PERF_GATE_PORT=$PERF_GATE_PORT" >> "$DOCKER_CALLS.env"
            echo "Building request-api"
            [ -n "$DOCKER_UP_ERROR" ] && echo "$DOCKER_UP_ERROR"
            exit "${DOCKER_UP_EXIT:-0}" ;;
  *" logs "*) echo "request-api | boom" ;;
  *" down "*) n=$(grep -c " down " "$DOCKER_CALLS"); [ "$n" -le "${DOCKER_DOWN_FAILS:-0}" ] && exit 1 ;;
  "ps -a "*) n=$(grep -c " down " "$DOCKER_CALLS"); [ "$n" -le "${DOCKER_DOWN_LEAVES:-0}" ] && echo p_db_1 ;;
  "ps -q "*) [ -n "$DOCKER_INSPECT" ] && echo c1 c2 ;;
  "inspect "*) printf '%s' "$DOCKER_INSPECT" ;;
esac
exit 0
"""


@pytest.fixture
def fake_docker(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IEXEC)
    calls = tmp_path / "calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CALLS", str(calls))
    return calls


def compose_calls(calls) -> list[str]:
    return [line for line in calls.read_text().splitlines() if line.startswith("compose ")]


def test_compose_up_wait_then_logs_and_down_always(tmp_path, fake_docker, capsys):
    log = tmp_path / "backend.log"
    with backends.compose(tmp_path, "perfgate-candidate", log, dict(os.environ), port=8001) as backend:
        assert backend.url == "http://localhost:8001"
    assert compose_calls(fake_docker) == [
        "compose -p perfgate-candidate up -d --build --wait",
        "compose -p perfgate-candidate logs --no-color",
        "compose -p perfgate-candidate down -v --remove-orphans",
    ]
    assert "boom" in log.read_text()
    # what was left is looked for after down; compose's own output goes to stderr, never into the report on stdout
    assert "ps -a --filter label=com.docker.compose.project=perfgate-candidate --format {{.Names}}" in (
        fake_docker.read_text()
    )
    captured = capsys.readouterr()
    assert "Building request-api" in captured.err and captured.out == ""


def test_compose_up_failure_is_no_verdict_with_compose_error_and_logs(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("DOCKER_UP_EXIT", "1")
    monkeypatch.setenv("DOCKER_UP_ERROR", "ERROR: Bind for 0.0.0.0:8000 failed: port is already allocated")
    with pytest.raises(NoVerdict) as raised:
        with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
            pass
    first, *rest = str(raised.value).splitlines()
    assert first == "docker compose up failed (1): ERROR: Bind for 0.0.0.0:8000 failed: port is already allocated"
    assert "Building request-api" in rest and "request-api | boom" in rest
    assert compose_calls(fake_docker) == [
        "compose -p p up -d --build --wait",
        "compose -p p logs --no-color",
        "compose -p p down -v --remove-orphans",
    ]
    assert (tmp_path / "b.log").read_text().count("boom") == 1


def test_compose_v1_refusing_start_interval_says_what_it_needs(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("DOCKER_UP_EXIT", "1")
    monkeypatch.setenv(
        "DOCKER_UP_ERROR",
        "The Compose file is invalid because:\n"
        "services.db.healthcheck value 'start_interval' does not match any of the regexes: '^x-'",
    )
    with pytest.raises(NoVerdict) as raised:
        with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
            pass
    first = str(raised.value).splitlines()[0]
    assert first.startswith("docker compose up failed (1): services.db.healthcheck value 'start_interval'")
    assert first.endswith(
        "(healthcheck start_interval needs compose v2 (`docker compose`) and Docker Engine 25 or "
        "later; this is docker-compose v1, which does not know it)"
    )


def test_compose_saves_logs_and_tears_down_when_the_load_run_fails(tmp_path, fake_docker):
    with pytest.raises(NoVerdict, match="locust crashed"):
        with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
            raise NoVerdict("locust crashed")
    assert compose_calls(fake_docker)[-2:] == [
        "compose -p p logs --no-color",
        "compose -p p down -v --remove-orphans",
    ]
    assert "boom" in (tmp_path / "b.log").read_text()


def test_compose_down_is_retried_until_nothing_is_left(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("DOCKER_DOWN_FAILS", "1")  # the first down fails
    monkeypatch.setenv("DOCKER_DOWN_LEAVES", "2")  # and the second leaves a container behind
    monkeypatch.setattr("perfgate.compose.time.sleep", lambda s: None)
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
        pass
    assert compose_calls(fake_docker).count("compose -p p down -v --remove-orphans") == 3


def test_a_failing_down_with_nothing_left_is_done(tmp_path, fake_docker, monkeypatch):
    """Compose v1 refuses to read a file it cannot parse, for `down` as for `up`:
    Docker itself lists nothing of the project, so nothing is left behind."""
    monkeypatch.setenv("DOCKER_DOWN_FAILS", "99")
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
        pass
    assert compose_calls(fake_docker).count("compose -p p down -v --remove-orphans") == 1


def test_compose_down_that_leaves_something_is_no_verdict_naming_it(tmp_path, fake_docker, monkeypatch):
    monkeypatch.setenv("DOCKER_DOWN_LEAVES", "99")
    monkeypatch.setattr("perfgate.compose.time.sleep", lambda s: None)
    with pytest.raises(NoVerdict, match=r"(?s)locust crashed.*down left behind, after 3 tries: container p_db_1"):
        with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
            raise NoVerdict("locust crashed")
    assert compose_calls(fake_docker).count("compose -p p down -v --remove-orphans") == 3


def inspected(service: str, check: dict | None) -> dict:
    """A container as `docker inspect` describes it (the fields read)."""
    labels = {"com.docker.compose.service": service}
    return {"Id": f"{service}-id", "Name": f"/p-{service}-1", "Config": {"Labels": labels, "Healthcheck": check}}


def test_compose_notes_health_checks_that_run_during_the_load(tmp_path, fake_docker, monkeypatch):
    second = 1_000_000_000
    containers = [
        inspected("db", {"Test": ["CMD-SHELL", "pg_isready"], "Interval": 2 * second, "Retries": 30}),
        inspected("api", {"Test": ["CMD", "true"], "Interval": 60 * second, "StartInterval": second}),
        inspected("worker", {"Test": ["NONE"], "Interval": 2 * second}),  # disabled, the image's interval kept
        inspected("cache", {"Test": ["CMD", "true"]}),  # Docker's default interval, 30 s
        inspected("plain", None),
        {"Name": "/odd", "Config": {"Healthcheck": {"Test": ["CMD", "true"], "Interval": "2s"}}},
    ]
    monkeypatch.setenv("DOCKER_INSPECT", json.dumps(containers))
    checks = compose.health_checks(compose.inspect(tmp_path, dict(os.environ), "p"))
    assert checks == [
        compose.HealthCheck("api", 60.0, 1.0),
        compose.HealthCheck("cache", 30.0, None),
        compose.HealthCheck("db", 2.0, None),
    ]
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)) as backend:
        assert len(backend.notes) == 1
        assert backend.notes[0].startswith("compose service 'db' checks its health every 2s while the load runs")
        assert "start_interval" in backend.notes[0]
    assert "ps -q --filter label=com.docker.compose.project=p" in fake_docker.read_text()


@pytest.mark.parametrize("answer", ["", "not json", '{"Config": {}}', '[1, "x", {"Config": null}]'])
def test_compose_health_checks_docker_cannot_describe_are_no_note(tmp_path, fake_docker, monkeypatch, answer):
    monkeypatch.setenv("DOCKER_INSPECT", answer)
    containers = compose.inspect(tmp_path, dict(os.environ), "p")
    assert compose.health_checks(containers) == []
    assert compose.container_pids(containers) == {}
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)) as backend:
        assert backend.notes == []
        assert backend.meter is None and "inspect named no running container" in backend.unmetered


def test_compose_meters_the_containers_docker_inspect_names(tmp_path, fake_docker, monkeypatch):
    """One `docker inspect` gives both the health checks and the main processes whose cgroups are read."""
    containers = [
        {**inspected("db", None), "State": {"Pid": os.getpid()}},
        {**inspected("api", None), "State": {"Pid": 0}},  # not running
        {**inspected("odd", None), "State": {"Pid": "12"}},
        {"State": {"Pid": 13}},  # no ID to find its cgroup by
    ]
    monkeypatch.setenv("DOCKER_INSPECT", json.dumps(containers))
    assert compose.container_pids(compose.inspect(tmp_path, dict(os.environ), "p")) == {"db-id": os.getpid()}
    fake_docker.write_text("")
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ)):
        pass
    assert fake_docker.read_text().count("inspect c1 c2") == 1


def test_compose_without_docker(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(NoVerdict, match="docker is not installed"):
        with backends.compose(tmp_path, "p", tmp_path / "b.log", {}):
            pass


def serve(status: int):
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append(self.path)
            body = b'{"status": "unavailable", "failing": ["database"]}'
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    server.asked = asked  # the paths requested, in order
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_wait_healthy_returns_on_the_first_200_of_health():
    server = serve(200)
    try:
        started = time.monotonic()
        backends.wait_healthy(backends.Backend(f"http://127.0.0.1:{server.server_port}"), timeout_s=5)
        took = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert server.asked == ["/health"]  # asked the health endpoint once, then stopped polling
    assert took < 5  # returned on the answer, not at the time-out


def test_wait_healthy_stops_at_once_when_the_backend_process_has_exited(tmp_path):
    log = tmp_path / "backend.log"
    log.write_text("bad backend settings:\n  BACKEND_API_LATENCY_MS='0.5': Input should be a valid integer\n")
    started = time.monotonic()
    with pytest.raises(NoVerdict, match=r"(?s)exited with 2 before it was healthy.*BACKEND_API_LATENCY_MS='0.5'"):
        backends.wait_healthy(backends.Backend("http://127.0.0.1:9", log, exit_code=lambda: 2), timeout_s=30)
    assert time.monotonic() - started < 5


def test_wait_healthy_times_out_naming_the_last_answer_and_the_log(tmp_path):
    server = serve(503)
    log = tmp_path / "backend.log"
    log.write_text("line 1\nFATAL: database down\n")
    try:
        with pytest.raises(
            NoVerdict, match=r"(?s)not healthy after 0.5s \(last: HTTP 503: .*database.*FATAL: database down"
        ):
            backends.wait_healthy(backends.Backend(f"http://127.0.0.1:{server.server_port}", log), timeout_s=0.5)
    finally:
        server.shutdown()
        server.server_close()


def test_a_command_backend_serves_then_its_whole_process_group_is_stopped(tmp_path):
    """`sh -c` leaves a server as its child: the teardown must reach it too."""
    import psutil

    port = backends.free_port()
    template = f"sh -c '{sys.executable} -m http.server {{port}} --bind 127.0.0.1 & wait'"
    log = tmp_path / "service.log"
    with backends.command(template, tmp_path, log, dict(os.environ), port, health_path="/") as backend:
        backends.wait_healthy(backend, timeout_s=20)
        group = [p for p in psutil.process_iter(["cmdline"]) if "http.server" in " ".join(p.info["cmdline"] or [])]
        assert backend.url == f"http://127.0.0.1:{port}" and group
    gone, alive = psutil.wait_procs(group, timeout=10)
    assert alive == []


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("gunicorn app:app", "expected a {port} placeholder"),
        ("serve --port {port} 'unclosed", "No closing quotation"),
        ("{port}x", None),
    ],
)
def test_command_lines_are_checked(template, why):
    if why is None:
        assert backends.command_args(template, 9000) == ["9000x"]
        return
    with pytest.raises(ConfigError, match=re.escape(why)):
        backends.command_args(template, 9000)


def test_a_command_that_cannot_start_is_no_verdict(tmp_path):
    with pytest.raises(NoVerdict, match="cannot start 'no-such-server-here'"):
        with backends.command("no-such-server-here --port {port}", tmp_path, tmp_path / "l.log", {}, 9):
            pass


def test_any_compose_file_gets_its_file_and_port_through_compose_s_environment(tmp_path, fake_docker):
    with backends.compose(tmp_path, "p", tmp_path / "b.log", dict(os.environ), 8123, "deploy/perf.yml", "/ready") as b:
        assert (b.url, b.health_path) == ("http://localhost:8123", "/ready")
    env_seen = (tmp_path / "calls.env").read_text().splitlines()
    assert env_seen == ["up with COMPOSE_FILE=deploy/perf.yml PERF_GATE_PORT=8123"]


# A service that daemonizes a worker (double fork and setsid, as pg_ctl does with PostgreSQL):
# the worker burns a known amount of CPU, then waits to be stopped.
DAEMONIZES = """
import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        end = time.process_time() + 0.4
        while time.process_time() < end:
            pass
        open(sys.argv[1], "w").write(str(os.getpid()))
        time.sleep(60)
    os._exit(0)
os.wait()
time.sleep(60)
"""


def test_a_command_backend_s_meter_counts_what_it_daemonized(tmp_path):
    """The service's root is made a subreaper: an orphaned daemon is adopted
    by it, not by init, so the side's CPU includes the daemon's."""
    import psutil

    script, ready = tmp_path / "service.py", tmp_path / "daemon.pid"
    script.write_text(DAEMONIZES)
    template = f"{sys.executable} {script} {ready} {{port}}"
    with backends.command(template, tmp_path, tmp_path / "log", dict(os.environ), backends.free_port()) as backend:
        deadline = time.monotonic() + 20
        while not ready.exists() or not ready.read_text():
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.05)
        daemon = psutil.Process(int(ready.read_text()))
        assert daemon.ppid() == backend.meter.root.pid  # adopted by the service, not by init
        reading = backend.meter.read()
        assert backend.meter.method == "proc" and reading.cpu_s >= 0.4 * 0.95 and reading.memory_bytes > 1_000_000
    assert not daemon.is_running() or daemon.status() == psutil.STATUS_ZOMBIE


def test_a_host_the_gate_did_not_start_has_no_meter_and_says_why():
    with backends.running("http://example.invalid") as backend:
        assert backend.meter is None and "--host" in backend.unmetered
        assert backend.metering() == "unavailable: " + backend.unmetered


class Blind:
    """A meter whose reads showed it misses the service."""

    method = "proc"

    def __init__(self, misses: str | None):
        self.why = misses

    def misses(self) -> str | None:
        return self.why


def test_a_backend_names_its_method_or_why_it_was_not_read():
    assert backends.Backend("http://x", meter=Blind(None)).metering() == "proc"
    assert backends.Backend("http://x", meter=Blind("a container")).metering() == "unavailable: a container"
