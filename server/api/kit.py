"""A leader's share kit (API.md, Growth): `GET /api/v1/leaders/{leader}/kit?room=R` → the leader's live share code
and link for the room, the words to post with it and the address of its poster; the poster itself, a PNG.

The kit opens to the API key, an ops token and the leader's own token (Bearer or ?token=), like every leader read.
The poster opens to those too, and to its own signed address (`sig`, domain/share_kit.py): a phone saving the
picture sends no header. Anything else is 401.
"""

from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain import share_kit
from domain.tokens import Claim
from server.api.common import ID_PATTERN, ctx, has_api_key, path_id, presented_token, require_reader
from server.api.errors import ApiError, json_response
from server.services import kit as kits

_ID = re.compile(ID_PATTERN)


async def _require_leader_reader(request: Request, leader: str) -> None:
    async def opens(claim: Claim) -> bool:
        return claim.opens("leader", leader)

    await require_reader(request, opens)


def _room(request: Request) -> str:
    room = request.query_params.get("room")
    if not room:
        raise ApiError(422, "invalid_field", "room is required: ?room=ROOM", "room")
    if not _ID.match(room):
        raise ApiError(422, "invalid_field", "room must be 1-64 letters, digits or _.:-", "room")
    return room


async def kit(request: Request) -> Response:
    """A leader's share kit for a room: live share code and link, the words to post, the poster's address.

    The link is the leader's live share link of the room (the one `POST /api/v1/rooms/{room}/links` answers),
    created on first ask. `?lang=en` answers the words in English (Chinese by default)."""
    leader = path_id(request, "leader")
    await _require_leader_reader(request, leader)
    room = _room(request)
    lang = share_kit.lang_of(request.query_params.get("lang"))
    return json_response(await kits.kit(ctx(request), leader, room, lang))


async def poster(request: Request) -> Response:
    """The share kit's poster (PNG): the room's title and start, who invites, a QR code of the share link.

    Opens with its signed address (`sig`, as the kit's `poster_url` gives it) or any credential that opens the
    kit."""
    leader = path_id(request, "leader")
    room = request.query_params.get("room")
    signed = share_kit.poster_signature_valid(
        ctx(request).settings.secret, leader, room or "", request.query_params.get("sig")
    )
    if not signed:
        if not has_api_key(request) and presented_token(request) is None:
            raise ApiError(401, "unauthorized", "the poster address is not signed for this leader and room")
        await _require_leader_reader(request, leader)
    room = _room(request)
    lang = share_kit.lang_of(request.query_params.get("lang"))
    png = await kits.poster_png(ctx(request), leader, room, lang)
    return Response(png, media_type="image/png", headers={
        "Cache-Control": "private, max-age=300",
        "Content-Disposition": f'inline; filename="liveroom-{room}-{leader}.png"',
    })


routes = [
    Route("/api/v1/leaders/{leader}/kit", kit, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/kit/poster.png", poster, methods=["GET"]),
]
BODIES: dict[tuple[str, str], type] = {}
