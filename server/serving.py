"""How liveroom runs uvicorn: one Config, with the limits a server facing the public needs, for `liveroom serve`
and for the tests' servers alike.

uvicorn alone has no request-header timeout, counts no connections per client and, at its concurrency limit,
still accepts and parses every request. So the HTTP protocol here is uvicorn's own h11 protocol with a gate in
front (one per server, shared by its connections):

- a request's headers must be complete within `header_timeout_s` of its first byte (a fresh connection that sends
  nothing gets the same time), and its body within `body_timeout_s` of the headers; trickled bytes do not reset
  either clock. Past it: 408 and the connection is closed.
- at most `max_connections_per_address` HTTP connections from one address and `max_connections` connections in
  all (WebSockets count there too). A connection beyond a cap closes the OLDEST connection that is still waiting
  on its client: first one waiting for its request headers (idle keep-alive included), then one trickling a body.
  A well-behaved newcomer — a `/healthz` probe from the very address that floods — therefore always gets in while
  there is anything to evict; only when every connection is being answered does it get a fast 503.

These are transport-level rules, so they live in the protocol, where every byte and every close is seen before
any request exists: a middleware only sees a request once its headers are complete, too late for a header timeout
and for a cap that must hold before a single byte is parsed.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

try:  # uvicorn's fast parser, when installed (it is a dependency of liveroom; the h11 protocol is the fallback)
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover
    HttpToolsProtocol = None
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from server import logs
from server.lean import LeanEvent, LeanQueue
from server.settings import Settings

log = logging.getLogger("liveroom.serving")

WS_MAX_SIZE = 64 * 1024
FILES_RESERVED = 1024  # file handles kept for the database, logs and refusals in flight (MAX_LINGERING)
LINGER_S = 1.0  # a refused connection is held this long at most, so its client reads the 503 (not a reset)
FRESH_S = 1.0  # a connection this young that has sent nothing may not have been read yet: evicted last
SHUTDOWN_GRACE_S = 5  # on SIGTERM: requests in flight get this long to be answered before the lifespan stops
MAX_LINGERING = 512  # beyond this many refusals in flight, a refused connection is reset at once

_REFUSAL_BODY = b'{"error":"busy","detail":"too many connections: try again shortly"}'
_REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
    b"connection: close\r\ncontent-length: " + str(len(_REFUSAL_BODY)).encode() + b"\r\n\r\n" + _REFUSAL_BODY
)
_TIMEOUT_BODY = b'{"error":"request_timeout","detail":"the request was not received in time"}'
_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: " + str(len(_TIMEOUT_BODY)).encode() + b"\r\n\r\n" + _TIMEOUT_BODY
)

# What an HTTP connection is waiting for. Only the client's side can be evicted: never a request being answered.
NEW, HEAD, BODY, SERVING, GONE = "new", "head", "body", "serving", "gone"


@dataclass(frozen=True)
class Limits:
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 10_000
    max_connections_per_address: int = 256

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(settings.header_timeout_s, settings.body_timeout_s, settings.max_connections,
                   settings.max_connections_per_address)


class Gate:
    """The connections of one server: HTTP ones oldest first (overall and per client address), plus a count of
    the WebSockets they became. Every open, upgrade and close goes through here, so the counts are exact."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.http: dict[Guard, None] = {}
        self.by_address: dict[str, dict[Guard, None]] = {}
        self.websockets = 0
        self.lingering = 0
        self.evicted = 0
        self.refused = 0

    @property
    def total(self) -> int:
        return len(self.http) + self.websockets

    def admit(self, connection: Guard) -> bool:
        """Count a new connection in; evict waiting ones to stay within the caps. False: refuse it (503)."""
        self.http[connection] = None
        peers = self.by_address.setdefault(connection.address, {})
        peers[connection] = None
        while len(peers) > self.limits.max_connections_per_address:
            if not self._evict(peers, connection):
                self.leave(connection)
                return False
        while self.total > self.limits.max_connections:
            if not self._evict(self.http, connection):
                self.leave(connection)
                return False
        return True

    def leave(self, connection: Guard) -> None:
        if connection not in self.http:
            return
        del self.http[connection]
        peers = self.by_address.get(connection.address)
        if peers is not None:
            peers.pop(connection, None)
            if not peers:
                del self.by_address[connection.address]

    def upgraded(self, connection: Guard) -> None:
        self.leave(connection)
        self.websockets += 1

    def websocket_closed(self) -> None:
        self.websockets -= 1

    def _evict(self, pool: dict[Guard, None], newcomer: Guard) -> bool:
        """Close the connection to go first: the oldest one that began a request and has not finished its
        headers, or was opened over FRESH_S ago and sent nothing; else the oldest trickling a body; else the
        oldest just opened. A just-opened connection may simply not have been read yet (a flood of accepts runs
        ahead of the reads): it goes last, so the probe that arrives in the middle of a flood is not its victim."""
        stale_before = newcomer.loop.time() - FRESH_S
        body = fresh = None
        for connection in pool:
            if connection is newcomer:
                continue
            phase = connection.phase
            if phase == HEAD or (phase == NEW and connection.opened_at < stale_before):
                victim = connection
                break
            if phase == BODY and body is None:
                body = connection
            elif phase == NEW and fresh is None:
                fresh = connection
        else:
            victim = body or fresh
        if victim is None:
            return False
        self.leave(victim)
        self.evicted += 1
        victim.evict()
        return True


