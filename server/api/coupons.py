"""A room's coupons (API.md, "Growth"): `PUT /api/v1/rooms/{room}/coupons/{coupon}`. Orders name one in `coupon`."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import Body, Cents, ctx, parse, path_id, require_api_key, whole
from server.api.errors import ApiError, json_response
from server.services import coupons

COUPON_CHARS = 40


class CouponBody(Body):
    threshold_cents: Cents = Field(default=0, description="the least order subtotal the coupon applies to")
    off_cents: whole(gt=0, le=10**12) = Field(description="the amount taken off (never more than the subtotal)")
    live_only: bool = Field(default=False, description="only for orders placed while the room is live")
    invited_only: bool = Field(default=False, description="only for orders attributed to a leader")
    quota: whole(ge=0, le=10**9) | None = Field(default=None, description="how many orders may use it; null: any")


def coupon_id(request: Request) -> str:
    coupon = path_id(request, "coupon")
    if len(coupon) > COUPON_CHARS:
        raise ApiError(422, "invalid_field", f"coupon has at most {COUPON_CHARS} characters", "coupon")
    return coupon


async def put_coupon(request: Request) -> Response:
    """A room's coupon: a threshold, an amount off, live-only / invited-only, and a quota never exceeded.

    An idempotent upsert: a field left out keeps its stored value; the uses already made are kept, and the quota
    may not go below them (409). A coupon's name has at most 40 characters (422)."""
    require_api_key(request)
    room = path_id(request, "room")
    coupon = coupon_id(request)
    body = await parse(request, CouponBody)
    given: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    answer, created = await coupons.put_coupon(ctx(request), room, coupon, given)
    return json_response(answer, 201 if created else 200)


routes = [Route("/api/v1/rooms/{room}/coupons/{coupon}", put_coupon, methods=["PUT"])]
BODIES = {("PUT", "/api/v1/rooms/{room}/coupons/{coupon}"): CouponBody}
