"""Carrier capacity routes (API.md, "After the pulse"): `PUT /api/v1/carriers/{carrier}` and
`GET /api/v1/carriers`; the work is server/services/carrier_capacity.py.

`{carrier}` is a Kdniao shipper code liveroom ships with (domain/carrier_codes.py KNOWN_CARRIERS, or one the
carrier policy names), any case; another code is 404. A PUT sets `daily_capacity` (parcels per China day, null =
unlimited) and, when given, `cost_cents` (null clears it), `provinces` and `active`; what is left out stays.
`exception_rate` is over every day's parcels, not today's only (domain/carriers.py says why).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, RootModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.carriers import MAX_CAPACITY
from domain.tokens import Claim
from server.api.answers import Answer
from server.api.common import (
    Body,
    Cents,
    Province,
    ctx,
    parse,
    path_id,
    require_key_or_screen,
    require_reader,
    whole,
)
from server.api.errors import json_response
from server.services import carrier_capacity

Capacity = whole(ge=0, le=MAX_CAPACITY)


class CarrierBody(Body):
    daily_capacity: Capacity | None  # required; null = unlimited
    cost_cents: Cents | None = None
    provinces: Annotated[list[Province], Field(max_length=40)] | None = None
    active: bool | None = None


class CarrierView(Answer):
    carrier: str
    daily_capacity: int | None = Field(description="parcels per China day; null = unlimited")
    used_today: int = Field(description="parcels given to the carrier today (China day)")
    active: bool
    exception_rate: float = Field(description="problem + returned + stuck parcels over its parcels not cancelled, "
                                              "every day")
    cost_cents: int | None
    provinces: list[str]
    load: str = Field(description="ok, amber (from 80% of capacity) or red (from 95%)")


class CarrierViews(RootModel[list[CarrierView]]):
    """The answer of GET /api/v1/carriers: a JSON array, one entry per carrier, by code."""


async def put_carrier(request: Request) -> Response:
    """Set a carrier's daily capacity, cost, provinces it covers best, and whether it takes parcels."""
    await require_key_or_screen(request, "ops")
    carrier = path_id(request, "carrier")
    body = await parse(request, CarrierBody)
    given: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    return json_response(await carrier_capacity.put_carrier(ctx(request), carrier, given))


async def _nobody(_claim: Claim) -> bool:
    return False


async def list_carriers(request: Request) -> Response:
    """Every carrier: daily capacity, parcels today, up or down, exception rate (API key or ops token)."""
    await require_reader(request, _nobody)
    return json_response(await carrier_capacity.list_carriers(ctx(request)))


routes = [
    Route("/api/v1/carriers", list_carriers, methods=["GET"]),
    Route("/api/v1/carriers/{carrier}", put_carrier, methods=["PUT"]),
]

BODIES = {("PUT", "/api/v1/carriers/{carrier}"): CarrierBody}


def docs() -> dict[tuple[str, str], Any]:
    """What each route answers, for /openapi.json (server/api/openapi.py)."""
    from server.api.openapi import KEY_OR_SCREEN, READ, Doc

    return {
        ("GET", "/api/v1/carriers"): Doc({"200": CarrierViews}, READ),
        ("PUT", "/api/v1/carriers/{carrier}"): Doc({"200": CarrierView}, KEY_OR_SCREEN, links={
            "ListCarriers": ("GET", "/api/v1/carriers", {})}),
    }