class Guard:
    """What the HTTP protocols below add to uvicorn's: the header and body timeouts and the caps of `Gate`.

    A mixin placed before uvicorn's protocol class: each hook does its part, then calls uvicorn's."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    client: tuple[str, int] | None
    cycle: Any

    gate: Gate  # set on the subclass `protocols()` makes for one server
    address = ""
    phase = NEW
    opened_at = 0.0
    _timer: asyncio.TimerHandle | None = None
    _lingering = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self.address = self.client[0] if self.client else ""
        self.opened_at = self.loop.time()
        if not self.gate.admit(self):
            self._refuse()
            return
        # A connection that never sends a byte is cut like one that trickles its headers.
        self._arm(self.gate.limits.header_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._lingering:
            self._lingering = False
            self.gate.lingering -= 1
        if self.phase != GONE:
            self.phase = GONE
            self.gate.leave(self)
        super().connection_lost(exc)  # type: ignore[misc]

    def data_received(self, data: bytes) -> None:
        if self.phase == GONE:  # refused or cut: what the client still sends is read and dropped
            return
        if self.phase == NEW and data:
            self.phase = HEAD
            self._arm(self.gate.limits.header_timeout_s)  # counted from the request's first byte
        super().data_received(data)  # type: ignore[misc]
        self._follow()

    def handle_websocket_upgrade(self, *event: Any) -> None:
        self._disarm()
        self.phase = GONE
        self.gate.upgraded(self)
        super().handle_websocket_upgrade(*event)  # type: ignore[misc]

    def evict(self) -> None:
        self._disarm()
        self.phase = GONE
        log.debug("evicted a waiting connection from %s", self.address)
        self.transport.abort()

    # --- internals ---------------------------------------------------------------------------------------

    def _follow(self) -> None:
        """After uvicorn handled the bytes received: move the phase along (protocols whose parser has no
        callbacks for it)."""

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        phase, self.phase = self.phase, GONE
        self.gate.leave(self)
        log.debug("closed a connection from %s: request %s not complete in time", self.address, phase)
        if phase == HEAD or (phase == BODY and self.cycle is not None and not self.cycle.response_started):
            self.transport.write(_TIMEOUT)
        self._close_now()

    def _refuse(self) -> None:
        self.phase = GONE
        self.gate.refused += 1
        log.debug("refused a connection from %s: at the connection cap", self.address)
        if self.gate.lingering >= MAX_LINGERING:
            self.transport.abort()
            return
        # Answer at once, stop writing, and read what the client sent until it closes (or LINGER_S): closing
        # with its request unread would reset the connection and could lose the 503 on the way.
        self.gate.lingering += 1
        self._lingering = True
        self.transport.write(_REFUSAL)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._timer = self.loop.call_later(LINGER_S, self._close_now)

    def _close_now(self) -> None:
        self._timer = None
        # close() would wait for a write buffer that a client not reading never drains.
        if self.transport.get_write_buffer_size():
            self.transport.abort()
        else:
            self.transport.close()


class GuardedH11Protocol(Guard, H11Protocol):
    """uvicorn's h11 protocol, guarded: the phase follows h11's view of the client's side."""

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Move the phase along with h11's view of the client's side; each phase has its own clock."""
        if self.phase in (GONE, NEW):
            return
        theirs = self.conn.their_state
        if theirs is h11.SEND_BODY:
            if self.phase != BODY:
                self.phase = BODY
                self._arm(self.gate.limits.body_timeout_s)
        elif theirs is h11.IDLE:
            if self.phase == SERVING:  # answered; keep-alive: uvicorn's own idle timeout runs now
                self._disarm()
                self.phase = NEW
                if self.conn.trailing_data[0]:  # a pipelined request already begun
                    self.phase = HEAD
                    self._arm(self.gate.limits.header_timeout_s)
        elif self.phase != SERVING:
            self._disarm()
            self.phase = SERVING


class GuardedHttpToolsProtocol(Guard, HttpToolsProtocol or H11Protocol):  # type: ignore[misc]
    """uvicorn's httptools protocol, guarded: the phase follows the parser's callbacks."""

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.phase == HEAD:
            self.phase = BODY
            self._arm(self.gate.limits.body_timeout_s)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self.phase in (HEAD, BODY):
            self._disarm()
            self.phase = SERVING

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.phase == SERVING and not self.pipeline and not self.transport.is_closing():
            self.phase = NEW  # keep-alive: uvicorn's own idle timeout runs now


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol (the hub's fast path writes to it), counted out of the gate, and
    light while idle: its message queue and `writable` event are server/lean.py's, and the handshake's request and
    response (headers and all) are let go once the handshake is answered (nothing reads them after it; the ASGI
    scope keeps its own copy of the request's headers)."""

    gate: Gate

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent(set_=True)  # type: ignore[assignment]

    async def send(self, message: Any) -> None:
        await super().send(message)
        if self.handshake_complete and "response" in self.__dict__:
            # websockets' parser keeps the request for the connection's life too (a local of its generator):
            # its headers are emptied in place, the copy the ASGI scope carries is the one still read.
            self.request.headers.clear()
            self.response.headers.clear()
            del self.request, self.response

    def connection_lost(self, exc: Exception | None) -> None:
        self.gate.websocket_closed()
        super().connection_lost(exc)


