"""Shared dependencies of the routes."""

import asyncio
import time
from typing import Annotated

import asyncpg
from fastapi import Depends, HTTPException, Request

from backend.app.config import Settings, get_settings
from backend.app.db import Database

SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_pool(request: Request) -> asyncpg.Pool:
    db: Database = request.app.state.db
    pool = await db.pool()
    if pool is None:
        raise HTTPException(503, "Database unavailable")
    return pool


PoolDep = Annotated[asyncpg.Pool, Depends(get_pool)]


async def injected_latency(settings: SettingsDep) -> None:
    """The knob that makes the API slower on purpose (for the gate's own tests)."""
    if settings.api_latency_ms > 0:
        await asyncio.sleep(settings.api_latency_ms / 1000)


def spin(microseconds: int) -> None:
    """This much CPU time on the event loop: code that got slower, not a wait
    (the thread's CPU clock, so a busy machine adds wait, not work)."""
    end = time.thread_time() + microseconds / 1e6
    while time.thread_time() < end:
        pass


KEPT: list[bytes] = []  # what `leak` keeps: never freed while the process lives


def leak(size: int) -> None:
    """Memory kept for good, written so that it is resident: a cache that never evicts."""
    if size:
        KEPT.append(b"\x01" * size)
