"""Liveness that means something: the database answers."""

import asyncio

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from backend.app.db import Database
from backend.app.models import HealthPublic

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(request: Request) -> JSONResponse:
    """200 when the database answers, 503 naming the failing dependency otherwise."""
    db: Database = request.app.state.db
    pool = await db.pool()
    detail = db.last_error or "no connection yet"
    if pool is not None:
        try:
            await asyncio.wait_for(pool.fetchval("SELECT 1"), timeout=2)
            return JSONResponse(HealthPublic(status="ok").model_dump())
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            detail = f"{type(exc).__name__}: {exc}"
    body = HealthPublic(status="unavailable", failing=["database"], detail=detail)
    return JSONResponse(body.model_dump(), status_code=503)
