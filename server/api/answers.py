"""The answers of the API as pydantic models: what /openapi.json documents as each route's response schema.

The services build their answers as plain dicts (the order path does not pay for a pydantic round trip); these
models describe those dicts, and tests/server/test_answers.py validates real answers of every route against them
(strict, no unknown keys) so the document cannot drift from what the server sends.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- catalog -------------------------------------------------------------------------------------------------


class Warehouse(Answer):
    warehouse: str
    name: str
    province: str = Field(description="the province's full name, e.g. 广东省")
    city: str
    active: bool
    contact: str | None = Field(None, description="the sender's name on waybills (carrier gateways)")
    mobile: str | None = Field(None, description="the sender's mainland mobile on waybills")
    district: str | None = Field(None, description="the sender's district (区/县)")
    address: str | None = Field(None, description="the sender's street address")


class WarehouseStatus(Answer):
    warehouse: str
    active: bool
    rerouted: int = Field(description="orders whose parcels moved to another warehouse")
    stranded: int = Field(description="parcels no other warehouse could take")


class Sku(Answer):
    sku: str
    name: str
    price_cents: int
    category: str | None
    presale_when_sold_out: bool
    low_stock_units: int


class StockLevel(Answer):
    """One SKU in one warehouse after a count or an adjustment."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    backorders_filled: int = Field(description="presale orders the new units served")


class WarehouseStock(Answer):
    warehouse: str
    on_hand: int
    reserved: int
    available: int
    active: bool


class Stock(Answer):
    sku: str
    warehouses: list[WarehouseStock]
    available: int = Field(description="units buyers can order: the active warehouses' available units")


class PickupPoint(Answer):
    name: str
    province: str
    city: str
    district: str
    address: str


class Leader(Answer):
    leader: str
    name: str
    community: str | None
    upline: str | None
    pickup_point: PickupPoint | None


class Tier(Answer):
    gmv_cents: int
    bonus_bp: int


class Binding(Answer):
    mode: Literal["first_touch", "last_touch", "permanent"]
    protection_days: int


class InviteReward(Answer):
    points: int = Field(description="points a leader earns once per invited visitor who watched")


class PromiseRule(Answer):
    paid_before: str = Field(description="China time HH:MM: orders paid before it (and after the rule before)")
    ship_by_days: int = Field(description="days after the payment's China day")
    ship_by_time: str = Field(description="China time HH:MM on that day")


class ForecastSettings(Answer):
    core_units: int = Field(description="units in one past session that make a SKU a core hit (default 200)")
    expected_audience: int = Field(description="visitors expected when the leaders have no history (default 1000)")
    conversion_bp: int = Field(description="a new product's conservative conversion (default 200 = 2%)")
    base_units: int = Field(description="the long tail's base level (default 20)")
    selling_minutes: int | None = Field(description="the first batch's planned minutes; null: the room's length, "
                                                    "else 120")


class Room(Answer):
    room: str
    title: str
    starts_at: datetime
    ends_at: datetime | None
    skus: list[str]
    base_rate_bp: int
    live_rate_bp: int | None
    first_hour_bonus_bp: int
    team_rate_bp: int
    gmv_tiers: list[Tier]
    after_sale_days: int
    binding: Binding
    min_watch_s: int = Field(description="a visitor has watched once their watch time reaches this (seconds)")
    invite_reward: InviteReward
    ship_promise: list[PromiseRule] | None = Field(
        default=None,
        description="shipping promise by payment time, sorted by paid_before; paid after the last cut-off counts "
        "as paid at the next China day's start (one rule: its days + 1). null: no promise",
    )
    forecast: ForecastSettings = Field(description="pre-stock tiers (GET /rooms/{room}/forecast)")


class Deal(Answer):
    room: str
    sku: str
    leader: str
    price_cents: int
    quota: int
    used: int
    remaining: int


class Link(Answer):
    code: str
    url: str
    room: str
    leader: str
    kind: Literal["live", "replay"]


