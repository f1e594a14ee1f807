"""GET /ws?topic=T&topic=T2&format=json|html&since=SEQ&token=TOKEN (API.md, "WebSocket").

The handshake is refused (HTTP 403, before any frame) when the Origin is not allowed, the token is not genuine, has
expired or was revoked, or does not open every topic asked for. Accepted, the client gets a snapshot of each topic
first (or the feed items it missed since `since`), then live frames. When its token is revoked later, the socket
is closed with 4401 (by the hub, when the revocation's event reaches this process).

Limits (README, "Security and limits"): beyond `ws_per_token` sockets with one token or `ws_per_address` from one
client address, the socket is accepted and closed at once with 1008 and a reason — a screen sees why, and htmx's
ws extension does not reconnect after 1008 (it would retry forever after a refused handshake, which browsers
report as 1006). Screens send nothing; a socket sending more than `ws_message_budget` messages in
`ws_message_window_s` is closed with 1008 (WebSocket pings and pongs never reach here and do not count).

Memory (bench/memory.py, `ws_kib_per_idle_connection`): an idle screen is a task parked in `receive` for as long
as it is open, with every coroutine frame above it. So `Screens` hands `/ws` straight to the endpoint, past
Starlette's middleware, exception wrappers and router (none of which acts on a WebSocket here: the endpoint
answers its own refusals), and the endpoint reads the query, headers and cookies once, from the scope, into what
it keeps, instead of Starlette's cached parsed copies on the WebSocket object.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import cookie_parser
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from domain.tokens import Claim
from realtime.hub import Format, close_bounded
from realtime.runtime import Realtime, valid_topic
from realtime.wire import Wire

MAX_TOPICS = 16


async def _refuse(websocket: WebSocket) -> None:
    # Closing before accept makes the server answer the handshake with HTTP 403.
    await websocket.close(code=1008)


def _handshake(scope: MutableMapping[str, Any]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The query's pairs and the headers this endpoint reads (origin, host, cookie), straight from the scope."""
    query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
    headers: dict[str, str] = {}
    for name, value in scope.get("headers") or ():
        if name in (b"origin", b"host", b"cookie") and name.decode() not in headers:
            headers[name.decode()] = value.decode("latin-1")
    return query, headers


def _first(query: list[tuple[str, str]], name: str, default: str | None = None) -> str | None:
    return next((value for key, value in query if key == name), default)


async def ws_endpoint(websocket: WebSocket) -> None:
    realtime: Realtime = websocket.app.state.realtime
    query, headers = _handshake(websocket.scope)
    topics = tuple(dict.fromkeys(value for key, value in query if key == "topic"))
    fmt = _first(query, "format", "json")
    since_text = _first(query, "since")
    lang = (_first(query, "lang") or "zh_CN").replace("-", "_")
    token = _first(query, "token") or cookie_parser(headers.get("cookie", "")).get("liveroom_token")
    del query
    if not realtime.origin_allowed(headers.get("origin"), headers.get("host"), websocket.scope.get("scheme", "ws")):
        return await _refuse(websocket)
    del headers
    claim = (await realtime.check(token)).claim
    well_formed = (0 < len(topics) <= MAX_TOPICS and fmt in ("json", "html") and all(map(valid_topic, topics))
                   and (since_text is None or since_text.isdigit()))
    if claim is None or not well_formed:
        return await _refuse(websocket)
    for topic in topics:
        if not await realtime.may_open(claim, topic):
            return await _refuse(websocket)
    address = websocket.client.host if websocket.client else ""
    over = realtime.sockets.enter(token or "", address)
    if over is not None:
        await websocket.accept()
        return await close_bounded(websocket, Wire.of(websocket.scope), 1008, over)
    try:
        await websocket.accept()
        await _serve(realtime, websocket, claim, topics, fmt, since_text, lang)
    finally:
        realtime.sockets.leave(token or "", address)


async def _serve(realtime: Realtime, websocket: WebSocket, claim: Claim, topics: tuple[str, ...], fmt: str | None,
                 since_text: str | None, lang: str) -> None:
    format_: Format = f"html:{'en' if lang.startswith('en') else 'zh_CN'}" if fmt == "html" else "json"
    limits = realtime.screen_limits
    wire = Wire.of(websocket.scope)
    try:
        # The first frames are sent before the screen joins the ticker; a client that takes none of them is
        # given up on after the same bound as one that stops taking live frames.
        subscriber = await asyncio.wait_for(
            realtime.hub.attach(websocket, topics, format_, int(since_text) if since_text else None, wire=wire,
                                auth=(claim.role, claim.subject, claim.issued_us)),
            limits.stall_s,
        )
    except TimeoutError:
        if wire is not None:
            wire.abort()
        return None
    except (WebSocketDisconnect, RuntimeError):  # gone before its snapshots were sent
        return None
    if realtime.revoked_here(claim):  # revoked after the check above, its event applied before we attached
        await realtime.hub.close(subscriber, 4401, "token revoked")
    loop = asyncio.get_running_loop()
    window_start, received = loop.time(), 0
    try:
        while not subscriber.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            now = loop.time()
            if now - window_start >= limits.message_window_s:
                window_start, received = now, 0
            received += 1
            if received > limits.message_budget:
                await realtime.hub.detach(subscriber)
                await close_bounded(websocket, wire, 1008, "screens send no messages")
                break
    except WebSocketDisconnect:
        pass
    finally:
        await realtime.hub.detach(subscriber)


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


class Screens:
    """ASGI: a WebSocket to /ws goes straight to `ws_endpoint`; everything else to `app` (liveroom/app.py puts this
    inside RawSend and Observe, so a screen still has its raw send and its request id)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and _route_path(scope) == "/ws":
            await ws_endpoint(WebSocket(scope, receive, send))
            return
        await self.app(scope, receive, send)


def _route_path(scope: MutableMapping[str, Any]) -> str:
    path, root = str(scope.get("path", "")), str(scope.get("root_path", ""))
    return path[len(root):] if root and path.startswith(root) else path


routes = [WebSocketRoute("/ws", ws_endpoint)]  # what Screens short-cuts; kept for routing by name and other stacks
