"""The request-api: the FastAPI app and its routers."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from backend.app.api import health, requests
from backend.app.config import get_settings
from backend.app.db import Database
from backend.app.limits import BodySizeLimit


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.db = Database(get_settings())
    await app.state.db.pool()  # connect early; /health reports if this failed
    yield
    await app.state.db.close()


app = FastAPI(title="request-api", summary="Asynchronous request-reply backend", lifespan=lifespan)
app.include_router(requests.router)
app.include_router(health.router)
app.add_middleware(BodySizeLimit, max_bytes=get_settings().max_body_bytes)


@app.exception_handler(asyncpg.PostgresError)
@app.exception_handler(asyncpg.InterfaceError)
@app.exception_handler(OSError)
async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that fails mid-request is a 503 the client can retry, never a 500."""
    return JSONResponse({"detail": "Database unavailable"}, status_code=503, headers={"Retry-After": "1"})
