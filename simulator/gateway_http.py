"""A small HTTP/1.1 server on the standard library's asyncio streams, for the test carrier gateway.

It keeps connections alive (as the carriers' gateways do, and as httpx's pool expects), reads bodies by
Content-Length, and lets its handler drop a connection without an answer (a lost answer). Nothing else: it
serves one loopback port for tests and the demo, never the internet.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

MAX_BODY = 1 << 20
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 411: "Length Required",
           413: "Payload Too Large", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
           504: "Gateway Timeout"}


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def form(self) -> dict[str, str]:
        """The urlencoded form (the last value of a repeated field), decoded as UTF-8."""
        return dict(parse_qsl(self.body.decode("utf-8", "replace"), keep_blank_values=True))


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json; charset=utf-8"


Handler = Callable[[Request], Awaitable[Reply | None]]  # None: drop the connection without an answer


@dataclass
class HttpServer:
    handler: Handler
    host: str = "127.0.0.1"
    port: int = 0
    _server: asyncio.base_events.Server | None = None
    _connections: set[asyncio.Task[None]] = field(default_factory=set)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read(reader)
                if request is None:
                    return
                if isinstance(request, Reply):
                    await _write(writer, request, keep_alive=False)
                    return
                reply = await self.handler(request)
                if reply is None:  # the answer is lost: the connection goes down without one
                    writer.transport.abort()
                    return
                keep_alive = request.headers.get("connection", "").lower() != "close"
                await _write(writer, reply, keep_alive)
                if not keep_alive:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()


async def _read(reader: asyncio.StreamReader) -> Request | Reply | None:
    line = await reader.readline()
    if not line.strip():
        return None
    parts = line.decode("latin-1").split()
    if len(parts) != 3:
        return Reply(400, b"bad request line", "text/plain")
    method, target, _version = parts
    headers: dict[str, str] = {}
    while True:
        raw = await reader.readline()
        if raw in (b"\r\n", b"\n", b""):
            break
        name, _, value = raw.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Reply(411, b"send a Content-Length", "text/plain")
    length = int(headers.get("content-length") or 0)
    if length > MAX_BODY:
        return Reply(413, b"body too large", "text/plain")
    body = await reader.readexactly(length) if length else b""
    return Request(method.upper(), urlsplit(target).path, headers, body)


async def _write(writer: asyncio.StreamWriter, reply: Reply, keep_alive: bool) -> None:
    head = (
        f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}\r\n"
        f"Content-Type: {reply.content_type}\r\n"
        f"Content-Length: {len(reply.body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + reply.body)
    await writer.drain()
