"""Read models (API.md): leaderboard, a leader's commission, the forecast, a SKU's stock (in catalog).

Each needs the API key, an ops token, or a token that opens its subject (server/api/common.py, require_reader):
a room's board and forecast open to the room's host token and to the token of a leader whose screen shows that
room's board (the rooms the leader has sold in, as the WebSocket decides it); a leader's commission to that
leader's token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import Claim
from server.api.common import ctx, path_id, require_reader
from server.api.errors import ApiError, json_response
from server.services import reads


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "20")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise ApiError(422, "invalid_field", "limit must be a whole number from 1 to 500", "limit")
    return int(raw)


async def _require_room_reader(request: Request, room: str) -> None:
    async def opens(claim: Claim) -> bool:
        if claim.role == "host":
            return claim.subject == room
        if claim.role == "leader":
            return room in request.app.state.realtime.projections.leader_rooms(claim.subject)
        return False

    await require_reader(request, opens)


async def leaderboard(request: Request) -> Response:
    room = path_id(request, "room")
    await _require_room_reader(request, room)
    by = request.query_params.get("by", "gmv")
    if by not in reads.BOARD_ORDER:
        raise ApiError(422, "invalid_field", "by must be gmv, orders or invites", "by")
    return json_response(await reads.leaderboard(ctx(request), room, by, _limit(request)))


async def commission(request: Request) -> Response:
    leader = path_id(request, "leader")

    async def opens(claim: Claim) -> bool:
        return claim.opens("leader", leader)

    await require_reader(request, opens)
    return json_response(await reads.leader_commission(ctx(request), leader))


async def forecast(request: Request) -> Response:
    """Pre-stock recommendation per SKU and warehouse, tiered: core hits (a past session sold at least the room's
    `forecast.core_units`) at least 1.5× their peak, new products a conservative first batch (expected audience ×
    `conversion_bp` / SKU count) with `follow_up_per_min`, the long tail at least `base_units`. Each row names its
    `tier` and `reason` (a code with its numbers). Leaders with no history: the room's `expected_audience`."""
    room = path_id(request, "room")
    await _require_room_reader(request, room)
    return json_response(await reads.room_forecast(ctx(request), room))


routes = [
    Route("/api/v1/rooms/{room}/leaderboard", leaderboard, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/commission", commission, methods=["GET"]),
    Route("/api/v1/rooms/{room}/forecast", forecast, methods=["GET"]),
]
BODIES: dict[tuple[str, str], type] = {}
