"""Placing an order: one decision from what is known when it arrives (DESIGN.md: the domain decides, and returns
the events of what it decided).

`decide(request, snapshot)` composes the rules of the other modules — the SKU must be sold in the room, a share
code must belong to the room, attribution, deal pricing, screening, presale, stock reservation, warehouse and
carrier routing, commission — into a frozen `OrderDecision`. A refusal is a `DomainError` (with its `field` and
`code`), and nothing about the snapshot changes either way: the caller applies an accepted or held decision to
its own state. A held order ships nothing until its leader verifies it, so it gets no waybill
(`OrderDecision.with_waybills`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from domain import attribution, commission, growth, order_growth, promise, routing, screening, stock
from domain.address import Address
from domain.attribution import Binding
from domain.deals import Deal, PricedLine, order_total_cents, price_order
from domain.errors import DomainError, SoldOut
from domain.events import (
    CommissionMoved,
    Event,
    OrderAccepted,
    OrderHeld,
    ShipmentPlanned,
    StockChanged,
    VisitorBound,
)

Lines = tuple[tuple[str, int], ...]


# --- what the decision reads -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Room:
    """A live room: the SKUs it sells (empty: every SKU), its commission rates, its binding policy and its
    shipping promise (domain/promise.py; empty: none)."""

    room: str
    skus: frozenset[str]
    rates: commission.RoomRates
    binding: attribution.BindingPolicy
    promise: promise.Promise = ()


@dataclass(frozen=True, slots=True)
class Sku:
    sku: str
    price_cents: int
    presale_when_sold_out: bool = False


@dataclass(frozen=True, slots=True)
class Link:
    """A share code as issued: the room it was made for and the leader it credits."""

    code: str
    room: str
    leader: str


@dataclass(frozen=True, slots=True)
class Leader:
    leader: str
    upline: str | None = None
    pickup: routing.Destination | None = None


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """An order as the buyer sent it (API.md `POST /api/v1/orders`); `at` None means "now"."""

    order: str
    room: str
    visitor: str
    code: str | None
    buyer: Address
    items: Lines
    delivery: str
    at: datetime | None = None
    coupon: str | None = None  # a coupon of the room (domain/growth.py)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What an order is decided against. The mappings are read, never changed: a batch of orders shares one
    snapshot over its own state and applies each decision to that state before deciding the next."""

    now: datetime
    rooms: Mapping[str, Room]
    skus: Mapping[str, Sku]
    levels: Mapping[tuple[str, str], stock.StockLevel]
    warehouses: Sequence[routing.Warehouse]
    links: Mapping[str, Link]
    bindings: Mapping[str, attribution.Binding]
    leaders: Mapping[str, Leader]
    uplines: Mapping[str, str | None]
    deals: Mapping[tuple[str, str, str], Deal]  # (room, sku, leader)
    gmv: Mapping[tuple[str, str], int]  # (room, leader) GMV before this order
    carrier_load: Mapping[str, int]  # parcels each carrier has today
    unavailable: frozenset[str]  # carriers switched off
    policy: routing.CarrierPolicy
    coupons: Mapping[tuple[str, str], growth.Coupon] = field(default_factory=dict)  # (room, coupon), with `used`
    completions: Mapping[tuple[str, str], Mapping[str, datetime]] = field(default_factory=dict)  # (room, leader)
    task_bonuses: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # room → task → bonus_bp


# --- what it decides ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parcel:
    """One planned shipment: `{order}-{n}`, its warehouse, carrier, lines, and waybill once issued."""

    shipment: str
    warehouse: routing.Warehouse
    carrier: str
    lines: Lines
    waybill: str | None = None


