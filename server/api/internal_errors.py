"""An unexpected error answers a 500 in the API's error shape, and the connection lives on.

Starlette's outermost ServerErrorMiddleware answers a plain-text 500 and then re-raises, and uvicorn closes the
connection of any request whose application raised after its response started: every other request waiting on that
keep-alive connection then fails with "connection reset". This middleware sits inside it, around the routes: it logs
the error (rate-limited, server/logs.py) and answers {"error": "internal", "detail": ...} itself, without re-raising,
so the server sees a request that was answered. Only an error after the response has started still propagates (there
is nothing left to answer with).
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

import orjson

from server.api.errors import error_body

log = logging.getLogger("liveroom.http")

Message = MutableMapping[str, Any]


class InternalErrors:
    """Pure ASGI middleware: an exception from an HTTP route becomes a JSON 500 on a connection that stays open."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except Exception as failure:
            if started:
                raise
            log.error("%s %s failed: answered 500", scope.get("method"), _route(scope), exc_info=failure)
            body = orjson.dumps(
                error_body("internal", f"the server failed to answer this request ({type(failure).__name__})")
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})


def _route(scope: MutableMapping[str, Any]) -> str:
    """The route's path template when the router found one (one log template per route, not per order id)."""
    route = scope.get("route")
    return str(getattr(route, "path", None) or scope.get("path", "?"))
