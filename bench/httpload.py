"""A raw asyncio HTTP/1.1 keep-alive client: one `asyncio.Protocol` per connection, one request in flight on it.

Much lighter than httpx (no per-request objects beyond a future and two byte strings), so that one client
process can push a Python server to its limit. It speaks exactly what the benchmarks need: requests with a
Content-Length body, responses with a Content-Length (Starlette always sends one).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class HttpConnection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"connection lost: {exc}"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(buffer[:end]).lower()
        start = head.find(b"\r\ncontent-length:")
        length = 0
        if start >= 0:
            stop = head.find(b"\r\n", start + 2)
            length = int(head[start + 17 : stop if stop >= 0 else None])
        total = end + 4 + length
        if len(buffer) < total:
            return
        status = int(head[9:12])
        body = bytes(buffer[end + 4 : total])
        del buffer[:total]
        waiter.set_result((status, body))

    @property
    def alive(self) -> bool:
        return self.transport is not None and not self.transport.is_closing() and not self.lost.done()

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        assert self.transport is not None
        if self.transport.is_closing():
            raise ConnectionError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def connect(host: str, port: int) -> HttpConnection:
    loop = asyncio.get_running_loop()
    for attempt in range(20):
        try:
            _, protocol = await loop.create_connection(HttpConnection, host, port)
            return protocol
        except OSError:
            if attempt == 19:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable")


def post_request(host: str, port: int, path: str, body: bytes, api_key: str | None = None) -> bytes:
    auth = f"Authorization: Bearer {api_key}\r\n" if api_key else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Tally:
    """Responses by status inside the measured window, and a few bodies of the unexpected ones."""

    statuses: Counter[int] = field(default_factory=Counter)
    samples: dict[int, str] = field(default_factory=dict)
    errors: int = 0

    def add(self, status: int, body: bytes) -> None:
        self.statuses[status] += 1
        if status >= 300 and status not in self.samples:
            self.samples[status] = body[:300].decode(errors="replace")

    def as_dict(self) -> dict[str, Any]:
        return {"statuses": dict(self.statuses), "samples": self.samples, "errors": self.errors}


async def closed_loop(
    connection: HttpConnection,
    make_request: Callable[[], bytes],
    tally: Tally,
    measure_from: float,
    stop_at: float,
) -> None:
    """Send, wait for the answer, send the next — until `stop_at`. Answers completed in the window count."""
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        if now >= stop_at:
            return
        try:
            status, body = await connection.request(make_request())
        except ConnectionError:
            tally.errors += 1
            return
        done = loop.time()
        if measure_from <= done < stop_at:
            tally.add(status, body)
