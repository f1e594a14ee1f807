"""Operations on demand: `POST /api/v1/admin/settle` runs the scheduler's job now (API.md)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import Body, When, ctx, parse, read_body, require_api_key
from server.api.errors import json_response
from server.services.settlement import settle_all


class SettleBody(Body):
    as_of: When | None = None


async def _optional_body(request: Request) -> SettleBody:
    """The body may be left out entirely (settle as of now); when present it is parsed like any other."""
    raw = await read_body(request, ctx(request).settings.max_body_bytes)
    if not raw.strip():
        return SettleBody()

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return await parse(Request(request.scope, replay), SettleBody)


async def settle(request: Request) -> Response:
    """Run the settlement job now (or as of `as_of`): settle due commission, raise stuck parcels."""
    require_api_key(request)
    body = await _optional_body(request)
    app = ctx(request)
    return json_response(await settle_all(app.writer, body.as_of or app.clock()))


routes = [Route("/api/v1/admin/settle", settle, methods=["POST"])]

BODIES = {("POST", "/api/v1/admin/settle"): SettleBody}
