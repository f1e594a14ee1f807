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
"""

from __future__ import annotations

import asyncio

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


async def ws_endpoint(websocket: WebSocket) -> None:
    realtime: Realtime = websocket.app.state.realtime
    query = websocket.query_params
    topics = tuple(dict.fromkeys(query.getlist("topic")))
    fmt = query.get("format", "json")
    since_text = query.get("since")
    token = query.get("token") or websocket.cookies.get("liveroom_token")
    if not realtime.origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"),
                                   websocket.url.scheme):
        return await _refuse(websocket)
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
        await _serve(realtime, websocket, claim, topics, fmt, since_text)
    finally:
        realtime.sockets.leave(token or "", address)


async def _serve(realtime: Realtime, websocket: WebSocket, claim: Claim, topics: tuple[str, ...], fmt: str,
                 since_text: str | None) -> None:
    query = websocket.query_params
    lang = query.get("lang", "zh_CN").replace("-", "_")
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


routes = [WebSocketRoute("/ws", ws_endpoint)]
