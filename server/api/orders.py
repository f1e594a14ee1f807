"""Orders: place, read, cancel, verify, after-sales (API.md, "Buyer activity")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.address import Address
from domain.errors import DomainError
from domain.tokens import Claim
from server.api import order_answers
from server.api.common import (
    Body,
    Id,
    Province,
    Text,
    When,
    bearer,
    ctx,
    dump,
    has_api_key,
    parse,
    path_id,
    require_api_key,
    require_reader,
    whole,
)
from server.api.errors import ApiError, json_response
from server.context import AppContext
from server.logs import bind
from server.services import order_changes, order_reads
from server.services import orders as placing
from telemetry import metrics

Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Street = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
CouponId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,39}$")]


class BuyerBody(Body):
    name: Text
    phone: Phone
    province: Province
    city: Place
    district: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] = ""
    address: Street = ""


class ItemBody(Body):
    sku: Id
    qty: whole(gt=0, le=10_000)


class OrderBody(Body):
    order: Id
    room: Id
    visitor: Id
    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    buyer: BuyerBody
    items: Annotated[list[ItemBody], Field(min_length=1, max_length=100)]
    delivery: Literal["express", "pickup", "instant"] = "express"
    at: When | None = None
    coupon: CouponId | None = Field(default=None, description="a coupon of the room (PUT /rooms/{room}/coupons)")


class VerifyBody(Body):
    phone: Phone | None = None
    province: Province | None = None
    city: Place | None = None
    district: Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)] | None = None
    address: Street | None = None
    name: Text | None = None


class AfterSaleBody(Body):
    kind: Literal["refund"]
    amount_cents: whole(gt=0, le=10**12)
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    after_sale: Id | None = None


class ResolveBody(Body):
    approved: bool


def order_request(body: OrderBody) -> placing.OrderRequest:
    payload = dump(body)
    if payload.get("coupon") is None:  # bodies without a coupon hash as they did before coupons existed
        payload.pop("coupon", None)
    return placing.OrderRequest(
        order=body.order,
        room=body.room,
        visitor=body.visitor,
        code=body.code,
        buyer=Address(**body.buyer.model_dump()),
        items=tuple((item.sku, item.qty) for item in body.items),
        delivery=body.delivery,
        at=body.at,
        coupon=body.coupon,
        body_hash=placing.body_hash(payload),
    )


def order_answer(app: AppContext) -> placing.Answering:
    """The answer to a placed order, with its tracking link (stored with the order for replays)."""
    return lambda decision: order_answers.placed(decision, app.tracking_url(decision.order, decision.at))


# Refusals of the body's shape are one reason on the orders counter: which field was wrong is the answer's business.
_SHAPE_CODES = frozenset({"malformed_json", "invalid_field", "missing_field", "too_large"})


async def place_order(request: Request) -> Response:
    try:
        require_api_key(request)
        body = await parse(request, OrderBody)
        bind(order=body.order)
        app = ctx(request)
        answer = await placing.place(app, order_request(body), order_answer(app))
    except DomainError as refused:
        metrics.order_refused("validation" if refused.code in _SHAPE_CODES else refused.code)
        raise
    except Exception:
        metrics.order_refused("error")
        raise
    if answer.status_code == 201:  # a replay (200) answers an order already counted
        metrics.order_accepted()
    return json_response(answer.body, answer.status_code)


async def get_order(request: Request) -> Response:
    """The API key, the order's tracking token, its leader's token, its room's host token or ops; else 401.
    Buyer details (name, phone, street) only for the API key or the order's own tracking token."""
    order = path_id(request, "order")

    async def opens(claim: Claim) -> bool:
        if claim.role == "order":
            return claim.subject == order
        parties = await order_reads.order_parties(ctx(request), order)
        if parties is None:
            return False
        room, leader = parties
        return (claim.role == "host" and claim.subject == room) or (
            claim.role == "leader" and claim.subject == leader
        )

    claim = await require_reader(request, opens)
    full = claim is None or claim.opens("order", order)
    return json_response(await order_reads.order_view(ctx(request), order, full=full))


async def cancel_order(request: Request) -> Response:
    require_api_key(request)
    order = path_id(request, "order")
    return json_response(await order_changes.cancel(ctx(request), order))


async def verify_order(request: Request) -> Response:
    order = path_id(request, "order")
    acting_leader = None if has_api_key(request) else await _leader_claim(request)
    body = await parse(request, VerifyBody)
    fixes = {k: v for k, v in body.model_dump().items() if v is not None}
    return json_response(await order_changes.verify(ctx(request), order, fixes, acting_leader))


async def _leader_claim(request: Request) -> str:
    """The leader page fixes its own held orders with its screen token instead of the API key."""
    token = bearer(request) or request.cookies.get("liveroom_token")
    claim = await ctx(request).claim(token)
    if claim is None:
        raise ApiError(401, "unauthorized", "an API key or the leader's (unexpired, unrevoked) token is required")
    if claim.role != "leader":
        raise ApiError(403, "forbidden", "only the order's leader may verify it")
    return claim.subject


async def open_after_sale(request: Request) -> Response:
    require_api_key(request)
    order = path_id(request, "order")
    body = await parse(request, AfterSaleBody)
    answer, created = await order_changes.open_after_sale(
        ctx(request), order, body.amount_cents, body.reason, body.after_sale
    )
    return json_response(answer, 201 if created else 200)


async def resolve_after_sale(request: Request) -> Response:
    require_api_key(request)
    after_sale = path_id(request, "after_sale")
    body = await parse(request, ResolveBody)
    return json_response(await order_changes.resolve_after_sale(ctx(request), after_sale, body.approved))


routes = [
    Route("/api/v1/orders", place_order, methods=["POST"]),
    Route("/api/v1/orders/{order}", get_order, methods=["GET"]),
    Route("/api/v1/orders/{order}/cancel", cancel_order, methods=["POST"]),
    Route("/api/v1/orders/{order}/verify", verify_order, methods=["POST"]),
    Route("/api/v1/orders/{order}/after-sales", open_after_sale, methods=["POST"]),
    Route("/api/v1/after-sales/{after_sale}/resolve", resolve_after_sale, methods=["POST"]),
]

BODIES = {
    ("POST", "/api/v1/orders"): OrderBody,
    ("POST", "/api/v1/orders/{order}/verify"): VerifyBody,
    ("POST", "/api/v1/orders/{order}/after-sales"): AfterSaleBody,
    ("POST", "/api/v1/after-sales/{after_sale}/resolve"): ResolveBody,
}