class Kit(Answer):
    """A leader's share kit for one room."""

    code: str = Field(description="the leader's live share code of the room")
    url: str = Field(description="the share link")
    text: str = Field(description="words to post with the link, in the leader's voice, ending with the link")
    poster_url: str = Field(description="a PNG poster with a QR code of `url`; its address is signed and opens "
                            "without a header")


class Visit(Answer):
    leader: str | None = Field(description="the leader the visitor is bound to now")
    binding: Literal["new", "kept", "rebound"]
    room: str


# --- orders --------------------------------------------------------------------------------------------------


class Item(Answer):
    sku: str
    qty: int


class Shipment(Answer):
    shipment: str
    warehouse: str
    carrier: str = Field(description="Kdniao shipper code (SF, JTSD, ZTO, ...) or LOCAL")
    waybill: str | None = Field(description="null while the order is held or the waybill is awaited")
    state: str
    items: list[Item]


class PlacedCommission(Answer):
    leader: str | None
    amount_cents: int
    state: Literal["pending", "frozen", "settled", "reversed"] | None


class OrderPlaced(Answer):
    order: str
    status: Literal["accepted", "held"]
    leader: str | None
    assists: list[str]
    total_cents: int = Field(description="what the buyer paid: the lines' subtotal less the coupon's discount")
    coupon: str | None = Field(default=None, description="the coupon used, if any")
    discount_cents: int = Field(default=0, description="what the coupon took off")
    shipments: list[Shipment]
    presale: list[Item] = Field(description="units waiting for stock (SKUs sold out with presale on)")
    commission: PlacedCommission
    flags: list[str]
    tracking_url: str
    ship_by: datetime | None = Field(
        default=None, description="when the parcels ship by under the room's shipping promise (null: no promise)"
    )


class Buyer(Answer):
    """The buyer as written; without the API key or the order's tracking token the name and phone are masked
    and the street left out."""

    name: str
    phone: str
    province: str | None
    city: str | None
    district: str | None
    address: str | None = None


class Destination(Answer):
    province: str
    city: str | None


class OrderLine(Answer):
    sku: str
    qty: int
    unit_price_cents: int
    deal: bool = Field(description="sold at a community-exclusive price")


class TrackingEvent(Answer):
    at: datetime
    state: str
    station: str


class TrackedShipment(Shipment):
    events: list[TrackingEvent] = Field(description="newest first")


class CommissionLine(Answer):
    leader: str
    role: Literal["leader", "team"]
    accrued_cents: int
    pending_cents: int
    frozen_cents: int
    settled_cents: int
    reversed_cents: int
    state: Literal["pending", "frozen", "settled", "reversed", "none"]


class AfterSaleLine(Answer):
    after_sale: str
    amount_cents: int
    status: Literal["open", "approved", "rejected"]


class NoticeLine(Answer):
    notice: str
    text: str
    at: datetime = Field(description="when the notice was posted")


class OrderView(Answer):
    order: str
    room: str
    status: str
    leader: str | None
    leader_name: str | None
    assists: list[str]
    delivery: Literal["express", "pickup", "instant"]
    buyer: Buyer
    destination: Destination
    total_cents: int = Field(description="what the buyer paid: the lines' subtotal less the coupon's discount")
    coupon: str | None = Field(default=None, description="the coupon used, if any")
    discount_cents: int = Field(default=0, description="what the coupon took off")
    refunded_cents: int
    presale: bool
    flags: list[str]
    placed_at: datetime
    signed_at: datetime | None
    ship_by: datetime | None = Field(
        default=None, description="when the parcels ship by under the room's shipping promise (null: no promise)"
    )
    items: list[OrderLine]
    shipments: list[TrackedShipment]
    commission: list[CommissionLine]
    after_sales: list[AfterSaleLine]
    tracking_url: str | None = Field(description="only for the API key or the order's tracking token")
    notices: list[NoticeLine] = Field(default_factory=list, description="the delay notices it shows, oldest first")


class Cancelled(Answer):
    order: str
    status: Literal["cancelled"]


