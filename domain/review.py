"""The post-live review (issue 13, "The post-live review"): one room's night, folded from the event log.

`fold(records, config)` takes the outbox's event records (`domain.events.to_record` form, plain dicts) in sequence
order and the room's configuration, and returns a `Night`: every order, parcel, stock level, after-sale and outage
that concerns the room. `domain/review_report.py` turns a Night into the answer's sections, `domain/scorecard.py`
scores the carriers. The fold is pure (standard library only): the same log gives the same review, so the review is
exact and can be rebuilt at any time from the outbox.

Records are read as dicts, not event classes, so fields other branches add (`ship_by` on an order) are used when
present and tolerated when absent, and a kind this fold does not know is skipped.

Which room a record belongs to: records that name a `room` (orders, shipments, parcel changes, commission, visits);
records that name only an `order` (a parcel leaving, a stuck parcel, after-sales) through that order. Stock and
warehouse outages are shared by every room; the fold keeps what happened from the room's first order on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class CarrierTerms:
    """A carrier's configured terms: parcels per China day (None = unlimited) and cost per parcel (None = unknown)."""

    daily_capacity: int | None = None
    cost_cents: int | None = None


@dataclass(frozen=True, slots=True)
class ReviewConfig:
    room: str
    as_of: datetime  # the review's own time: a parcel not collected by a ship_by already past is late
    skus: tuple[str, ...] = ()  # the room's SKUs (their stock rows show even when nothing sold)
    forecast: Mapping[tuple[str, str], int] = field(
        default_factory=dict
    )  # (sku, warehouse) → recommended units
    prices: Mapping[str, int] = field(
        default_factory=dict
    )  # sku → list price (splits an order's GMV by line)
    carriers: Mapping[str, CarrierTerms] = field(default_factory=dict)


@dataclass(slots=True)
class Order:
    order: str
    leader: str | None
    visitor: str | None
    paid_at: datetime
    items: dict[str, int]
    total_cents: int
    ship_by: datetime | None
    presale: bool
    held_at: datetime | None = None
    verified_at: datetime | None = None
    flags: tuple[str, ...] = ()
    cancelled: bool = False
    returned: bool = False
    commission_cents: int = 0  # accrued (the ledger's moves from nothing)
    planned_at_paid: dict[str, int] = field(default_factory=dict)  # units planned into parcels at payment


@dataclass(slots=True)
class Incident:
    """A parcel's problem report or stuck alarm, and when it moved again (None: it has not)."""

    kind: str  # problem | stuck | returned
    at: datetime  # the problem's time; for a stuck parcel, its last sign of life
    raised_at: datetime
    moved_at: datetime | None = None


@dataclass(slots=True)
class Parcel:
    shipment: str
    order: str
    warehouse: str
    carrier: str
    items: tuple[tuple[str, int], ...]
    planned_at: datetime
    waybill_at: datetime | None = None
    collected_at: datetime | None = None
    signed_at: datetime | None = None
    state: str = "created"
    incidents: list[Incident] = field(default_factory=list)


@dataclass(slots=True)
class Level:
    """One SKU × warehouse through the night."""

    on_hand: int = 0
    reserved: int = 0
    base: int | None = None  # on_hand when the room's first order came in
    added: int = 0  # units put in after that (replenishment)
    oversold: int = 0  # the most units ever promised beyond what was there (must stay 0)
    sold_out_at: datetime | None = None


@dataclass(slots=True)
class Outage:
    warehouse: str
    down_at: datetime
    up_at: datetime | None = None
    rerouted_all: int = 0  # orders of every room moved off the warehouse (the event's count)
    rerouted: set[str] = field(default_factory=set)  # this room's orders moved off it


@dataclass(slots=True)
class AfterSale:
    after_sale: str
    order: str
    reason: str
    amount_cents: int
    opened_at: datetime
    approved: bool | None = None


