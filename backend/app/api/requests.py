"""Submit work and poll for its result (asynchronous request-reply)."""

import uuid

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel

from backend.app.api.deps import PoolDep, SettingsDep, injected_latency, leak, spin
from backend.app.models import FINAL, RequestAccepted, RequestCreate, RequestPublic, Status

router = APIRouter(prefix="/requests", tags=["requests"], dependencies=[Depends(injected_latency)])

INSERT = "INSERT INTO requests (id, params) VALUES ($1, $2) RETURNING id, status, created_at"
SELECT = """SELECT id, status, params, result, error, attempts, created_at, started_at, completed_at
            FROM requests WHERE id = $1"""


def json_response(model: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Serialized once by pydantic-core; returning a Response skips FastAPI's
    second validation pass of the response model (the models still document the API)."""
    return Response(model.model_dump_json(), status_code=status_code, headers=headers, media_type="application/json")


@router.post("", status_code=202, response_model=RequestAccepted)
async def create_request(body: RequestCreate, pool: PoolDep, settings: SettingsDep) -> Response:
    """Accept work; it is stored before this answers, so it cannot be lost."""
    spin(settings.post_cpu_us)
    leak(settings.leak_bytes)
    row = await pool.fetchrow(INSERT, uuid.uuid4(), body.params)
    headers = {"Location": f"/requests/{row['id']}", "Retry-After": str(settings.retry_after_s)}
    return json_response(RequestAccepted.model_construct(**{**row, "status": Status(row["status"])}), 202, headers)


@router.get("/{request_id}", response_model=RequestPublic, responses={404: {"description": "Request not found"}})
async def read_request(request_id: uuid.UUID, pool: PoolDep, settings: SettingsDep) -> Response:
    """Status, timestamps and, once complete, the result."""
    spin(settings.get_cpu_us)
    row = await pool.fetchrow(SELECT, request_id)
    if row is None:
        raise HTTPException(404, "Request not found")
    status = Status(row["status"])
    headers = None if status in FINAL else {"Retry-After": str(settings.retry_after_s)}
    return json_response(RequestPublic.model_construct(**{**row, "status": status}), headers=headers)
