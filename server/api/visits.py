"""POST /api/v1/visits: a visitor opened a leader's share link."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import Body, Id, When, ctx, parse, require_api_key
from server.api.errors import json_response
from server.services import visits

Code = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


class VisitBody(Body):
    visitor: Id
    code: Code
    at: When | None = None


async def record_visit(request: Request) -> Response:
    require_api_key(request)
    body = await parse(request, VisitBody)
    answer = await visits.record(ctx(request), visits.VisitRequest(body.visitor, body.code, body.at))
    return json_response(answer)


routes = [Route("/api/v1/visits", record_visit, methods=["POST"])]
BODIES = {("POST", "/api/v1/visits"): VisitBody}
