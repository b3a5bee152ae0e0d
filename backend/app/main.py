"""The request-api: the FastAPI app and its routers."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from backend.app.api import health, requests
from backend.app.config import get_settings, settings_or_exit
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
app.add_middleware(BodySizeLimit, max_bytes=settings_or_exit().max_body_bytes)


@app.exception_handler(asyncpg.PostgresError)
@app.exception_handler(asyncpg.InterfaceError)
@app.exception_handler(asyncpg.InternalClientError)
@app.exception_handler(OSError)
async def database_error(request: Request, exc: Exception) -> JSONResponse:
    """A database that fails mid-request is a 503 the client can retry, never a 500."""
    return JSONResponse({"detail": "Database unavailable"}, status_code=503, headers={"Retry-After": "1"})


@app.exception_handler(RequestValidationError)
async def validation_error(request: Request, exc: RequestValidationError) -> Response:
    """FastAPI's 422 body, but ASCII-escaped: the echoed input may hold unpaired
    surrogates, which cannot be encoded as UTF-8 and would turn the 422 into a 500."""
    try:
        body = json.dumps({"detail": jsonable_encoder(exc.errors())}, ensure_ascii=True, allow_nan=False)
    except (ValueError, RecursionError):  # an echoed input with NaN, or nested too deep to encode
        errors = [{k: v for k, v in error.items() if k not in ("input", "ctx")} for error in exc.errors()]
        body = json.dumps({"detail": jsonable_encoder(errors)}, ensure_ascii=True)
    return Response(body, status_code=422, media_type="application/json")
