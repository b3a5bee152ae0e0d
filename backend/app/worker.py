"""The request-processor: takes pending requests from PostgreSQL and works on them.

Claims use `FOR UPDATE SKIP LOCKED`, so any number of workers (and tasks in
one worker) never take the same request at once. Each claim carries a lease:
work held by a worker that died is taken again once the lease expires.
"""

import asyncio
import logging
import os
import random
import signal
import socket
import uuid
from typing import Any

import asyncpg

from backend.app.config import Settings, settings_or_exit
from backend.app.db import NOTIFY_CHANNEL, connect, create_pool

log = logging.getLogger("request-processor")
LISTEN_CHECK_S = 1.0  # how often an idle worker makes sure its LISTEN connection is alive
RETRY_FIRST_S = 0.2  # the first wait after a database error; doubled up to BACKEND_RETRY_MAX_S

CLAIM = """
UPDATE requests
SET status = 'PROCESSING', attempts = attempts + 1, worker_id = $1,
    started_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + make_interval(secs => $2)
WHERE id IN (
    SELECT id FROM requests
    WHERE status = 'PENDING'
       OR (status = 'PROCESSING' AND lease_expires_at < clock_timestamp() AND attempts < $3)
    ORDER BY created_at
    LIMIT $4
    FOR UPDATE SKIP LOCKED)
RETURNING id, params, attempts
"""
# A request whose lease expired max_attempts times is a poison pill: end it.
ABANDON = """
UPDATE requests
SET status = 'FAILED', error = 'abandoned after ' || attempts || ' attempts',
    completed_at = clock_timestamp(), lease_expires_at = NULL
WHERE status = 'PROCESSING' AND lease_expires_at < clock_timestamp() AND attempts >= $1
"""
# Guarded by worker_id: a worker whose lease was taken over cannot overwrite.
FINISH = """
UPDATE requests
SET status = $3, result = $4, error = $5, completed_at = clock_timestamp(), lease_expires_at = NULL
WHERE id = $1 AND worker_id = $2 AND status = 'PROCESSING'
"""
RELEASE = """
UPDATE requests SET status = 'PENDING', worker_id = NULL, lease_expires_at = NULL
WHERE id = ANY($1::uuid[]) AND worker_id = $2 AND status = 'PROCESSING'
"""


def do_work(params: dict[str, Any], settings: Settings, rng: random.Random) -> tuple[str, Any, str | None]:
    """The work itself; returns (status, result, error). Failures are the knob's."""
    if rng.random() < settings.failure_ratio:
        return "FAILED", None, "injected failure (BACKEND_FAILURE_RATIO)"
    return "COMPLETE", {"echo": params, "size": len(str(params))}, None


class Worker:
    def __init__(self, settings: Settings, worker_id: str | None = None) -> None:
        self.settings = settings
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = asyncio.Event()
        self.wake = asyncio.Event()
        self.rng = random.Random()
        self.claimed: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.connected = False

    def stop(self) -> None:
        self.stopping.set()
        self.wake.set()

    async def run(self) -> None:
        """Reconnect with capped exponential back-off for as long as the database
        is down. Any error is retried: asyncpg raises more than its documented
        classes on a lost connection (InternalClientError among them), and a
        worker that ends leaves accepted work waiting."""
        delay = RETRY_FIRST_S
        while not self.stopping.is_set():
            self.connected = False
            try:
                await self._serve()
            except Exception as exc:  # noqa: BLE001 - see the docstring
                if self.connected:  # a new outage: start the back-off over
                    delay = RETRY_FIRST_S
                log.warning("database error (%s: %s); retrying in %.1fs", type(exc).__name__, exc, delay)
                try:
                    await asyncio.wait_for(self.stopping.wait(), timeout=delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, self.settings.retry_max_s)

    async def _serve(self) -> None:
        s = self.settings
        listener = await connect(s)
        pool = await create_pool(s.model_copy(update={"db_pool_max": max(2, s.worker_concurrency // 4 + 1)}))
        try:
            await listener.add_listener(NOTIFY_CHANNEL, lambda *_: self.wake.set())
            listener.add_termination_listener(lambda *_: self.wake.set())
            self.connected = True
            log.info("worker %s ready (concurrency %d)", self.worker_id, s.worker_concurrency)
            while not self.stopping.is_set():
                if listener.is_closed():  # else wake-ups stop and every request waits for the idle poll
                    raise ConnectionError("the LISTEN connection was lost")
                free = s.worker_concurrency - len(self.claimed)
                if free <= 0:
                    await asyncio.wait(list(self.claimed.values()), return_when=asyncio.FIRST_COMPLETED)
                    continue
                self.wake.clear()
                await pool.execute(ABANDON, s.max_attempts)
                rows = await pool.fetch(CLAIM, self.worker_id, s.lease_s, s.max_attempts, free)
                for row in rows:
                    task = asyncio.create_task(self._process(pool, row))
                    self.claimed[row["id"]] = task
                    task.add_done_callback(lambda _t, key=row["id"]: self.claimed.pop(key, None))
                if len(rows) < free:
                    try:
                        await asyncio.wait_for(self.wake.wait(), timeout=min(s.idle_poll_s, LISTEN_CHECK_S))
                    except TimeoutError:
                        pass
            await self._drain(pool)
        finally:
            await pool.close()
            await listener.close()

    async def _process(self, pool: asyncpg.Pool, row: asyncpg.Record) -> None:
        await asyncio.sleep(self.settings.processing_ms / 1000)
        status, result, error = do_work(row["params"], self.settings, self.rng)
        try:
            await pool.execute(FINISH, row["id"], self.worker_id, status, result, error)
        except Exception as exc:  # noqa: BLE001 - the lease hands the request to a worker again
            log.warning(
                "could not store request %s (%s: %s); it is taken again when its lease expires",
                row["id"],
                type(exc).__name__,
                exc,
            )

    async def _drain(self, pool: asyncpg.Pool, grace_s: float = 5.0) -> None:
        """On shutdown finish what is in hand, and hand back what is not, at once."""
        if self.claimed:
            await asyncio.wait(list(self.claimed.values()), timeout=grace_s)
        left = list(self.claimed)
        for task in self.claimed.values():
            task.cancel()
        if left:
            await pool.execute(RELEASE, left, self.worker_id)
            log.info("released %d unfinished requests", len(left))


async def main() -> None:
    worker = Worker(settings_or_exit())
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, worker.stop)
    await worker.run()


if __name__ == "__main__":
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(name)s %(message)s")
    asyncio.run(main())
