"""Delay notices (API.md, "After the pulse"), with the API key:

- `POST /api/v1/notices` `{text, room?, warehouse?, carrier?, province?, notice?}` → 201 `{"notice", "orders": N}`
  (and the notice as stored); N = the existing orders (not cancelled) it reaches. `notice`: an id of your own, so a
  retry posts once (200 and the same answer; another body → 409).
- `DELETE /api/v1/notices/{notice}` → 200 the notice with `withdrawn_at`; unknown → 404; again → 200 and the
  first withdrawal (a retry is safe).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import Body, Id, ctx, parse, path_id, require_api_key
from server.api.errors import json_response
from server.services import notices

NoticeText = Annotated[str, StringConstraints(max_length=4000)]  # cleaned and bounded to 500 by the rules
Name = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class NoticeBody(Body):
    text: NoticeText = Field(description="what buyers read, at most 500 characters once whitespace is folded")
    room: Id | None = Field(default=None, description="orders placed in this room")
    warehouse: Id | None = Field(default=None, description="orders with a parcel from this warehouse")
    carrier: Name | None = Field(default=None, description="orders with a parcel with this carrier (SF, ZTO, ...)")
    province: Name | None = Field(default=None, description="orders going to this province, as buyers write it")
    notice: Id | None = Field(default=None, description="an id of your own, so that a retry posts only once")


async def post_notice(request: Request) -> Response:
    """Post a delay notice for the orders it concerns
    Criteria (each optional, at least one, combined with AND): the room; a parcel from the warehouse with the
    carrier (both on one parcel when both are given); the province the parcels go to ("广东", "广东省" are one).
    Every matching order — those placed later too — shows it until it is withdrawn. 422 naming the field: no
    criterion, an unknown room, warehouse or province, an empty text or one over 500 characters."""
    require_api_key(request)
    body = await parse(request, NoticeBody)
    answer, created = await notices.post(ctx(request), body.text, body.room, body.warehouse, body.carrier,
                                         body.province, body.notice)
    return json_response(answer, 201 if created else 200)


async def withdraw_notice(request: Request) -> Response:
    """Withdraw a delay notice
    The affected orders stop showing it at once. Withdrawing again answers 200 with the first withdrawal."""
    notice = path_id(request, "notice")
    require_api_key(request)
    return json_response(await notices.withdraw(ctx(request), notice))


routes = [
    Route("/api/v1/notices", post_notice, methods=["POST"]),
    Route("/api/v1/notices/{notice}", withdraw_notice, methods=["DELETE"]),
]
BODIES = {("POST", "/api/v1/notices"): NoticeBody}
