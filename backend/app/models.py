"""What the API accepts and answers."""

import math
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
        """Refuse here, as a 422, what could be accepted but not stored or read
        back: strings jsonb refuses (NUL, unpaired surrogates), numbers JSON
        cannot carry (NaN, Infinity, 1e400 read as infinity, integers beyond a
        double), and nesting deeper than the answer can be serialized."""
        for value, depth in _values(params):
            if depth > MAX_DEPTH:
                raise ValueError(f"params may be nested at most {MAX_DEPTH} levels deep")
            if isinstance(value, str):
                if "\x00" in value:
                    raise ValueError("strings may not contain the NUL character (\\u0000)")
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise ValueError("strings may not contain unpaired UTF-16 surrogates") from None
            elif isinstance(value, float) and not math.isfinite(value):
                raise ValueError("numbers must be finite (no NaN, Infinity or values beyond ±1.8e308)")
            elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MAX_INT:
                raise ValueError("integers must be below ±1.8e308 in size")
        return params


MAX_DEPTH = 64
MAX_INT = 2**1024  # what a double can carry


def _values(document: Any) -> Iterator[tuple[Any, int]]:
    """Every key and value in a JSON document with its depth, without recursion."""
    stack = [(document, 1)]
    while stack:
        item, depth = stack.pop()
        yield item, depth
        if isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((value, depth + 1) for value in item.values())
        elif isinstance(item, list):
            stack.extend((value, depth + 1) for value in item)


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
