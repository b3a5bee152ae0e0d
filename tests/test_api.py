"""The request-api over real HTTP, against the embedded backend (real PostgreSQL)."""

import socket
import time
import uuid

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from backend.app.main import app
from tests.conftest import backend_env


def wait_final(client: httpx.Client, location: str, timeout_s: float = 10) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = client.get(location).json()
        if body["status"] in ("COMPLETE", "FAILED"):
            return body
        time.sleep(0.02)
    raise AssertionError(f"{location} not final after {timeout_s}s: {body}")


def test_submit_poll_complete(live_backend):
    with httpx.Client(base_url=live_backend.url) as client:
        resp = client.post("/requests", json={"params": {"n": 7}})
        assert resp.status_code == 202
        body = resp.json()
        assert body["status"] == "PENDING"
        assert resp.headers["location"] == f"/requests/{body['id']}"
        assert resp.headers["retry-after"].isdigit()

        done = wait_final(client, resp.headers["location"])
        assert done["status"] == "COMPLETE"
        assert done["result"]["echo"] == {"n": 7}
        assert done["attempts"] == 1
        assert done["created_at"] <= done["started_at"] <= done["completed_at"]


def test_health_ok(live_backend):
    resp = httpx.get(f"{live_backend.url}/health")
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"


def test_openapi_schema_served(live_backend):
    paths = httpx.get(f"{live_backend.url}/openapi.json").json()["paths"]
    assert {"/requests", "/requests/{request_id}", "/health"} <= set(paths)


def raw(text: str) -> dict:
    return {"content": text.encode(), "headers": {"content-type": "application/json"}}


BAD_INPUT = [
    (
        "malformed JSON",
        "POST",
        "/requests",
        {"content": b'{"params": ', "headers": {"content-type": "application/json"}},
        422,
    ),
    ("params not an object", "POST", "/requests", {"json": {"params": [1, 2]}}, 422),
    ("params a string", "POST", "/requests", {"json": {"params": "x"}}, 422),
    ("missing params", "POST", "/requests", {"json": {}}, 422),
    ("unknown field", "POST", "/requests", {"json": {"params": {}, "extra": 1}}, 422),
    ("body not an object", "POST", "/requests", {"json": [1]}, 422),
    ("empty body", "POST", "/requests", {"content": b"", "headers": {"content-type": "application/json"}}, 422),
    ("not JSON at all", "POST", "/requests", {"content": b"params=1", "headers": {"content-type": "text/plain"}}, 422),
    ("NUL in a value", "POST", "/requests", {"json": {"params": {"a": "x\u0000y"}}}, 422),
    ("NUL in a key", "POST", "/requests", {"json": {"params": {"\u0000": 1}}}, 422),
    (
        "unpaired surrogate",
        "POST",
        "/requests",
        {"content": b'{"params": {"a": "\\udc15"}}', "headers": {"content-type": "application/json"}},
        422,
    ),
    (
        "nested too deep",
        "POST",
        "/requests",
        {
            "content": b'{"params": {"a": ' + b"[" * 2000 + b"]" * 2000 + b"}}",
            "headers": {"content-type": "application/json"},
        },
        400,
    ),
    ("oversized body", "POST", "/requests", {"json": {"params": {"x": "y" * 10_000}}}, 413),
    *[
        (
            f"params nested {depth} levels",
            "POST",
            "/requests",
            raw('{"params": {"a": ' + "[" * depth + "]" * depth + "}}"),
            422,
        )
        for depth in (65, 256, 500)
    ],
    *[
        (f"number {text}", "POST", "/requests", raw('{"params": {"a": ' + text + "}}"), 422)
        for text in ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1" + "0" * 400)
    ],
    ("unknown id", "GET", f"/requests/{uuid.uuid4()}", {}, 404),
    ("non-UUID id", "GET", "/requests/not-a-uuid", {}, 422),
    ("wrong method", "DELETE", "/requests", {}, 405),
]


