"""What one client, or a crowd on one address, may hold of the server (README, "Security and limits"): request
headers and bodies arrive in time or the connection is cut; past the per-address cap the oldest connection still
waiting on its client makes room; past the global cap a newcomer gets a fast 503; the file limit is raised at start.

Real servers (server/serving.py's configuration, in this event loop or as `liveroom serve`) and raw sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import LiveServer, live_server, serve_process, watch
from seed import API_KEY


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'limits.db'}"


# Both HTTP protocols liveroom can run: httptools' (the default when installed) and h11's (the fallback).
parsers = pytest.mark.parametrize("parser", ["auto", "h11"])


async def _connect(live: LiveServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = live.url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    """Send `data` one byte at a time (each byte once: the loop is bounded by its length)."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)


async def _until_closed(reader: asyncio.StreamReader, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails if it is still open after `within` s."""
    try:
        return await asyncio.wait_for(reader.read(), within)
    except ConnectionResetError:
        return b""


async def _until(predicate: Any, what: str, within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {within} s: {what}")


@parsers
async def test_request_headers_trickled_a_byte_at_a_time_are_cut_at_the_header_timeout(
    database: str, parser: str
) -> None:
    async with live_server(database, parser=parser, header_timeout_s=1.0) as live:
        reader, writer = await _connect(live)
        # 60 header bytes at one per 0.1 s take 6 s: every byte arrives well inside any per-byte timeout, but the
        # headers as a whole are not complete within 1 s of the first one.
        head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 60
        trickle = asyncio.create_task(_trickle(writer, head, 0.1))
        answer = await _until_closed(reader, within=4.0)
        trickle.cancel()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        await _until(lambda: not live.gate.http, "the cut connection is no longer counted")


@parsers
async def test_a_connection_that_sends_nothing_is_closed_at_the_header_timeout(
    database: str, parser: str
) -> None:
    async with live_server(database, parser=parser, header_timeout_s=1.0) as live:
        reader, writer = await _connect(live)
        assert await _until_closed(reader, within=4.0) == b""
        writer.close()
        await _until(lambda: not live.gate.http, "the closed connection is no longer counted")


@parsers
async def test_a_request_body_trickled_a_byte_at_a_time_is_cut_at_the_body_timeout(
    database: str, parser: str
) -> None:
    async with live_server(database, parser=parser, body_timeout_s=1.0) as live:
        reader, writer = await _connect(live)
        writer.write(
            b"PUT /api/v1/skus/tea HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + API_KEY.encode() + b"\r\nContent-Length: 200\r\n\r\n"
        )
        trickle = asyncio.create_task(_trickle(writer, b'{"name": "' + b"t" * 150, 0.1))
        answer = await _until_closed(reader, within=4.0)
        trickle.cancel()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 408")
        await _until(lambda: not live.gate.http, "the cut connection is no longer counted")
        # The cut request wrote nothing.
        assert (await live.http.get("/api/v1/skus/tea/stock")).status_code == 404


@parsers
async def test_beyond_the_per_address_cap_the_oldest_half_sent_request_is_dropped_and_healthz_still_answers(
    database: str, parser: str
) -> None:
    async with live_server(database, parser=parser, max_connections_per_address=20) as live:
        half_sent = []
        for _ in range(50):  # 50 half-sent requests from this one address, 20 allowed at once
            reader, writer = await _connect(live)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            await writer.drain()
            half_sent.append((reader, writer))
            await _until(lambda: live.gate.total >= min(len(half_sent), 20), "the connection is counted")
        oldest_reader, _ = half_sent[0]
        newest_reader, _ = half_sent[-1]
        assert await _until_closed(oldest_reader, within=2.0) == b""  # dropped, no answer
        assert len(live.gate.by_address["127.0.0.1"]) <= 20
        async with httpx.AsyncClient(base_url=live.url) as client:
            started = time.monotonic()
            response = await client.get("/healthz")
            assert response.status_code == 200 and time.monotonic() - started < 1.0
        assert not newest_reader.at_eof()  # the newest half-sent request was not the one to go
        for _, writer in half_sent:
            writer.close()
        await _until(lambda: live.gate.total == 0, "every closed connection is counted out")


@parsers
async def test_beyond_the_global_cap_a_new_connection_gets_a_fast_503(database: str, parser: str) -> None:
    async with live_server(database, parser=parser, max_connections=3) as live:
        token = live.token("ops", "-")
        screens = [await watch(live.ws_url, ["ops"], token) for _ in range(3)]
        for screen in screens:
            await screen.wait_for(lambda f: f["kind"] == "snapshot")
        assert live.gate.total == 3
        async with httpx.AsyncClient(base_url=live.url) as client:
            started = time.monotonic()
            response = await client.get("/healthz")
            assert response.status_code == 503 and response.json()["error"] == "busy"
            assert time.monotonic() - started < 1.0
            await screens.pop().close()
            await _until(lambda: live.gate.total < 3, "the closed WebSocket is counted out")
            assert (await client.get("/healthz")).status_code == 200
        for screen in screens:
            await screen.close()
        await _until(lambda: live.gate.total == 0, "every closed connection is counted out")


async def test_serve_raises_its_soft_open_file_limit_to_the_hard_limit(database: str) -> None:
    pids: list[int] = []
    with serve_process(database, soft_file_limit=256, pids=pids):
        limits = Path(f"/proc/{pids[0]}/limits").read_text().splitlines()
    soft, hard = next(line for line in limits if line.startswith("Max open files")).split()[3:5]
    assert soft == hard != "256"
