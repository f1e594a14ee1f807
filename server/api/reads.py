"""Read models (API.md): leaderboard, a leader's commission, the forecast, a SKU's stock (in catalog)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import ctx, path_id
from server.api.errors import ApiError, json_response
from server.services import reads


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise ApiError(422, "invalid_field", "limit must be a whole number from 1 to 500", "limit")
    return int(raw)


async def leaderboard(request: Request) -> Response:
    room = path_id(request, "room")
    by = request.query_params.get("by", "gmv")
    if by not in reads.BOARD_ORDER:
        raise ApiError(422, "invalid_field", "by must be gmv, orders or invites", "by")
    return json_response(await reads.leaderboard(ctx(request), room, by, _limit(request)))


async def commission(request: Request) -> Response:
    return json_response(await reads.leader_commission(ctx(request), path_id(request, "leader")))


async def forecast(request: Request) -> Response:
    return json_response(await reads.room_forecast(ctx(request), path_id(request, "room")))


routes = [
    Route("/api/v1/rooms/{room}/leaderboard", leaderboard, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/commission", commission, methods=["GET"]),
    Route("/api/v1/rooms/{room}/forecast", forecast, methods=["GET"]),
]
BODIES: dict[tuple[str, str], type] = {}