@dataclass(frozen=True, slots=True)
class OrderDecision:
    request: OrderRequest
    room: str
    at: datetime
    attribution: attribution.OrderAttribution
    flags: tuple[str, ...]  # screening flags; any holds the order
    priced: tuple[PricedLine, ...]
    deals_used: Mapping[str, Deal]  # by sku, with their new `used`
    total_cents: int  # what the buyer pays: the lines' subtotal less the coupon's discount
    destination: routing.Destination
    presale: Lines  # the units waiting for stock, by sku in order of first appearance
    reserved: Mapping[tuple[str, str], stock.StockLevel]  # the new levels
    shipments: tuple[Parcel, ...]
    ledger: tuple[commission.Entry, ...]
    binding: Binding | None  # the binding to record; None: unchanged
    buyer_masked: str
    events: tuple[Event, ...]
    coupon: growth.Coupon | None = None  # the coupon used, with this use counted
    discount_cents: int = 0
    ship_by: datetime | None = None  # the room's promise for this payment time (domain/promise.py)

    @property
    def subtotal_cents(self) -> int:
        return self.total_cents + self.discount_cents

    @property
    def order(self) -> str:
        return self.request.order

    @property
    def held(self) -> bool:
        return bool(self.flags)

    @property
    def status(self) -> str:
        return "held" if self.held else "accepted"

    @property
    def leader(self) -> str | None:
        return self.attribution.leader

    @property
    def binds_anew(self) -> bool:
        """The order bound its visitor to a leader, new or instead of another (an invite on the leaderboard)."""
        return bool(self.events) and isinstance(self.events[0], VisitorBound)

    @property
    def leader_commission(self) -> commission.Entry | None:
        return next((e for e in self.ledger if e.role == commission.Role.LEADER), None)

    @property
    def waybills_wanted(self) -> tuple[str, ...]:
        """The carriers to book a waybill with, one per parcel; none while the order is held."""
        return () if self.held else tuple(p.carrier for p in self.shipments)

    def with_waybills(self, waybills: Sequence[str]) -> OrderDecision:
        """The decision with its parcels' waybills (as `waybills_wanted` asked), in the parcels and their events."""
        if self.held and waybills:
            raise DomainError(f"order {self.order} is held: it gets no waybill", field="order", code="held")
        if len(waybills) != len(self.waybills_wanted):
            raise ValueError(f"{len(waybills)} waybills for {len(self.waybills_wanted)} parcels")
        if not waybills:
            return self
        parcels = tuple(
            Parcel(p.shipment, p.warehouse, p.carrier, p.lines, w)
            for p, w in zip(self.shipments, waybills, strict=True)
        )
        by_shipment = {p.shipment: p.waybill for p in parcels}
        events = tuple(
            _numbered(e, by_shipment[e.shipment]) if isinstance(e, ShipmentPlanned) else e
            for e in self.events
        )
        # Built field by field: `dataclasses.replace` costs several times more, on every accepted order.
        return OrderDecision(
            self.request,
            self.room,
            self.at,
            self.attribution,
            self.flags,
            self.priced,
            self.deals_used,
            self.total_cents,
            self.destination,
            self.presale,
            self.reserved,
            parcels,
            self.ledger,
            self.binding,
            self.buyer_masked,
            events,
            self.coupon,
            self.discount_cents,
            self.ship_by,
        )


def _numbered(e: ShipmentPlanned, waybill: str | None) -> ShipmentPlanned:
    return ShipmentPlanned(
        at=e.at,
        shipment=e.shipment,
        order=e.order,
        room=e.room,
        leader=e.leader,
        warehouse=e.warehouse,
        carrier=e.carrier,
        waybill=waybill,
        items=e.items,
    )


# --- the rules ---------------------------------------------------------------------------------------------


def mask_name(name: str) -> str:
    """A buyer's name as the public feed shows it: the first character and stars."""
    name = name.strip()
    return name[:1] + "*" * max(1, min(len(name) - 1, 2)) if name else "*"