@dataclass(slots=True)
class Night:
    config: ReviewConfig
    orders: dict[str, Order] = field(default_factory=dict)
    parcels: dict[str, Parcel] = field(default_factory=dict)
    levels: dict[tuple[str, str], Level] = field(default_factory=dict)
    outages: list[Outage] = field(default_factory=list)
    after_sales: dict[str, AfterSale] = field(default_factory=dict)
    share_visitors: set[str] = field(default_factory=set)  # visitors bound to a leader by a share code here
    moves: list[tuple[str, datetime, str]] = field(
        default_factory=list
    )  # (from warehouse, at, order) re-plans
    started: bool = False  # the room's first order has come in

    def live_orders(self) -> list[Order]:
        return [o for o in self.orders.values() if not o.cancelled]

    def live_parcels(self) -> list[Parcel]:
        return [
            p for p in self.parcels.values() if p.order in self.orders and not self.orders[p.order].cancelled
        ]


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _maybe_time(value: Any) -> datetime | None:
    return None if value in (None, "") else _time(value)


def fold(records: Iterable[Mapping[str, Any]], config: ReviewConfig) -> Night:
    night = Night(config)
    for record in records:
        handler = _HANDLERS.get(str(record.get("kind")))
        if handler is not None:
            handler(night, record)
    return night


def _mine(night: Night, record: Mapping[str, Any]) -> bool:
    """The record concerns one of this room's orders."""
    return str(record.get("order")) in night.orders


def _order_accepted(night: Night, r: Mapping[str, Any]) -> None:
    if r.get("room") != night.config.room or r["order"] in night.orders:
        return
    if not night.started:  # stock as it stood when the room began selling
        night.started = True
        for level in night.levels.values():
            level.base = level.on_hand
    items: dict[str, int] = {}
    for sku, qty in r.get("items") or ():
        items[str(sku)] = items.get(str(sku), 0) + int(qty)
    night.orders[r["order"]] = Order(
        order=r["order"],
        leader=r.get("leader"),
        visitor=r.get("visitor"),
        paid_at=_time(r["at"]),
        items=items,
        total_cents=int(r.get("total_cents") or 0),
        ship_by=_maybe_time(r.get("ship_by")),
        presale=bool(r.get("presale")),
    )


def _order_held(night: Night, r: Mapping[str, Any]) -> None:
    if _mine(night, r):
        order = night.orders[r["order"]]
        order.held_at = order.held_at or _time(r["at"])
        order.flags = tuple(r.get("flags") or ())


def _order_verified(night: Night, r: Mapping[str, Any]) -> None:
    if _mine(night, r) and night.orders[r["order"]].verified_at is None:
        night.orders[r["order"]].verified_at = _time(r["at"])


def _order_cancelled(night: Night, r: Mapping[str, Any]) -> None:
    if _mine(night, r):
        night.orders[r["order"]].cancelled = True


def _stock_changed(night: Night, r: Mapping[str, Any]) -> None:
    key = (str(r["sku"]), str(r["warehouse"]))
    level = night.levels.get(key)
    if level is None:
        level = night.levels[key] = Level()
        if night.started:
            level.base = 0
    on_hand, reserved = int(r["on_hand"]), int(r["reserved"])
    if night.started and on_hand > level.on_hand:
        level.added += on_hand - level.on_hand
    level.on_hand, level.reserved = on_hand, reserved
    if night.started:
        level.oversold = max(level.oversold, reserved - on_hand, -on_hand)
        stocked = (level.base or 0) + level.added
        if (
            level.sold_out_at is None
            and r.get("room") == night.config.room
            and stocked > 0
            and on_hand - reserved <= 0
        ):
            level.sold_out_at = _time(r["at"])


def _shipment_planned(night: Night, r: Mapping[str, Any]) -> None:
    if not _mine(night, r):
        return
    at, order = _time(r["at"]), night.orders[r["order"]]
    items = tuple((str(s), int(q)) for s, q in r.get("items") or ())
    parcel = night.parcels.get(r["shipment"])
    if parcel is None:
        parcel = night.parcels[r["shipment"]] = Parcel(
            shipment=r["shipment"],
            order=r["order"],
            warehouse=r["warehouse"],
            carrier=r["carrier"],
            items=items,
            planned_at=at,
        )
        if at == order.paid_at:
            for sku, qty in items:
                order.planned_at_paid[sku] = order.planned_at_paid.get(sku, 0) + qty
    else:
        if (
            parcel.warehouse != r["warehouse"]
        ):  # re-planned: the outage that caused it is announced right after
            night.moves.append((parcel.warehouse, at, parcel.order))
        parcel.warehouse, parcel.carrier, parcel.items = r["warehouse"], r["carrier"], items
    if r.get("waybill") and parcel.collected_at is None:
        parcel.waybill_at = at  # the waybill the parcel left with (a re-routed parcel gets a new one)