def protocols(limits: Limits, parser: str = "auto") -> tuple[type[Guard], type[GuardedWebSocketProtocol], Gate]:
    """The HTTP and WebSocket protocol classes of one server, sharing one gate: uvicorn's httptools protocol when
    httptools is installed (several times faster at parsing than h11, the fallback; `parser="h11"` forces it)."""
    gate = Gate(limits)
    use_httptools = HttpToolsProtocol is not None and parser != "h11"
    base = GuardedHttpToolsProtocol if use_httptools else GuardedH11Protocol
    http = type("LiveroomHttpProtocol", (base,), {"gate": gate})
    ws = type("LiveroomWebSocketProtocol", (GuardedWebSocketProtocol,), {"gate": gate})
    return http, ws, gate


def http_parser(send: Any) -> str | None:
    """Which of uvicorn's HTTP implementations carries a request, from the server's own `send` of it (kept in the
    scope by realtime/wire.py's RawSend, liveroom/app.py): "httptools", "h11", or None when it is not uvicorn's."""
    module = type(getattr(send, "__self__", None)).__module__
    if not module.startswith("uvicorn.protocols.http."):
        return None
    return module.rpartition(".")[2].removesuffix("_impl")


def event_loop() -> str:
    """The running event loop's implementation: "uvloop" under `liveroom serve`, "asyncio" without it."""
    return type(asyncio.get_running_loop()).__module__.partition(".")[0]


