"""Catalog routes (API.md, "Catalog (idempotent upserts)"): parse, authorize, call server/services/catalog.py.

Upserts answer 201 when they created the resource and 200 otherwise. A body's optional fields left out keep
what is stored; sent as null they clear it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import Claim
from server.api.common import (
    Body,
    Bp,
    Cents,
    Id,
    Province,
    Text,
    Units,
    When,
    ctx,
    parse,
    path_id,
    require_api_key,
    require_key_or_screen,
    require_reader,
    whole,
)
from server.api.errors import json_response
from server.services import catalog

Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Street = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


# A mainland mobile number (11 digits from 1[3-9]): Kdniao 1007 `Sender.Mobile` (issue 14).
Mobile = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^1[3-9][0-9]{9}$")]


class WarehouseBody(Body):
    name: Text
    province: Province
    city: Place
    active: bool = True
    # The sender of its parcels for a carrier gateway (Kdniao 1007 `Sender`: Name, Mobile, ExpAreaName, Address).
    contact: Place | None = None
    mobile: Mobile | None = None
    district: Place | None = None
    address: Street | None = None


class SkuBody(Body):
    name: Text
    price_cents: Cents
    category: Place | None = None
    presale_when_sold_out: bool = False
    low_stock_units: Units = 20


class OnHandBody(Body):
    on_hand: Units


class AdjustBody(Body):
    delta: whole(ge=-(10**9), le=10**9, json_schema_extra={"not": {"const": 0}})
    reason: Text
    adjustment: Id | None = None  # optional: a retry with the same id is answered, not applied again

    @field_validator("delta")
    @classmethod
    def _moves(cls, value: int) -> int:
        if value == 0:
            raise ValueError("delta must not be zero")
        return value


class PickupPointBody(Body):
    name: Text
    province: Province
    city: Place
    district: Place
    address: Street


class LeaderBody(Body):
    name: Text
    community: Text | None = None
    upline: Id | None = None
    pickup_point: PickupPointBody | None = None


class TierBody(Body):
    gmv_cents: Cents
    bonus_bp: Bp


class BindingBody(Body):
    mode: Literal["first_touch", "last_touch", "permanent"]
    protection_days: whole(ge=0, le=3650) = 7


class InviteRewardBody(Body):
    points: whole(ge=0, le=1_000_000)


HhMm = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]


class PromiseRuleBody(Body):
    """Orders paid before `paid_before` (China time) ship by `ship_by_days` days later at `ship_by_time`."""

    paid_before: HhMm
    ship_by_days: whole(ge=0, le=30)
    ship_by_time: HhMm


class ForecastBody(Body):
    """The room's pre-stock forecast settings (GET /rooms/{room}/forecast); each left out: its default.
    core_units (200): units one past session must sell of a SKU to make it a core hit; expected_audience (1000):
    visitors when the leaders have no history; conversion_bp (200): a new product's conservative conversion;
    base_units (20): the long tail's base level; selling_minutes (the room's length, else 120): the minutes a new
    product's first batch is planned over."""

    core_units: whole(ge=1, le=100_000_000) | None = None  # a SKU selling this many in one past session: core hit
    expected_audience: whole(ge=0, le=1_000_000_000) | None = None  # visitors, when the leaders have no history
    conversion_bp: Bp | None = None  # share of the audience a new product's first batch plans for
    base_units: whole(ge=0, le=100_000_000) | None = None  # the long tail's base level
    selling_minutes: whole(ge=1, le=10_080) | None = None  # the first batch's planned minutes; default: the room's


class RoomBody(Body):
    title: Text
    starts_at: When
    ends_at: When | None = None
    skus: Annotated[list[Id], Field(max_length=1000)]
    base_rate_bp: Bp
    live_rate_bp: Bp | None = None
    first_hour_bonus_bp: Bp = 0
    team_rate_bp: Bp = 0
    gmv_tiers: Annotated[list[TierBody], Field(max_length=50)] = Field(default_factory=list)
    after_sale_days: whole(ge=0, le=365)
    binding: BindingBody
    min_watch_s: whole(ge=1, le=86_400) = 300  # "watched": at least this long (growth)
    invite_reward: InviteRewardBody | None = None  # points per invited visitor who watched; null: none
    # Shipping promise by payment time (domain/promise.py); null or []: none, orders get no ship_by.
    ship_promise: Annotated[list[PromiseRuleBody], Field(max_length=10)] | None = None
    forecast: ForecastBody | None = None  # pre-stock tiers (pfore); null: the defaults


class DealBody(Body):
    sku: Id
    leader: Id
    price_cents: Cents
    quota: Units


class LinkBody(Body):
    leader: Id
    kind: Literal["live", "replay"]


class StatusBody(Body):
    active: bool


def _given(body: Body) -> dict[str, Any]:
    """The fields the client sent (left-out optional fields keep their stored value)."""
    return body.model_dump(exclude_unset=True)


def _answer(answer: catalog.Answer) -> Response:
    body, created = answer
    return json_response(body, 201 if created else 200)


