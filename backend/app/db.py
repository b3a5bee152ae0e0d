"""The request table is the queue: one INSERT accepts a request, so nothing
accepted can be lost between a database and a separate broker."""

import asyncio
import json
import logging
import time

import asyncpg

from backend.app.config import Settings

log = logging.getLogger(__name__)

NOTIFY_CHANNEL = "requests_pending"

# Idempotent DDL run under an advisory lock, so an API and workers starting
# together do not race on CREATE ... IF NOT EXISTS.
SCHEMA_LOCK_ID = 7_231_001
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS requests (
    id               uuid PRIMARY KEY,
    status           text NOT NULL DEFAULT 'PENDING'
                     CHECK (status IN ('PENDING', 'PROCESSING', 'COMPLETE', 'FAILED')),
    params           jsonb NOT NULL,
    result           jsonb,
    error            text,
    attempts         integer NOT NULL DEFAULT 0,
    worker_id        text,
    created_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    started_at       timestamptz,
    completed_at     timestamptz,
    lease_expires_at timestamptz
);
CREATE INDEX IF NOT EXISTS requests_open_idx ON requests (created_at)
    WHERE status IN ('PENDING', 'PROCESSING');
CREATE OR REPLACE FUNCTION requests_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{NOTIFY_CHANNEL}', '');
    RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS requests_notify ON requests;
CREATE TRIGGER requests_notify AFTER INSERT ON requests
    FOR EACH STATEMENT EXECUTE FUNCTION requests_notify();
"""


async def ensure_schema(conn: asyncpg.Connection) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", SCHEMA_LOCK_ID)
        await conn.execute(SCHEMA)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def connect(settings: Settings) -> asyncpg.Connection:
    conn = await asyncpg.connect(settings.database_url, timeout=settings.db_connect_timeout_s)
    await _init_connection(conn)
    return conn


async def create_pool(settings: Settings) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        settings.database_url,
        min_size=min(settings.db_pool_min, settings.db_pool_max),
        max_size=settings.db_pool_max,
        timeout=settings.db_connect_timeout_s,
        init=_init_connection,
    )
    async with pool.acquire() as conn:
        await ensure_schema(conn)
    return pool


class Database:
    """A pool made on first use and retried, so the API starts (and answers
    503 on /health) while the database is still down."""

    def __init__(self, settings: Settings, retry_every_s: float = 1.0) -> None:
        self.settings = settings
        self.retry_every_s = retry_every_s
        self._pool: asyncpg.Pool | None = None
        self._lock = asyncio.Lock()
        self._last_attempt = float("-inf")
        self.last_error: str | None = None

    async def pool(self) -> asyncpg.Pool | None:
        if self._pool is not None:
            return self._pool
        async with self._lock:
            now = time.monotonic()
            if self._pool is None and now - self._last_attempt >= self.retry_every_s:
                self._last_attempt = now
                try:
                    self._pool = await create_pool(self.settings)
                    self.last_error = None
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError) as exc:
                    self.last_error = f"{type(exc).__name__}: {exc}"
                    log.warning("database not reachable: %s", self.last_error)
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