@pytest.mark.parametrize("case, method, path, kwargs, expected", BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_input_gets_4xx_json(live_backend, case, method, path, kwargs, expected):
    resp = httpx.request(method, f"{live_backend.url}{path}", **kwargs)
    assert resp.status_code == expected, resp.text
    assert "detail" in resp.json()


def test_oversized_chunked_body_rejected(live_backend):
    def chunks():
        yield b'{"params": {"x": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}}'

    resp = httpx.post(f"{live_backend.url}/requests", content=chunks(), headers={"content-type": "application/json"})
    assert resp.status_code == 413
    assert "detail" in resp.json()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_health_503_names_database_when_it_is_down(procs):
    port = closed_port()
    env = backend_env(f"postgresql://postgres@127.0.0.1:{closed_port()}/none", db_connect_timeout_s=0.5)
    procs.start(["-m", "uvicorn", "backend.app.main:app", "--port", str(port)], env, "api")
    deadline = time.monotonic() + 30
    while True:
        try:
            resp = httpx.get(f"http://127.0.0.1:{port}/health")
            break
        except httpx.TransportError:
            assert time.monotonic() < deadline, "API did not start"
            time.sleep(0.2)
    assert resp.status_code == 503
    assert resp.json()["failing"] == ["database"]
    # the work endpoints say 503 too, never 500
    assert httpx.post(f"http://127.0.0.1:{port}/requests", json={"params": {}}).status_code == 503


# The schema the app itself serves (the same object FastAPI renders at /openapi.json).
fuzzed = schemathesis.openapi.from_dict(app.openapi())


@fuzzed.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_generated_requests_never_get_a_server_error(live_backend, case):
    """Valid and invalid requests generated from the app's own OpenAPI schema
    (schemathesis), sent over real HTTP: whatever arrives, never a 5xx."""
    response = case.call_and_validate(base_url=live_backend.url, checks=[not_a_server_error])
    assert response.status_code < 500


def test_what_is_accepted_can_be_read_back(live_backend):
    """The deepest nesting and the largest numbers still allowed make a round trip."""
    deep: object = 1
    for _ in range(62):
        deep = [deep]
    params = {"deep": deep, "big": 2**1023, "small": -1.7e308, "tiny": 5e-324}
    created = httpx.post(f"{live_backend.url}/requests", json={"params": params})
    assert created.status_code == 202, created.text
    with httpx.Client(base_url=live_backend.url) as client:
        body = wait_final(client, created.headers["Location"])
    assert body["status"] == "COMPLETE" and body["params"]["deep"] == deep
    # jsonb keeps numbers as numeric: -1.7e308 comes back written out in digits, the same number
    assert {k: float(body["params"][k]) for k in ("big", "small", "tiny")} == {
        "big": 2.0**1023,
        "small": -1.7e308,
        "tiny": 5e-324,
    }


def test_the_cpu_knobs_slow_the_calls_they_name(tmp_path):
    """BACKEND_GET_CPU_US: GETs take at least that much CPU time, so at least
    that long; POSTs do not (on a busy machine both take longer)."""
    import os
    import statistics

    from perfgate import backends
    from tests.conftest import ROOT

    env = {**os.environ, "BACKEND_GET_CPU_US": "20000", "BACKEND_PROCESSING_MS": "5"}
    with backends.embedded(ROOT, tmp_path / "backend.log", env) as backend:
        backends.wait_healthy(backend, 60)
        with httpx.Client(base_url=backend.url, timeout=10) as client:
            posts, gets = [], []
            for _ in range(10):
                start = time.perf_counter()
                location = client.post("/requests", json={"params": {}}).headers["Location"]
                posts.append(time.perf_counter() - start)
                start = time.perf_counter()
                client.get(location)
                gets.append(time.perf_counter() - start)
    assert min(gets) >= 0.020 and statistics.median(gets) - statistics.median(posts) >= 0.015, (posts, gets)