def aggregate(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    """An order's units per SKU, in order of first appearance."""
    wanted: dict[str, int] = {}
    for sku, qty in items:
        wanted[sku] = wanted.get(sku, 0) + qty
    return wanted


def decide(request: OrderRequest, snapshot: Snapshot) -> OrderDecision:
    """Accept, hold or refuse (raise) one order against `snapshot`; see the module's docstring."""
    room = snapshot.rooms.get(request.room)
    if room is None:
        raise DomainError(f"unknown room: {request.room}", field="room", code="not_found")
    at = request.at or snapshot.now
    check_items(room, snapshot.skus, request.items)
    attributed = attribution.attribute_order(
        snapshot.bindings.get(request.visitor),
        request.visitor,
        code_leader(request, snapshot.links),
        at,
        room.binding,
        snapshot.uplines,
    )
    leader = attributed.leader
    flags = tuple(str(f) for f in screening.check(request.buyer))
    own_deals = {
        key[1]: deal for key, deal in snapshot.deals.items() if key[0] == room.room and key[2] == leader
    }
    prices = {sku: snapshot.skus[sku].price_cents for sku, _ in request.items}
    priced, deals_used = price_order(request.items, prices, own_deals, leader)
    subtotal = order_total_cents(priced)
    discount = order_growth.apply_coupon(
        request.coupon, snapshot.coupons, room=room.room, rates=room.rates, subtotal_cents=subtotal, at=at,
        leader=leader,
    )
    total = subtotal - (discount.cents if discount else 0)
    delivery = routing.Delivery(request.delivery)
    pickup = snapshot.leaders[leader].pickup if leader else None
    destination = routing.destination_for(delivery, routing.buyer_destination(request.buyer), pickup)
    wanted = aggregate(request.items)
    presale, plan = _plan(snapshot, request, wanted, destination)
    reserved = stock.reserve(
        snapshot.levels, [stock.Allocation(sku, p.warehouse, qty) for p in plan for sku, qty in p.lines]
    )
    parcels = _carriers(snapshot, request.order, plan, destination, subtotal, delivery)
    upline = snapshot.leaders[leader].upline if leader else None
    bonus = order_growth.bonus_bp(snapshot.completions, snapshot.task_bonuses, room=room.room, leader=leader, at=at)
    accrued = commission.accrue(
        request.order, total, leader, upline, room.rates, at, snapshot.gmv.get((room.room, leader or ""), 0), bonus
    )
    binding, bound = _binding(attributed, snapshot.bindings, room.room, at)
    decision = OrderDecision(
        request=request,
        room=room.room,
        at=at,
        attribution=attributed,
        flags=flags,
        priced=priced,
        deals_used=deals_used,
        total_cents=total,
        destination=destination,
        presale=tuple((sku, wanted[sku]) for sku in wanted if sku in presale),
        reserved=reserved,
        shipments=parcels,
        ledger=accrued,
        binding=binding,
        buyer_masked=mask_name(request.buyer.name),
        events=(),
        coupon=discount.coupon if discount else None,
        discount_cents=discount.cents if discount else 0,
        ship_by=promise.ship_by(room.promise, at),
    )
    # The events describe the decision itself; set once here, before anyone sees it (cheaper than a copy).
    object.__setattr__(decision, "events", (*bound, *_events(decision)))
    return decision


def check_items(room: Room, skus: Mapping[str, Sku], items: Sequence[tuple[str, int]]) -> None:
    """Every SKU must exist and, when the room lists its SKUs, be one of them."""
    for i, (sku, _qty) in enumerate(items):
        if sku not in skus:
            raise DomainError(f"unknown SKU: {sku}", field=f"items[{i}].sku", code="not_found")
        if room.skus and sku not in room.skus:
            raise DomainError(
                f"SKU {sku} is not sold in room {room.room}", field=f"items[{i}].sku", code="sku_not_in_room"
            )


def code_leader(request: OrderRequest, links: Mapping[str, Link]) -> str | None:
    """The leader a share code on the order credits; a code of another room, or no known code, is refused."""
    if not request.code:
        return None
    link = links.get(request.code)
    if link is None:
        raise DomainError(f"unknown share code: {request.code}", field="code", code="not_found")
    if link.room != request.room:
        raise DomainError(
            f"share code {request.code} belongs to another room", field="code", code="code_other_room"
        )
    return link.leader


def _binding(
    attributed: attribution.OrderAttribution,
    bindings: Mapping[str, attribution.Binding],
    room: str,
    at: datetime,
) -> tuple[attribution.Binding | None, tuple[Event, ...]]:
    """The binding this order records (None: unchanged), and the event when it is a new or changed one."""
    binding = attributed.binding
    if binding is None or bindings.get(binding.visitor) == binding:
        return None, ()
    if attributed.outcome not in (attribution.BindingOutcome.NEW, attribution.BindingOutcome.REBOUND):
        return binding, ()
    event = VisitorBound(
        at=at, room=room, visitor=binding.visitor, leader=binding.leader, outcome=str(attributed.outcome)
    )
    return binding, (event,)


def _field_of(request: OrderRequest, sku: str) -> str:
    index = next(i for i, (s, _) in enumerate(request.items) if s == sku)
    return f"items[{index}].sku"


def _plan(
    snapshot: Snapshot, request: OrderRequest, wanted: dict[str, int], destination: routing.Destination
) -> tuple[tuple[str, ...], tuple[routing.PlannedShipment, ...]]:
    """Which SKUs wait as presale (sold out in the active warehouses, presale on), and which warehouses ship
    the rest."""
    levels, warehouses = snapshot.levels, snapshot.warehouses
    active = [w.code for w in warehouses if w.active]
    available_by_sku: Counter[str] = Counter()
    for sku in wanted:
        for code in active:
            level = levels.get((sku, code))
            if level is not None:
                available_by_sku[sku] += level.available
    presale_on = {sku for sku in wanted if snapshot.skus[sku].presale_when_sold_out}
    try:
        presale = stock.presale_lines(list(wanted.items()), available_by_sku, presale_on)
        to_ship = {sku: qty for sku, qty in wanted.items() if sku not in presale}
        # Only the SKUs being shipped matter to the plan (a missing key means none available).
        available = {
            (sku, w.code): level.available
            for sku in to_ship
            for w in warehouses
            if (level := levels.get((sku, w.code))) is not None
        }
        plan = routing.plan_warehouses(to_ship, available, warehouses, destination) if to_ship else ()
    except SoldOut as sold_out:
        raise SoldOut(
            sold_out.sku,
            field=_field_of(request, sold_out.sku),
            requested=sold_out.requested,
            available=sold_out.available,
        ) from None
    return presale, plan


def _carriers(
    snapshot: Snapshot,
    order: str,
    plan: Sequence[routing.PlannedShipment],
    destination: routing.Destination,
    total: int,
    delivery: routing.Delivery,
) -> tuple[Parcel, ...]:
    by_code = {w.code: w for w in snapshot.warehouses}
    load = Counter(snapshot.carrier_load)
    parcels: list[Parcel] = []
    for i, shipment in enumerate(plan, start=1):
        warehouse = by_code[shipment.warehouse]
        carrier = routing.choose_carrier(
            destination, warehouse, total, delivery, snapshot.policy, snapshot.unavailable, load
        )
        load[carrier] += 1
        parcels.append(Parcel(f"{order}-{i}", warehouse, carrier, shipment.lines))
    return tuple(parcels)


def commission_moved(entry: commission.Entry, room: str) -> CommissionMoved:
    return CommissionMoved(
        at=entry.at,
        order=entry.order,
        room=room,
        leader=entry.leader,
        role=str(entry.role),
        source=None if entry.source is None else str(entry.source),
        target=str(entry.target),
        amount_cents=entry.amount_cents,
        reason=str(entry.reason),
    )


def _events(d: OrderDecision) -> list[Event]:
    request, room, at, leader = d.request, d.room, d.at, d.attribution.leader
    events: list[Event] = [
        OrderAccepted(
            at=at,
            order=request.order,
            room=room,
            leader=leader,
            assists=d.attribution.assists,
            buyer_masked=d.buyer_masked,
            province=d.destination.province,
            city=d.destination.city or "",
            delivery=request.delivery,
            items=tuple(sorted(aggregate(request.items).items())),
            total_cents=d.total_cents,
            status=d.status,
            presale=bool(d.presale),
            coupon=d.coupon.coupon if d.coupon else None,
            discount_cents=d.discount_cents,
            visitor=request.visitor,
            ship_by=d.ship_by,
        )
    ]
    if d.held:
        events.append(OrderHeld(at=at, order=request.order, room=room, leader=leader, flags=d.flags))
    sold: Counter[tuple[str, str]] = Counter()
    for parcel in d.shipments:
        for sku, qty in parcel.lines:
            sold[(sku, parcel.warehouse.code)] += qty
    events.extend(
        StockChanged(
            at=at,
            room=room,
            sku=level.sku,
            warehouse=level.warehouse,
            on_hand=level.on_hand,
            reserved=level.reserved,
            sold=sold[key],
        )
        for key, level in d.reserved.items()
    )
    events.extend(
        ShipmentPlanned(
            at=at,
            shipment=p.shipment,
            order=request.order,
            room=room,
            leader=leader,
            warehouse=p.warehouse.code,
            carrier=p.carrier,
            waybill=p.waybill,
            items=p.lines,
        )
        for p in d.shipments
    )
    events.extend(commission_moved(e, room) for e in d.ledger)
    return events
