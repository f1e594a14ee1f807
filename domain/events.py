"""Domain events: what happened, as frozen facts. The service writes them to the outbox in the same transaction as
the state change; projections and screens react to them (DESIGN.md, "One write, traced").

Events carry state where a screen needs it (a stock event carries the new on_hand and reserved, not a delta), so a
consumer that applies an event twice, or late, still lands on the truth.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Event:
    """Base of all domain events. `kind` is the stable wire name."""

    kind: ClassVar[str] = "event"
    at: datetime


@dataclass(frozen=True, slots=True)
class VisitorBound(Event):
    kind: ClassVar[str] = "visitor_bound"
    room: str
    visitor: str
    leader: str
    outcome: str  # new | kept | rebound


@dataclass(frozen=True, slots=True)
class OrderAccepted(Event):
    kind: ClassVar[str] = "order_accepted"
    order: str
    room: str
    leader: str | None
    assists: tuple[str, ...]
    buyer_masked: str
    province: str
    city: str
    delivery: str
    items: tuple[tuple[str, int], ...]
    total_cents: int
    status: str  # accepted | held
    presale: bool = False
    coupon: str | None = None
    discount_cents: int = 0
    visitor: str | None = None  # who ordered (the funnel's "ordered"; an order removes them from the prospects)
    ship_by: datetime | None = None  # the room's shipping promise for this order (domain/promise.py); None: none


@dataclass(frozen=True, slots=True)
class OrderHeld(Event):
    kind: ClassVar[str] = "order_held"
    order: str
    room: str
    leader: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class OrderVerified(Event):
    kind: ClassVar[str] = "order_verified"
    order: str
    room: str
    leader: str | None


@dataclass(frozen=True, slots=True)
class OrderCancelled(Event):
    kind: ClassVar[str] = "order_cancelled"
    order: str
    room: str
    leader: str | None
    total_cents: int


@dataclass(frozen=True, slots=True)
class StockChanged(Event):
    kind: ClassVar[str] = "stock_changed"
    room: str | None
    sku: str
    warehouse: str
    on_hand: int
    reserved: int
    sold: int = 0  # units sold by the change that caused this event (feeds the sell rate)


@dataclass(frozen=True, slots=True)
class ShipmentPlanned(Event):
    kind: ClassVar[str] = "shipment_planned"
    shipment: str
    order: str
    room: str
    leader: str | None
    warehouse: str
    carrier: str
    waybill: str | None
    items: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class ParcelStateChanged(Event):
    kind: ClassVar[str] = "parcel_state_changed"
    shipment: str
    order: str
    room: str
    leader: str | None
    carrier: str
    waybill: str
    state: str
    previous: str
    station: str = ""


@dataclass(frozen=True, slots=True)
class ParcelTraced(Event):
    """A newer trace line for a parcel whose state did not change (the buyer's timeline still grows)."""

    kind: ClassVar[str] = "parcel_traced"
    shipment: str
    order: str
    room: str
    leader: str | None
    carrier: str
    waybill: str
    state: str
    station: str = ""


@dataclass(frozen=True, slots=True)
class ParcelShipped(Event):
    """The parcel left its warehouse (its units left on_hand); `at` is when, from the carrier's first scan."""

    kind: ClassVar[str] = "parcel_shipped"
    shipment: str
    order: str
    warehouse: str


@dataclass(frozen=True, slots=True)
class ParcelStuck(Event):
    kind: ClassVar[str] = "parcel_stuck"
    shipment: str
    order: str
    waybill: str
    carrier: str
    state: str
    since: datetime


@dataclass(frozen=True, slots=True)
class CommissionMoved(Event):
    kind: ClassVar[str] = "commission_moved"
    order: str
    room: str
    leader: str
    role: str
    source: str | None
    target: str
    amount_cents: int
    reason: str


@dataclass(frozen=True, slots=True)
class WarehouseStatusChanged(Event):
    kind: ClassVar[str] = "warehouse_status_changed"
    warehouse: str
    active: bool
    rerouted_orders: int = 0


@dataclass(frozen=True, slots=True)
class AfterSaleOpened(Event):
    kind: ClassVar[str] = "after_sale_opened"
    after_sale: str
    order: str
    leader: str | None
    amount_cents: int
    reason: str = ""  # the buyer's reason (the post-live review groups refunds by it)


@dataclass(frozen=True, slots=True)
class AfterSaleResolved(Event):
    kind: ClassVar[str] = "after_sale_resolved"
    after_sale: str
    order: str
    leader: str | None
    approved: bool
    amount_cents: int


@dataclass(frozen=True, slots=True)
class CatalogChanged(Event):
    """A warehouse, SKU, leader or room was created or changed (screens refresh names and settings)."""

    kind: ClassVar[str] = "catalog_changed"
    entity: str  # warehouse | sku | leader | room | deal | link
    key: str


@dataclass(frozen=True, slots=True)
class TokensRevoked(Event):
    """Every token of (role, subject) issued at or before `at` stops working: each process closes the screens it
    serves with such a token."""

    kind: ClassVar[str] = "tokens_revoked"
    role: str
    subject: str


# --- growth (domain/growth.py) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VisitorEntered(Event):
    """A visitor's first heartbeat in a room (the funnel's "entered")."""

    kind: ClassVar[str] = "visitor_entered"
    room: str
    visitor: str
    leader: str | None  # the leader the visitor is bound to, if any


@dataclass(frozen=True, slots=True)
class VisitorWatching(Event):
    """A visitor's watch time grew: sent on every new whole minute, and when it reaches the room's mark
    (`watched` then true once, the funnel's "watched")."""

    kind: ClassVar[str] = "visitor_watching"
    room: str
    visitor: str
    leader: str | None
    watched_s: int
    watched: bool = False


@dataclass(frozen=True, slots=True)
class PointsEarned(Event):
    kind: ClassVar[str] = "points_earned"
    room: str
    leader: str
    reason: str  # invite | task
    ref: str  # the visitor, or the task
    points: int
    balance: int  # the leader's points after this entry


@dataclass(frozen=True, slots=True)
class TaskProgressed(Event):
    """A leader's progress on a room's task changed (a new invitee, or one who watched)."""

    kind: ClassVar[str] = "task_progressed"
    room: str
    task: str
    leader: str
    goal: int
    invited: int
    watched: int
    done: bool


@dataclass(frozen=True, slots=True)
class LeaderRecruited(Event):
    """A visitor became a leader in the room; `upline` is the leader who brought them."""

    kind: ClassVar[str] = "leader_recruited"
    room: str
    leader: str
    name: str
    upline: str | None
    visitor: str


@dataclass(frozen=True, slots=True)
class ProspectNoted(Event):
    """A leader's tags and note on a visitor of theirs (private to that leader)."""

    kind: ClassVar[str] = "prospect_noted"
    leader: str
    visitor: str
    tags: tuple[str, ...]
    note: str


@dataclass(frozen=True, slots=True)
class QuestionAsked(Event):
    kind: ClassVar[str] = "question_asked"
    room: str
    question: str
    leader: str
    leader_name: str
    text: str
    sku: str | None


@dataclass(frozen=True, slots=True)
class QuestionAnswered(Event):
    kind: ClassVar[str] = "question_answered"
    room: str
    question: str
    leader: str


@dataclass(frozen=True, slots=True)
class ReminderChanged(Event):
    kind: ClassVar[str] = "reminder_changed"
    room: str
    visitor: str
    leader: str | None
    state: str  # queued | sent | failed


# --- delay notices (issue 13) -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoticePosted(Event):
    """Ops posted a delay notice for the orders matching its criteria (domain/notices.py); `orders`: how many
    existing orders it reached when posted (orders placed later that match show it too)."""

    kind: ClassVar[str] = "notice_posted"
    notice: str
    text: str
    room: str | None
    warehouse: str | None
    carrier: str | None
    province: str | None  # canonical full name
    orders: int


@dataclass(frozen=True, slots=True)
class NoticeWithdrawn(Event):
    kind: ClassVar[str] = "notice_withdrawn"
    notice: str
    text: str
    orders: int  # the orders it reached when posted
# --- shipping promises (pprom) -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OrderShipByChanged(Event):
    """A presale order's stock arrived: its ship_by is read again from the fill time (domain/promise.py)."""

    kind: ClassVar[str] = "order_ship_by_changed"
    order: str
    room: str
    ship_by: datetime | None
# --- carrier capacity (issue 13) ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CarrierChanged(Event):
    """Operations set a carrier's daily capacity (None = unlimited), cost, provinces or marked it up/down."""

    kind: ClassVar[str] = "carrier_changed"
    carrier: str
    daily_capacity: int | None
    active: bool
    cost_cents: int | None = None
    provinces: tuple[str, ...] = ()


# --- carrier gateways (issue 14): waybills booked with Kdniao / Kuaidi100 after the order's commit ------------------
# Requested: asked of the gateway in the order's own transaction (until issued the shipment reads "awaiting_waybill").
# Issued: the gateway's waybill (Kdniao 1007 Order.LogisticCode). Refused: a definite no (Success false, its Reason);
# the shipment moves to `next_carrier`, or with none left (None) the order is held for its leader. Cancelled: a
# cancelled order's waybill cancelled at the gateway (1147). Circuit: open after repeated failures (no requests until
# `until`, new shipments go elsewhere), half_open when one trial may go, closed after a success.


@dataclass(frozen=True, slots=True)
class WaybillRequested(Event):
    kind: ClassVar[str] = "waybill_requested"
    shipment: str
    order: str
    room: str
    leader: str | None
    carrier: str


@dataclass(frozen=True, slots=True)
class WaybillIssued(Event):
    kind: ClassVar[str] = "waybill_issued"
    shipment: str
    order: str
    room: str
    leader: str | None
    carrier: str
    waybill: str


@dataclass(frozen=True, slots=True)
class WaybillRefused(Event):
    kind: ClassVar[str] = "waybill_refused"
    shipment: str
    order: str
    room: str
    leader: str | None
    carrier: str
    reason: str
    next_carrier: str | None


@dataclass(frozen=True, slots=True)
class WaybillCancelled(Event):
    kind: ClassVar[str] = "waybill_cancelled"
    shipment: str
    order: str
    carrier: str
    waybill: str


@dataclass(frozen=True, slots=True)
class GatewayCircuitChanged(Event):
    kind: ClassVar[str] = "gateway_circuit_changed"
    carrier: str
    state: str  # closed | open | half_open
    until: datetime | None
    failures: int

# Every event above, by its kind (the events are the direct subclasses of Event defined in this module).
EVENT_TYPES: dict[str, type[Event]] = {cls.kind: cls for cls in Event.__subclasses__()}


def to_record(event: Event) -> dict[str, Any]:
    """The event as plain JSON-ready data: datetimes as ISO-8601 strings, tuples as lists, plus its `kind`."""
    record: dict[str, Any] = {"kind": event.kind}
    for name in _field_names(type(event)):
        value = getattr(event, name)
        record[name] = value if type(value) in _SCALARS else _plain(value)
    return record


_SCALARS = frozenset({str, int, bool, float, type(None)})


_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:
        names = _FIELD_NAMES[cls] = tuple(field.name for field in dataclasses.fields(cls))
    return names


def from_record(record: dict[str, Any]) -> Event:
    """Rebuild an event from `to_record` output. Unknown kinds raise KeyError: a consumer must know its events."""
    cls = EVENT_TYPES[record["kind"]]
    hints = typing.get_type_hints(cls)
    values = {
        f.name: _typed(record[f.name], hints[f.name]) for f in dataclasses.fields(cls) if f.name in record
    }
    return cls(**values)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


def _typed(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in typing.get_args(hint) if a is not type(None)]
        return _typed(value, non_none[0]) if len(non_none) == 1 else value
    if hint is datetime:
        return datetime.fromisoformat(value)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_typed(v, args[0]) for v in value)
        return tuple(_typed(v, a) for v, a in zip(value, args, strict=True))
    return value