class Verified(Answer):
    order: str
    status: Literal["accepted"]
    shipments: list[Shipment]


class AfterSale(Answer):
    after_sale: str
    order: str
    kind: Literal["refund"]
    amount_cents: int
    reason: str
    status: Literal["open", "approved", "rejected"]
    created_at: datetime
    resolved_at: datetime | None


# --- carriers ------------------------------------------------------------------------------------------------


class Tracked(Answer):
    shipment: str
    order: str
    carrier: str
    waybill: str
    state: str
    previous: str
    changed: bool = Field(description="whether this event moved the parcel")


class Refusal(Answer):
    """Beside a carrier's own keys on a refusal: the API's error keys."""

    error: str | None = None
    detail: str | None = None
    field: str | None = None


class KdniaoAnswer(Refusal):
    EBusinessID: str
    UpdateTime: str = Field(description="Beijing time, yyyy-MM-dd HH:mm:ss")
    Success: bool
    Reason: str


class Kuaidi100Answer(Refusal):
    result: bool
    returnCode: str = Field(description="the HTTP status as text")
    message: str


# --- read models and admin -----------------------------------------------------------------------------------


class BoardEntry(Answer):
    rank: int
    leader: str
    name: str
    gmv_cents: int
    orders: int
    invites: int


class Leaderboard(Answer):
    room: str
    by: Literal["gmv", "orders", "invites"]
    entries: list[BoardEntry]


class CommissionEntry(Answer):
    model_config = ConfigDict(populate_by_name=True)

    order: str
    role: Literal["leader", "team"]
    from_: Literal["pending", "frozen", "settled", "reversed"] | None = Field(alias="from")
    to: Literal["pending", "frozen", "settled", "reversed"]
    amount_cents: int
    reason: Literal["paid", "signed", "window_closed", "cancelled", "refunded", "returned"]
    at: datetime


class Commission(Answer):
    leader: str
    pending_cents: int
    frozen_cents: int
    settled_cents: int
    reversed_cents: int
    entries: list[CommissionEntry]


class Reminder(Answer):
    visitor: str
    leader: str | None = Field(description="the leader the visitor clicked through")
    state: Literal["queued", "sent", "failed"]


class Reminders(Answer):
    reminders: list[Reminder]


class Settled(Answer):
    settled: int = Field(description="commission lines settled")
    stuck: int = Field(description="parcels newly marked stuck")


class Revoked(Answer):
    role: str = Field(description="host, leader, ops or order")
    subject: str
    revoked_at: str = Field(description="tokens of this subject issued at or before this time open nothing")


# --- growth ----------------------------------------------------------------------------------------------------


class Coupon(Answer):
    room: str
    coupon: str
    threshold_cents: int
    off_cents: int
    live_only: bool
    invited_only: bool
    quota: int | None = Field(description="null: no limit")
    used: int = Field(description="orders that used it")
    remaining: int | None = Field(description="null: no limit")


class Question(Answer):
    question: str
    room: str
    leader: str
    leader_name: str
    text: str
    sku: str | None
    asked_at: datetime
    answered_at: datetime | None


class QueuedQuestion(Answer):
    question: str
    leader: str
    leader_name: str
    text: str
    sku: str | None
    asked_at: datetime
    answered_at: datetime | None


class Questions(Answer):
    questions: list[QueuedQuestion] = Field(description="oldest first")


# --- delay notices (issue 13) -------------------------------------------------------------------------------------


class Notice(Answer):
    notice: str
    orders: int = Field(description="existing orders (not cancelled) it reached when posted")
    text: str
    room: str | None
    warehouse: str | None
    carrier: str | None
    province: str | None = Field(description="the province's full name, e.g. 广东省")
    posted_at: datetime
    withdrawn_at: datetime | None


# The pre-stock forecast's answers (GET /rooms/{room}/forecast) are in forecast_answers.py.
from server.api.forecast_answers import Forecast, Recommendation, SkuForecast, TierReason  # noqa: E402, F401
