"""Surviving bad traffic (issue #10): an unexpected error is a JSON 500 that keeps the keep-alive connection, and the
same log line repeated thousands of times is written a handful of times plus one summary."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live import live_server
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from server import logs


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, Capture, FakeClock]]:
    logger = logging.getLogger("liveroom.test.flood")
    capture, clock = Capture(), FakeClock()
    limit = logs.RateLimit(limit=5, window=10.0, clock=clock)
    logger.addHandler(capture)
    logger.addFilter(limit)
    logger.propagate = False
    try:
        yield logger, capture, clock
    finally:
        logger.removeHandler(capture)
        logger.removeFilter(limit)
        logger.propagate = True


def test_ten_thousand_identical_errors_in_a_second_write_five_lines_and_then_one_summary(
    captured: tuple[logging.Logger, Capture, FakeClock],
) -> None:
    logger, capture, clock = captured
    for i in range(10_000):
        clock.now += 0.0001  # all within one second
        try:
            raise ValueError(f"bad order {i}")
        except ValueError:
            logger.exception("order %s failed", i)  # the same template, whatever the order
    assert capture.lines == [f"order {i} failed" for i in range(5)]
    clock.now += 10  # the window rolls: the next line of the logger says what was left out
    logger.error("something else")
    assert capture.lines[5:] == [
        "suppressed 9995 similar messages in 10 s: 'order %s failed' (ValueError)",
        "something else",
    ]


def test_distinct_messages_still_pass_while_one_floods(
    captured: tuple[logging.Logger, Capture, FakeClock],
) -> None:
    logger, capture, _clock = captured
    for _ in range(1000):
        logger.warning("Invalid HTTP request received.")
    logger.warning("the relay fell behind by %d events", 40)
    logger.error("Invalid HTTP request received.", exc_info=RuntimeError("another kind of failure"))
    assert capture.lines == [
        *["Invalid HTTP request received."] * 5,
        "the relay fell behind by 40 events",
        "Invalid HTTP request received.",  # the same words with an exception: another message
    ]


def test_the_app_rate_limits_liveroom_and_uvicorn_error_loggers_once() -> None:
    logging.getLogger("liveroom.test.late")  # a module's logger created before the app starts
    logs.install()
    logs.install()
    for name in ("liveroom", "liveroom.writer", "liveroom.test.late", "uvicorn.error"):
        assert sum(isinstance(f, logs.RateLimit) for f in logging.getLogger(name).filters) == 1, name


async def boom(request: Request) -> Response:
    raise RuntimeError("an unexpected bug in a route")


async def client_port(request: Request) -> Response:
    assert request.client is not None
    return JSONResponse({"port": request.client.port})  # which TCP connection carried this request


async def test_an_unexpected_error_answers_json_500_and_the_keep_alive_connection_serves_the_next_request(
    tmp_path: Path,
) -> None:
    routes = [Route("/test/boom", boom), Route("/test/client-port", client_port)]
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}", extra_routes=routes) as live:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=live.url, limits=limits, timeout=10) as client:
            first = (await client.get("/test/client-port")).json()["port"]
            failed = await client.get("/test/boom")
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/json"
            assert failed.json()["error"] == "internal"
            after = await client.get("/test/client-port")
            assert after.status_code == 200
            assert after.json()["port"] == first  # the same connection: the 500 did not close it


async def test_a_flood_of_malformed_requests_writes_a_handful_of_server_log_lines(tmp_path: Path) -> None:
    capture = Capture()
    server_log = logging.getLogger("uvicorn.error")
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}") as live:
        limit = next(f for f in server_log.filters if isinstance(f, logs.RateLimit))  # the app installed it
        limit.flush()  # a fresh window for this test
        server_log.addHandler(capture)
        try:
            host, port = live.url.removeprefix("http://").split(":")
            for _ in range(200):
                reader, writer = await asyncio.open_connection(host, int(port))
                writer.write(b"NOT HTTP AT ALL\r\n\r\n")
                await writer.drain()
                await reader.read()  # the server answers 400 and closes
                writer.close()
        finally:
            server_log.removeHandler(capture)
    invalid = [line for line in capture.lines if line == "Invalid HTTP request received."]
    assert 1 <= len(invalid) <= 5, capture.lines