def raise_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as refused:
            log.warning("could not raise the open-file limit from %s: %s", soft, refused)
    return soft


def fitted(limits: Limits, file_limit: int) -> Limits:
    """The connection cap lowered, if need be, to leave FILES_RESERVED handles under the open-file limit."""
    room = max(16, file_limit - FILES_RESERVED)
    if limits.max_connections <= room:
        return limits
    log.warning("max connections lowered from %s to %s to fit the open-file limit %s",
                limits.max_connections, room, file_limit)
    return Limits(limits.header_timeout_s, limits.body_timeout_s, room,
                  min(limits.max_connections_per_address, room))


def server_config(app: Any, settings: Settings, *, host: str, port: int, log_level: str = "info",
                  lifespan: str = "auto", limits: Limits | None = None, parser: str = "auto",
                  log_config: dict[str, Any] | None = None) -> uvicorn.Config:
    """The uvicorn Config liveroom runs with; the gate it uses is `config.liveroom_gate`. `log_config`: how
    logging is set up (`serve` passes server/logs.py's; None keeps uvicorn's, as the in-process test servers do)."""
    http, ws, gate = protocols(limits or Limits.of(settings), parser)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        lifespan=lifespan,  # type: ignore[arg-type]
        access_log=False,
        http=http,
        ws=ws,  # the sans-I/O protocol: realtime/wire.py writes pre-encoded frames to its transport
        ws_per_message_deflate=False,  # one encoding of a frame serves every screen
        ws_max_size=WS_MAX_SIZE,
        # A client that never reads keeps its connection's close waiting on a full buffer: stopping the server
        # does not wait for such connections longer than this (then the lifespan's stop: well within 10 s).
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        loop="auto",  # uvloop when installed (a dependency of liveroom), for `serve`; tests run in their own loop
        **({"log_config": log_config} if log_config is not None else {}),
    )
    config.liveroom_gate = gate  # type: ignore[attr-defined]
    return config


class _Server(uvicorn.Server):
    """uvicorn's Server, telling `on_ready` once it listens (a `--workers` supervisor waits for that before it
    stops the worker a new one replaces, liveroom/workers.py)."""

    on_ready: Callable[[], None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and self.on_ready is not None:
            self.on_ready()


def serve(app: Any, settings: Settings, *, host: str, port: int, log_level: str = "info",
          sockets: list[socket.socket] | None = None, on_ready: Callable[[], None] | None = None) -> None:
    """`liveroom serve`: raise the file limit, fit the connection cap under it, run uvicorn until stopped.

    `sockets`: listen on these (a `--workers` supervisor's shared socket) instead of binding host:port.
    SIGTERM or SIGINT: uvicorn stops accepting, closes idle connections, lets requests in flight be answered
    (the writer keeps committing until the lifespan ends), closes every WebSocket with 1012 (service restart),
    then the lifespan stops the writer after its last batch. Requests get SHUTDOWN_GRACE_S; the whole stop stays
    well within the 10 s a supervisor (liveroom/workers.py, systemd's TimeoutStopSec) allows."""
    file_limit = raise_file_limit()
    limits = fitted(Limits.of(settings), file_limit)
    config = server_config(app, settings, host=host, port=port, log_level=log_level, limits=limits,
                           log_config=logs.config(logs.log_format(), log_level))
    # uvicorn's Config has set up logging by now: this line shows at the `info` level, like uvicorn's own.
    logging.getLogger("uvicorn.error").info("open-file limit %s; at most %s connections, %s per address",
                                            file_limit, limits.max_connections, limits.max_connections_per_address)
    server = _Server(config)
    server.on_ready = on_ready
    server.run(sockets=sockets)
