"""Submit work and poll for its result (asynchronous request-reply)."""

import uuid

from fastapi import APIRouter, Depends, HTTPException, Response

from backend.app.api.deps import PoolDep, SettingsDep, injected_latency
from backend.app.models import FINAL, RequestAccepted, RequestCreate, RequestPublic, Status

router = APIRouter(prefix="/requests", tags=["requests"], dependencies=[Depends(injected_latency)])

INSERT = "INSERT INTO requests (id, params) VALUES ($1, $2) RETURNING id, status, created_at"
SELECT = """SELECT id, status, params, result, error, attempts, created_at, started_at, completed_at
            FROM requests WHERE id = $1"""


@router.post("", status_code=202, response_model=RequestAccepted)
async def create_request(
    body: RequestCreate, pool: PoolDep, settings: SettingsDep, response: Response
) -> RequestAccepted:
    """Accept work; it is stored before this answers, so it cannot be lost."""
    row = await pool.fetchrow(INSERT, uuid.uuid4(), body.params)
    response.headers["Location"] = f"/requests/{row['id']}"
    response.headers["Retry-After"] = str(settings.retry_after_s)
    return RequestAccepted(**dict(row))


@router.get("/{request_id}", response_model=RequestPublic)
async def read_request(
    request_id: uuid.UUID, pool: PoolDep, settings: SettingsDep, response: Response
) -> RequestPublic:
    """Status, timestamps and, once complete, the result."""
    row = await pool.fetchrow(SELECT, request_id)
    if row is None:
        raise HTTPException(404, "Request not found")
    if Status(row["status"]) not in FINAL:
        response.headers["Retry-After"] = str(settings.retry_after_s)
    return RequestPublic(**dict(row))