async def put_warehouse(request: Request) -> Response:
    require_api_key(request)
    code = path_id(request, "code")
    body = await parse(request, WarehouseBody)
    return _answer(await catalog.put_warehouse(ctx(request), code, _given(body)))


async def warehouse_status(request: Request) -> Response:
    """An outage (active false) re-routes the warehouse's unshipped orders. The ops screen may do it too."""
    await require_key_or_screen(request, "ops")
    code = path_id(request, "code")
    body = await parse(request, StatusBody)
    return json_response(await catalog.warehouse_status(ctx(request), code, body.active))


def _host_sells(request: Request, sku: str) -> Callable[[str], Awaitable[bool]]:
    async def allows(room: str) -> bool:
        return await catalog.room_sells(ctx(request), room, sku)

    return allows


async def put_sku(request: Request) -> Response:
    """The host screen switches presale with it, for its own room's SKUs."""
    sku = path_id(request, "sku")
    await require_key_or_screen(request, "host", _host_sells(request, sku))
    body = await parse(request, SkuBody)
    return _answer(await catalog.put_sku(ctx(request), sku, _given(body)))


async def put_stock(request: Request) -> Response:
    require_api_key(request)
    sku, warehouse = path_id(request, "sku"), path_id(request, "warehouse")
    body = await parse(request, OnHandBody)
    return _answer(await catalog.set_stock(ctx(request), sku, warehouse, body.on_hand))


async def adjust_stock(request: Request) -> Response:
    """Replenishment; the host screen may replenish its own room's SKUs."""
    sku, warehouse = path_id(request, "sku"), path_id(request, "warehouse")
    await require_key_or_screen(request, "host", _host_sells(request, sku))
    body = await parse(request, AdjustBody)
    return _answer(await catalog.adjust_stock(ctx(request), sku, warehouse, body.delta, reason=body.reason,
                                              adjustment=body.adjustment))


async def get_stock(request: Request) -> Response:
    """A SKU's stock per warehouse: the API key, ops, or the host token of a room selling the SKU; else 401."""
    sku = path_id(request, "sku")

    async def opens(claim: Claim) -> bool:
        return claim.role == "host" and await catalog.room_sells(ctx(request), claim.subject, sku)

    await require_reader(request, opens)
    return json_response(await catalog.stock_view(ctx(request), sku))


async def put_leader(request: Request) -> Response:
    require_api_key(request)
    leader = path_id(request, "leader")
    body = await parse(request, LeaderBody)
    return _answer(await catalog.put_leader(ctx(request), leader, _given(body)))


async def put_room(request: Request) -> Response:
    """Create or change a room; `forecast` sets its pre-stock tiers (left out: kept; null: the defaults)."""
    require_api_key(request)
    room = path_id(request, "room")
    body = await parse(request, RoomBody)
    return _answer(await catalog.put_room(ctx(request), room, _given(body)))


async def put_deal(request: Request) -> Response:
    """A community-exclusive price for buyers bound to the leader, for the first `quota` units."""
    require_api_key(request)
    room = path_id(request, "room")
    body = await parse(request, DealBody)
    answer = await catalog.put_deal(ctx(request), room, body.sku, body.leader, body.price_cents, body.quota)
    return _answer(answer)


async def share_link(request: Request) -> Response:
    require_api_key(request)
    room = path_id(request, "room")
    body = await parse(request, LinkBody)
    return _answer(await catalog.share_link(ctx(request), room, body.leader, body.kind))


routes = [
    Route("/api/v1/warehouses/{code}", put_warehouse, methods=["PUT"]),
    Route("/api/v1/warehouses/{code}/status", warehouse_status, methods=["POST"]),
    Route("/api/v1/skus/{sku}", put_sku, methods=["PUT"]),
    Route("/api/v1/skus/{sku}/stock", get_stock, methods=["GET"]),
    Route("/api/v1/skus/{sku}/stock/{warehouse}", put_stock, methods=["PUT"]),
    Route("/api/v1/skus/{sku}/stock/{warehouse}/adjust", adjust_stock, methods=["POST"]),
    Route("/api/v1/leaders/{leader}", put_leader, methods=["PUT"]),
    Route("/api/v1/rooms/{room}", put_room, methods=["PUT"]),
    Route("/api/v1/rooms/{room}/deals", put_deal, methods=["POST"]),
    Route("/api/v1/rooms/{room}/links", share_link, methods=["POST"]),
]

BODIES = {
    ("PUT", "/api/v1/warehouses/{code}"): WarehouseBody,
    ("POST", "/api/v1/warehouses/{code}/status"): StatusBody,
    ("PUT", "/api/v1/skus/{sku}"): SkuBody,
    ("PUT", "/api/v1/skus/{sku}/stock/{warehouse}"): OnHandBody,
    ("POST", "/api/v1/skus/{sku}/stock/{warehouse}/adjust"): AdjustBody,
    ("PUT", "/api/v1/leaders/{leader}"): LeaderBody,
    ("PUT", "/api/v1/rooms/{room}"): RoomBody,
    ("POST", "/api/v1/rooms/{room}/deals"): DealBody,
    ("POST", "/api/v1/rooms/{room}/links"): LinkBody,
}
