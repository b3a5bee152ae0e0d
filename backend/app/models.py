"""What the API accepts and answers."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Status(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


FINAL = {Status.COMPLETE, Status.FAILED}


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(description="free-form work parameters, echoed in the result")


class RequestAccepted(BaseModel):
    id: uuid.UUID
    status: Status
    created_at: datetime


class RequestPublic(BaseModel):
    id: uuid.UUID
    status: Status
    params: dict[str, Any]
    result: dict[str, Any] | None = None
    error: str | None = None
    attempts: int
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None


class HealthPublic(BaseModel):
    status: str
    failing: list[str] = []
    detail: str | None = None
