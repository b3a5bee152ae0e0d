"""Slow clients are cut off; clients that are merely a little slow are served."""

import asyncio
import os
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ROOT

TIMEOUT_S = 2.0
BODY = b'{"params": {"n": 1}}'
HEAD = (
    b"POST /requests HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
)


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    from perfgate import backends

    log = tmp_path_factory.mktemp("backend") / "backend.log"
    env = {**os.environ, "BACKEND_HEADER_TIMEOUT_S": str(TIMEOUT_S), "BACKEND_BODY_TIMEOUT_S": str(TIMEOUT_S)}
    with backends.embedded(ROOT, log, env) as started:
        backends.wait_healthy(started, timeout_s=60)
        yield started


async def slow_client(host: str, port: int, at_once: bytes, trickled: bytes, for_s: float) -> tuple[bytes, float]:
    """Send `at_once`, then `trickled` a byte every half second, and listen until
    the server closes or `for_s` passes: what came back, and after how long the
    connection was closed (inf: still open)."""
    reader, writer = await asyncio.open_connection(host, port)
    start = time.monotonic()
    received = b""

    async def send() -> None:
        writer.write(at_once)
        for byte in trickled:
            await asyncio.sleep(0.5)
            writer.write(bytes([byte]))

    sender = asyncio.create_task(send())
    try:
        while (left := for_s - (time.monotonic() - start)) > 0:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                break
            if not chunk:
                return received, time.monotonic() - start
            received += chunk
        return received, float("inf")
    except ConnectionResetError:
        return received, time.monotonic() - start
    finally:
        sender.cancel()
        writer.close()


def test_slow_heads_bodies_and_silent_connections_are_closed(backend):
    """300 connections that would each take 10 s or more: all get a 408 and are
    closed after the time-out, and the server goes on serving."""
    url = urlsplit(backend.url)
    kinds = {"slow head": (b"", HEAD), "slow body": (HEAD, BODY), "silent": (b"", b"")}

    async def many() -> list[tuple[bytes, float]]:
        clients = [slow_client(url.hostname, url.port, *kind, 5 * TIMEOUT_S) for kind in kinds.values()]
        return await asyncio.gather(*[client for client in clients for _ in range(100)])

    results = asyncio.run(many())
    closed_after = sorted(t for _, t in results)
    assert closed_after[-1] < 2 * TIMEOUT_S and closed_after[0] >= TIMEOUT_S * 0.9, closed_after[::30]
    assert {data[:12] for data, _ in results} == {b"HTTP/1.1 408"}
    assert httpx.post(f"{backend.url}/requests", json={"params": {}}).status_code == 202


def test_a_client_that_is_only_a_little_slow_is_served(backend):
    """Head and body in pieces, each well inside its time-out."""
    url = urlsplit(backend.url)

    async def one() -> bytes:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        for piece in (HEAD[:20], HEAD[20:], BODY[:5], BODY[5:]):
            writer.write(piece)
            await asyncio.sleep(TIMEOUT_S / 3)
        answer = await asyncio.wait_for(reader.read(65536), 5)
        writer.close()
        return answer

    assert asyncio.run(one()).startswith(b"HTTP/1.1 202")


async def response(reader: asyncio.StreamReader) -> bytes:
    """One whole response: its head, then as many body bytes as it announces."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    return head + await reader.readexactly(length)


def test_a_kept_alive_connection_gets_a_new_head_time_out(backend):
    """The second request on a connection is timed from its first byte, not from the connection's start."""
    url = urlsplit(backend.url)

    async def two() -> tuple[bytes, bytes]:
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        writer.write(HEAD + BODY)
        first = await asyncio.wait_for(response(reader), 5)
        await asyncio.sleep(TIMEOUT_S * 0.75)  # inside uvicorn's keep-alive of 5 s
        writer.write(HEAD[:10])
        await asyncio.sleep(TIMEOUT_S * 0.75)  # past the connection's first head time-out, inside this one's
        writer.write(HEAD[10:] + BODY)
        second = await asyncio.wait_for(response(reader), 5)
        writer.close()
        return first, second

    first, second = asyncio.run(two())
    assert first.startswith(b"HTTP/1.1 202") and second.startswith(b"HTTP/1.1 202"), (first[:30], second[:30])
