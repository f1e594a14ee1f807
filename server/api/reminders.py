"""Pre-live reminders of a room (API.md, "Growth"): who clicked before the start and had not entered when it came.

Readable with the API key, an ops token, or the room's host token. Read after the start, the list is queued first
if the scheduler has not done it yet (server/services/reminders.py), so it is right without waiting for a tick.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import Claim
from server.api.common import ctx, path_id, require_reader
from server.api.errors import json_response
from server.services import reminders


async def room_reminders(request: Request) -> Response:
    """The room's pre-live reminders and whether each was sent
    Visitors who clicked a share code before `starts_at` and had not entered when the room started: `queued`
    (waiting, or no LIVEROOM_NOTIFY_URL), `sent` (acknowledged by the receiver, never sent again) or `failed`
    (retries used up)."""
    room = path_id(request, "room")

    async def opens(claim: Claim) -> bool:
        return claim.role == "host" and claim.subject == room

    await require_reader(request, opens)
    return json_response(await reminders.room_reminders(ctx(request), room))


routes = [Route("/api/v1/rooms/{room}/reminders", room_reminders, methods=["GET"])]
BODIES: dict[tuple[str, str], type] = {}