def _parcel_shipped(night: Night, r: Mapping[str, Any]) -> None:
    parcel = night.parcels.get(str(r.get("shipment")))
    if parcel is not None and parcel.collected_at is None:
        parcel.collected_at = _time(r["at"])


def _moved(parcel: Parcel, at: datetime, state_changed: bool) -> None:
    """The carrier spoke after an incident: a stuck parcel moved again; a problem is over with a new state."""
    for incident in parcel.incidents:
        if incident.moved_at is None and at > incident.at and (state_changed or incident.kind == "stuck"):
            incident.moved_at = at


def _parcel_state_changed(night: Night, r: Mapping[str, Any]) -> None:
    parcel = night.parcels.get(str(r.get("shipment")))
    if parcel is None:
        return
    at, state = _time(r["at"]), str(r["state"])
    if state != "problem":
        _moved(parcel, at, True)
    parcel.state = state
    if state == "signed" and parcel.signed_at is None:
        parcel.signed_at = at
    elif state in ("problem", "returned"):
        parcel.incidents.append(Incident(state, at, at))
        if state == "returned":
            night.orders[parcel.order].returned = True


def _parcel_traced(night: Night, r: Mapping[str, Any]) -> None:
    parcel = night.parcels.get(str(r.get("shipment")))
    if parcel is not None:
        _moved(parcel, _time(r["at"]), False)


def _parcel_stuck(night: Night, r: Mapping[str, Any]) -> None:
    parcel = night.parcels.get(str(r.get("shipment")))
    if parcel is not None:
        parcel.incidents.append(Incident("stuck", _time(r.get("since") or r["at"]), _time(r["at"])))


def _commission_moved(night: Night, r: Mapping[str, Any]) -> None:
    if _mine(night, r) and r.get("source") is None:
        night.orders[r["order"]].commission_cents += int(r["amount_cents"])


def _warehouse_status(night: Night, r: Mapping[str, Any]) -> None:
    at, code = _time(r["at"]), str(r["warehouse"])
    open_outage = next((o for o in night.outages if o.warehouse == code and o.up_at is None), None)
    if r.get("active"):
        if open_outage is not None:
            open_outage.up_at = at
        return
    if not night.started:
        return
    if open_outage is None:
        open_outage = Outage(code, at)
        night.outages.append(open_outage)
    open_outage.rerouted_all += int(r.get("rerouted_orders") or 0)
    # The outage's re-plans were written in its transaction (same time), just before this event.
    open_outage.rerouted |= {order for wh, moved_at, order in night.moves if wh == code and moved_at == at}


def _after_sale_opened(night: Night, r: Mapping[str, Any]) -> None:
    if _mine(night, r) and r["after_sale"] not in night.after_sales:
        night.after_sales[r["after_sale"]] = AfterSale(
            r["after_sale"],
            r["order"],
            str(r.get("reason") or ""),
            int(r.get("amount_cents") or 0),
            _time(r["at"]),
        )


def _after_sale_resolved(night: Night, r: Mapping[str, Any]) -> None:
    request = night.after_sales.get(str(r.get("after_sale")))
    if request is not None and request.approved is None:
        request.approved = bool(r.get("approved"))


def _visitor_bound(night: Night, r: Mapping[str, Any]) -> None:
    if r.get("room") == night.config.room and r.get("visitor"):
        night.share_visitors.add(str(r["visitor"]))


_HANDLERS = {
    "order_accepted": _order_accepted,
    "order_held": _order_held,
    "order_verified": _order_verified,
    "order_cancelled": _order_cancelled,
    "stock_changed": _stock_changed,
    "shipment_planned": _shipment_planned,
    "parcel_shipped": _parcel_shipped,
    "parcel_state_changed": _parcel_state_changed,
    "parcel_traced": _parcel_traced,
    "parcel_stuck": _parcel_stuck,
    "commission_moved": _commission_moved,
    "warehouse_status_changed": _warehouse_status,
    "after_sale_opened": _after_sale_opened,
    "after_sale_resolved": _after_sale_resolved,
    "visitor_bound": _visitor_bound,
}
KINDS = frozenset(_HANDLERS)  # the only kinds the review reads (the service loads just these from the outbox)
