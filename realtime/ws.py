"""GET /ws?topic=T&topic=T2&format=json|html&since=SEQ&token=TOKEN (API.md, "WebSocket").

The handshake is refused (HTTP 403, before any frame) when the Origin is not allowed, the token is not genuine, has
expired or was revoked, or does not open every topic asked for. Accepted, the client gets a snapshot of each topic
first (or the feed items it missed since `since`), then live frames. When its token is revoked later, the socket
is closed with 4401 (by the hub, when the revocation's event reaches this process).
"""

from __future__ import annotations

from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from realtime.hub import Format
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
    await websocket.accept()
    lang = query.get("lang", "zh_CN").replace("-", "_")
    format_: Format = f"html:{'en' if lang.startswith('en') else 'zh_CN'}" if fmt == "html" else "json"
    try:
        subscriber = await realtime.hub.attach(websocket, topics, format_, int(since_text) if since_text else None,
                                               wire=Wire.of(websocket.scope),
                                               auth=(claim.role, claim.subject, claim.issued_us))
    except (WebSocketDisconnect, RuntimeError):  # gone before its snapshots were sent
        return None
    if realtime.revoked_here(claim):  # revoked after the check above, its event applied before we attached
        await realtime.hub.close(subscriber, 4401, "token revoked")
    try:
        while not subscriber.closed:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
    except WebSocketDisconnect:
        pass
    finally:
        await realtime.hub.detach(subscriber)


routes = [WebSocketRoute("/ws", ws_endpoint)]
