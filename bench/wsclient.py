"""A minimal WebSocket client for holding thousands of connections in one process.

The `websockets` client costs a task, a queue and a parser object per connection and a few coroutine switches per
frame; a benchmark with 5,000 connections and tens of thousands of frames a second would measure that instead of
the server. This one is an `asyncio.Protocol`: the RFC 6455 handshake, then frame headers parsed in place
(server frames are unmasked), pings answered, whole messages counted. Payloads are handed to a callback only
for the few probe connections that need them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

OnMessage = Callable[[bytes, float], None]  # (payload, time.monotonic() on arrival)


@dataclass
class Stats:
    """Counters shared by every connection of a process."""

    frames: int = 0
    payload_bytes: int = 0
    closed: int = 0


def _masked(opcode: int, payload: bytes) -> bytes:
    """A client frame (clients must mask, RFC 6455 §5.3); only short control frames are ever sent."""
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes((0x80 | opcode, 0x80 | len(payload))) + key + body


class WsConnection(asyncio.Protocol):
    __slots__ = ("buffer", "fragments", "handshake", "on_message", "open", "received", "request", "stats",
                 "transport")

    def __init__(self, request: bytes, stats: Stats, on_message: OnMessage | None) -> None:
        self.request = request
        self.stats = stats
        self.on_message = on_message
        self.buffer = bytearray()
        self.fragments: list[bytes] = []
        self.open = False
        self.received = 0  # whole messages on this connection
        self.transport: asyncio.Transport | None = None
        self.handshake: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write(self.request)  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open:
            self.stats.closed += 1
        self.open = False
        if not self.handshake.done():
            self.handshake.set_exception(ConnectionError(f"closed during handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.open:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(self.buffer[9:12])
            if status != b"101":
                if not self.handshake.done():
                    self.handshake.set_exception(ConnectionError(f"handshake answered {status.decode()}"))
                assert self.transport is not None
                self.transport.close()
                return
            del self.buffer[: end + 4]
            self.open = True
            self.handshake.set_result(None)
        self._frames()

    def _frames(self) -> None:
        buffer = self.buffer
        size = len(buffer)
        pos = 0
        stats = self.stats
        while size - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4], "big")
                header = 4
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10], "big")
                header = 10
            if second & 0x80:
                header += 4  # a masked server frame would be a protocol error; skip its key all the same
            end = pos + header + length
            if end > size:
                break
            opcode = first & 0x0F
            if opcode <= 2:  # continuation, text, binary
                stats.payload_bytes += length
                if self.on_message is not None:
                    self.fragments.append(bytes(buffer[pos + header : end]))
                if first & 0x80:
                    stats.frames += 1
                    self.received += 1
                    if self.on_message is not None:
                        payload = b"".join(self.fragments)
                        self.fragments.clear()
                        self.on_message(payload, time.monotonic())
            elif opcode == 9:  # ping: answer with the same payload
                self._write(_masked(0xA, bytes(buffer[pos + header : end])))
            elif opcode == 8:  # close: echo it and let the server drop the TCP connection
                self._write(_masked(0x8, bytes(buffer[pos + header : pos + header + min(length, 2)])))
            pos = end
        if pos:
            del buffer[:pos]

    def _write(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def close(self) -> None:
        """A clean close (status 1000); the server answers and drops the connection."""
        if self.open:
            self._write(_masked(0x8, (1000).to_bytes(2, "big")))
        elif self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()


def handshake_request(host: str, port: int, path: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


def ws_path(topics: Sequence[str], token: str, fmt: str = "json") -> str:
    query = "&".join([*(f"topic={t}" for t in topics), f"token={token}", f"format={fmt}"])
    return f"/ws?{query}"


async def open_connection(host: str, port: int, path: str, stats: Stats, on_message: OnMessage | None = None,
                          timeout: float = 60) -> WsConnection:
    loop = asyncio.get_running_loop()
    request = handshake_request(host, port, path)
    for attempt in range(10):
        try:
            _, connection = await loop.create_connection(
                lambda: WsConnection(request, stats, on_message), host, port
            )
            await asyncio.wait_for(connection.handshake, timeout)
            return connection
        except (ConnectionRefusedError, ConnectionResetError):
            if attempt == 9:
                raise
            await asyncio.sleep(0.1 * (attempt + 1))
    raise AssertionError("unreachable")


async def open_many(host: str, port: int, paths: Sequence[str], stats: Stats, *, concurrency: int = 64,
                    on_message: OnMessage | None = None) -> list[WsConnection]:
    """Open one connection per path, `concurrency` handshakes at a time (a handshake storm is its own test)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(path: str) -> WsConnection:
        async with gate:
            return await open_connection(host, port, path, stats, on_message)

    return list(await asyncio.gather(*(one(p) for p in paths)))


async def close_all(connections: Sequence[WsConnection], grace: float = 2.0) -> None:
    for connection in connections:
        connection.close()
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(c.open for c in connections):
        await asyncio.sleep(0.05)
    for connection in connections:
        with contextlib.suppress(Exception):
            connection.abort()
