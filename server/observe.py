"""Every HTTP request observed (issue 15): its id (the client's X-Request-ID, validated, or a new one), returned in
the X-Request-ID response header and carried into every log line written for it (server/logs.py), and its latency
in `liveroom_http_request_duration_seconds` by method, the matched route's path template (never the raw path: ids
in paths would make a series each) and status.

A WebSocket connection gets an id for its log lines too; its lifetime is no request latency and is not timed.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from server import logs
from telemetry.metrics import http_seconds

ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]
UNMATCHED = "unmatched"  # the route label of a request no route took (404s of any path: one series)
_HEADER = logs.REQUEST_ID_HEADER.encode()


def _presented(scope: MutableMapping[str, Any]) -> str | None:
    for name, value in scope.get("headers") or ():
        if name == _HEADER:
            return str(value.decode("latin-1"))
    return None


def route_template(scope: MutableMapping[str, Any]) -> str:
    """The path template of the route that took the request (Starlette notes it in the scope), or UNMATCHED."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class Observe:
    """ASGI middleware; liveroom/app.py puts it outside Starlette's error middleware, so a 500 is timed too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        rid = logs.request_id(_presented(scope))
        token = logs.begin_request(rid, scope)
        try:
            if kind == "websocket":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send, rid)
        finally:
            logs.end_request(token)

    async def _http(self, scope: MutableMapping[str, Any], receive: Any, send: Any, rid: str) -> None:
        started = time.perf_counter()
        status = 500
        echoed = rid.encode()

        async def observed(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [*(message.get("headers") or ()), (_HEADER, echoed)]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            http_seconds.get(scope["method"], route_template(scope), str(status)).observe(
                time.perf_counter() - started)
