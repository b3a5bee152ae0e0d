"""What the API accepts and answers."""

import uuid
from collections.abc import Iterator
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Status(StrEnum):
    PENDING = "PENDING"
    PROCESSING = "PROCESSING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


FINAL = {Status.COMPLETE, Status.FAILED}


class RequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(description="free-form work parameters, echoed in the result")

    @field_validator("params")
    @classmethod
    def storable(cls, params: dict[str, Any]) -> dict[str, Any]:
        """JSON allows strings that PostgreSQL's jsonb refuses (NUL, unpaired
        surrogates); refusing them here makes them a 422, not a failed INSERT."""
        for text in _strings(params):
            if "\x00" in text:
                raise ValueError("strings may not contain the NUL character (\\u0000)")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("strings may not contain unpaired UTF-16 surrogates") from None
        return params


def _strings(value: Any) -> Iterator[str]:
    """Every key and string value in a JSON document, without recursion."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            yield from item.keys()
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


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
