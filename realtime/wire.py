"""Encode a frame once, write its bytes to every socket: the hub's fast path under uvicorn's WebSocket protocol.

Server-to-client WebSocket frames are not masked and liveroom turns compression off, so the bytes of a frame are
the same for every client. Sending through `WebSocket.send_text` re-does the framing for each client and walks
Starlette's and uvicorn's send wrappers (~20 µs a frame here); writing the pre-encoded bytes straight to the
connection's transport costs a few microseconds. That is what lets one tick reach thousands of screens.

The fast path is taken only when it is exactly equivalent to `send_text`: uvicorn's sans-I/O `websockets`
protocol, handshake done, connection OPEN, no close sent, the transport not closing and not asking us to pause.
Otherwise (another server, another protocol class, a full socket buffer) `ready` answers False and the caller
uses `send_text`, which waits for room the normal way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.protocol import State

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
SCOPE_KEY = "liveroom.raw_send"


def encode_text(text: str) -> bytes:
    """A final, unmasked, uncompressed text frame: what a server sends for `send_text(text)`."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class RawSend:
    """ASGI middleware that keeps the server's own `send` of a connection in its scope.

    Starlette wraps an HTTP `send` for its exception handling before any middleware of the app sees it, so this
    wraps the whole app (liveroom/app.py's LiveroomApp does). The unwrapped `send` tells which protocol object (and
    transport) carries the connection: for a WebSocket, the hub's fast path; for HTTP, the parser (/healthz)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("websocket", "http"):
            scope[SCOPE_KEY] = send
        await self.app(scope, receive, send)


class Wire:
    """Direct writes to one uvicorn WebSocket connection, when they are equivalent to `send_text`."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: Any) -> None:
        self._protocol = protocol

    @classmethod
    def of(cls, scope: MutableMapping[str, Any]) -> Wire | None:
        protocol = getattr(scope.get(SCOPE_KEY), "__self__", None)
        if not any(base.__name__ == "WebSocketsSansIOProtocol" for base in type(protocol).__mro__) or not all(
            hasattr(protocol, name) for name in ("transport", "conn", "writable", "close_sent", "handshake_complete")
        ):
            return None
        return cls(protocol)

    def ready(self) -> bool:
        """True when a write now is exactly what `send_text` would do: open, and the socket has room."""
        protocol = self._protocol
        return not (
            protocol.close_sent
            or not protocol.handshake_complete
            or protocol.conn.state is not State.OPEN
            or protocol.transport.is_closing()
            or not protocol.writable.is_set()
        )

    def write(self, data: bytes) -> None:
        """Write one or more encoded frames, back to back, in one system call. Only after `ready()` said so."""
        self._protocol.transport.write(data)

    def abort(self) -> None:
        """Drop the connection now, with whatever it still had to send: a client that does not read never
        drains its buffer, so a graceful close would wait forever (and keep the buffer). A no-op once closed."""
        self._protocol.transport.abort()

    def abort_later(self, seconds: float) -> None:
        """Abort unless the connection is gone by then: the bound on a graceful close the client never answers."""
        self._protocol.loop.call_later(seconds, self._protocol.transport.abort)
