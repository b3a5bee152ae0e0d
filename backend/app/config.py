"""Every setting of the backend, read once from the environment.

The slow-down knobs (`API_LATENCY_MS`, `PROCESSING_MS`, `FAILURE_RATIO`) exist
so that the gate's own tests can prove it catches a regression; the defaults
make a fast, healthy backend.
"""

import sys
from functools import lru_cache

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BACKEND_", extra="ignore")

    database_url: str = "postgresql://postgres:postgres@localhost:5432/requests"
    # All connections opened at start: a fresh backend's first burst of requests would otherwise
    # wait for the pool to grow (up to a second on a busy 2-core machine), a cold start that
    # landed in a short run's p95.
    db_pool_min: int = Field(10, ge=1)
    db_pool_max: int = Field(10, ge=1)
    db_connect_timeout_s: float = Field(2.0, gt=0)

    # API
    max_body_bytes: int = Field(64 * 1024, gt=0)
    header_timeout_s: float = Field(10.0, gt=0, description="a request head must arrive within this")
    body_timeout_s: float = Field(10.0, gt=0, description="a request body must arrive within this after its head")
    # Whole milliseconds: uvloop's timers truncate to 1 ms, so 0.5 would silently add nothing.
    api_latency_ms: int = Field(0, ge=0, description="extra latency added to every /requests call")
    # CPU work instead of a sleep: finer than the 1 ms timer, and it queues requests the way slower code does
    post_cpu_us: int = Field(0, ge=0, le=1_000_000, description="CPU-bound work added to every POST /requests")
    get_cpu_us: int = Field(0, ge=0, le=1_000_000, description="CPU-bound work added to every GET /requests/{id}")
    leak_bytes: int = Field(
        0, ge=0, le=1_000_000, description="memory the API keeps for good on every POST /requests (a leak)"
    )
    retry_after_s: int = Field(0, ge=0, description="Retry-After hint sent while a request is not final")

    # request-processor
    processing_ms: float = Field(50.0, ge=0, description="simulated work per request")
    failure_ratio: float = Field(0.0, ge=0, le=1, description="share of requests that end FAILED")
    worker_concurrency: int = Field(32, ge=1, description="requests one worker process works on at once")
    lease_s: float = Field(30.0, gt=0, description="a claim older than this is taken again")
    max_attempts: int = Field(5, ge=1, description="claims after which a request ends FAILED")
    idle_poll_s: float = Field(1.0, gt=0, description="fallback poll when no notification arrives")
    retry_max_s: float = Field(2.0, gt=0, description="cap of the back-off while the database is down")

    @model_validator(mode="after")
    def _lease_outlasts_work(self) -> "Settings":
        if self.lease_s * 1000 <= self.processing_ms:
            raise ValueError("BACKEND_LEASE_S must exceed the processing time, or every request is taken twice")
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()


def describe(exc: ValidationError) -> str:
    """One line per bad variable, named as it is set in the environment."""
    lines = []
    for err in exc.errors():
        if err["loc"]:
            variable = "BACKEND_" + "_".join(map(str, err["loc"])).upper()
            lines.append(f"{variable}={err['input']!r}: {err['msg']}")
        else:  # a check across variables
            lines.append(f"settings: {err['msg']}")
    return "bad backend settings:\n  " + "\n  ".join(lines)


def settings_or_exit() -> Settings:
    """For entry points: a bad environment stops the process with exit 2 and a
    message naming the variable, not a traceback."""
    try:
        return get_settings()
    except ValidationError as exc:
        print(describe(exc), file=sys.stderr)
        raise SystemExit(2) from None
