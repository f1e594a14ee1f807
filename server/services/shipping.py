"""Parcels after an order is placed: booking carriers and waybills, serving presale backorders when stock is
replenished, and re-routing a warehouse's unshipped parcels when it goes down (routing issue: "An outage
re-plans unshipped orders"; stock issue: presale ships on replenishment, first in first out).

Every function here runs inside the caller's writer transaction (`tx`) and decides with the domain first, so a
refusal raises before anything is written; stock is still changed with guarded updates (no oversell).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from domain import routing, stock
from domain.china_time import china_day
from domain.errors import DomainError
from domain.events import ShipmentPlanned
from server.context import AppContext
from server.services import catalog_rows, promises, stock_rows, waybill_rows
from server.services.order_writes import add_carrier_days
from server.services.stock_rows import load_levels
from store import models
from store.uow import Tx

Lines = tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Consignee:
    """What carrier choice and the shipment events need to know about an order."""

    order: str
    room: str
    leader: str | None
    destination: routing.Destination
    total_cents: int
    delivery: routing.Delivery
    held: bool

    @classmethod
    def of(cls, row: Any, destination: Mapping[str, Any] | None = None, *,
           held: bool | None = None) -> Consignee:
        """From an `orders` row; `destination`/`held` override the row's (a held order being verified)."""
        where = destination if destination is not None else row.destination
        return cls(row.order, row.room, row.leader, routing.Destination(where["province"], where.get("city")),
                   row.total_cents, routing.Delivery(row.delivery),
                   row.status == "held" if held is None else held)


@dataclass(frozen=True)
class Parcel:
    shipment: str
    warehouse: str
    lines: Lines
    carrier: str = ""
    waybill: str | None = None


@dataclass
class CarrierDesk:
    """The carrier state one transaction books against: warehouses, carriers marked down, today's load."""

    warehouses: dict[str, routing.Warehouse]
    unavailable: frozenset[str]
    load: Counter[str]
    day: str
    capacity: dict[str, int | None] = field(default_factory=dict)  # daily capacity set by operations
    delta: Counter[tuple[str, str]] = field(default_factory=Counter)

    @classmethod
    async def load_for(cls, tx: Tx) -> CarrierDesk:
        rows = await tx.conn.execute(select(models.warehouses))
        warehouses = {r.code: catalog_rows.warehouse(r) for r in rows}
        carriers = list(await tx.conn.execute(select(models.carriers)))
        unavailable = frozenset(r.carrier for r in carriers if not r.available) | waybill_rows.blocked(
            carriers, tx.now)
        day = china_day(tx.now)
        load: Counter[str] = Counter({r.carrier: r.assigned for r in await tx.conn.execute(
            select(models.carrier_days).where(models.carrier_days.c.day == day))})
        return cls(warehouses, unavailable, load, day, {r.carrier: r.daily_capacity for r in carriers})

    def choose(self, consignee: Consignee, parcels: Sequence[Parcel],
               policy: routing.CarrierPolicy) -> list[Parcel]:
        """Carriers for the parcels (domain rules), without booking them: a refusal here changes nothing."""
        load = Counter(self.load)
        policy = policy.with_capacity(self.capacity)
        chosen = []
        for parcel in parcels:
            carrier = routing.choose_carrier(consignee.destination, self.warehouses[parcel.warehouse],
                                             consignee.total_cents, consignee.delivery, policy,
                                             self.unavailable, load)
            load[carrier] += 1
            chosen.append(replace(parcel, carrier=carrier))
        return chosen

    def assign(self, carrier: str) -> None:
        self.load[carrier] += 1
        self.delta[(carrier, self.day)] += 1

    def unassign(self, carrier: str, at: datetime) -> None:
        """A parcel given to another carrier no longer counts for the one it had (shares and capacity)."""
        day = china_day(at)
        if day == self.day:
            self.load[carrier] -= 1
        self.delta[(carrier, day)] -= 1

    async def flush(self, tx: Tx) -> None:
        await add_carrier_days(tx, self.delta)
        self.delta.clear()


async def _book(tx: Tx, app: AppContext, desk: CarrierDesk, consignee: Consignee,
                parcels: Sequence[Parcel]) -> list[Parcel]:
    """Book the chosen carriers: count them, issue waybills (none while the order is held), announce them.

    With a gateway that issues waybills (kdniao) the parcels get none here: each is queued for one, requested
    after the commit by the worker (waybill_rows.request_waybills); kuaidi100 mode queues their subscriptions."""
    for parcel in parcels:
        desk.assign(parcel.carrier)
    if not consignee.held and parcels and not waybill_rows.issued_by_gateway(app.settings):
        await app.waybills.prepare(tx)
        numbers = app.waybills.issue(tx, [p.carrier for p in parcels])
        parcels = [replace(p, waybill=n) for p, n in zip(parcels, numbers, strict=True)]
    tx.emit(*(ShipmentPlanned(at=tx.now, shipment=p.shipment, order=consignee.order, room=consignee.room,
                              leader=consignee.leader, warehouse=p.warehouse, carrier=p.carrier,
                              waybill=p.waybill, items=p.lines) for p in parcels))
    if not consignee.held:
        await waybill_rows.request_waybills(tx, app.settings, consignee.order, consignee.room, consignee.leader,
                                            [(p.shipment, p.carrier, p.waybill) for p in parcels])
    return list(parcels)


def _new_row(order: str, parcel: Parcel, now: datetime) -> dict[str, Any]:
    return {"shipment": parcel.shipment, "order": order, "warehouse": parcel.warehouse,
            "carrier": parcel.carrier, "waybill": parcel.waybill, "state": "created", "furthest": "created",
            "items": [list(line) for line in parcel.lines], "created_at": now, "last_event_at": None,
            "state_since": now, "shipped_at": None, "stuck_at": None}


async def _rebook_row(tx: Tx, parcel: Parcel) -> None:
    t = models.shipments
    await tx.conn.execute(update(t).where(t.c.shipment == parcel.shipment).values(
        warehouse=parcel.warehouse, carrier=parcel.carrier, waybill=parcel.waybill,
        items=[list(line) for line in parcel.lines], state_since=tx.now, stuck_at=None))


class ShipmentIds:
    """New shipment ids go on from the order's own: `{order}-1`, `{order}-2`, ... skipping those taken."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)

    @classmethod
    async def load_for(cls, tx: Tx, orders: Collection[str]) -> ShipmentIds:
        t = models.shipments
        rows = await tx.conn.execute(select(t.c.shipment).where(t.c.order.in_(orders)))
        return cls(r.shipment for r in rows)

    def next(self, order: str) -> str:
        n = 1
        while f"{order}-{n}" in self.taken:
            n += 1
        self.taken.add(f"{order}-{n}")
        return f"{order}-{n}"


# --- held orders --------------------------------------------------------------------------------------------


async def issue_waybills(tx: Tx, app: AppContext, consignee: Consignee,
                         shipment_rows: Sequence[Any]) -> list[Parcel]:
    """Choose each parcel's carrier again for the consignee's (now verified) destination and book its waybill.

    For a held order once the leader has fixed it: pass `Consignee.of(order_row, new_destination,
    held=False)` and the order's live (not cancelled, not shipped) shipment rows. Updates the rows, moves the
    carrier counts, emits ShipmentPlanned per parcel and returns the booked parcels.
    """
    desk = await CarrierDesk.load_for(tx)
    for row in shipment_rows:
        desk.unassign(row.carrier, row.created_at)
    await waybill_rows.forget_refusals(tx, [r.shipment for r in shipment_rows])
    wanted = [Parcel(r.shipment, r.warehouse, _lines(r.items)) for r in shipment_rows]
    parcels = desk.choose(consignee, wanted, app.carrier_policy)
    booked = await _book(tx, app, desk, consignee, parcels)
    for parcel in booked:
        await _rebook_row(tx, parcel)
    await desk.flush(tx)
    return booked


def _lines(items: Iterable[Sequence[Any]]) -> Lines:
    total: Counter[str] = Counter()
    for sku, qty in items:
        total[sku] += qty
    return tuple(sorted(total.items()))


# --- stock rows ---------------------------------------------------------------------------------------------


# --- presale backorders -------------------------------------------------------------------------------------


async def serve_backorders(tx: Tx, app: AppContext, skus: Collection[str]) -> int:
    """Replenishment serves the waiting presale lines of these SKUs first in first out
    (domain.stock.fill_backorders): each filled line becomes a parcel of its order from the warehouse the rule
    picked, its units reserved. Returns how many backorders were filled."""
    waiting = await _waiting_backorders(tx, skus)
    if not waiting:
        return 0
    desk = await CarrierDesk.load_for(tx)
    active = {code for code, w in desk.warehouses.items() if w.active}
    levels = {k: lv for k, lv in (await load_levels(tx, skus)).items() if k[1] in active}
    filled, reserved = stock.fill_backorders(levels, list(waiting))
    if not filled:
        return 0
    ids = await ShipmentIds.load_for(tx, {b.order for b, _ in filled})
    await promises.presale_filled(tx, {b.order for b, _ in filled})
    rows: list[dict[str, Any]] = []
    for backorder, allocation in filled:
        consignee = waiting[backorder][1]
        parcel = Parcel(ids.next(backorder.order), allocation.warehouse, ((allocation.sku, allocation.qty),))
        booked = await _book(tx, app, desk, consignee, desk.choose(consignee, [parcel], app.carrier_policy))
        rows.extend(_new_row(backorder.order, p, tx.now) for p in booked)
    await tx.conn.execute(models.shipments.insert(), rows)
    taken: Counter[stock.Key] = Counter()
    for _, allocation in filled:
        taken[(allocation.sku, allocation.warehouse)] += allocation.qty
    await stock_rows.reserve(tx, taken)
    await tx.conn.execute(update(models.backorders).where(
        models.backorders.c.id.in_([waiting[b][0] for b, _ in filled])).values(filled=True))
    await desk.flush(tx)
    stock_rows.changed(tx, reserved.values())
    return len(filled)


async def _waiting_backorders(tx: Tx, skus: Collection[str]) -> dict[stock.Backorder, tuple[int, Consignee]]:
    """Open backorders of live orders, each with its row id and its order as a consignee."""
    b, o = models.backorders, models.orders
    rows = await tx.conn.execute(
        select(b.c.id, b.c.sku, b.c.qty, b.c.at, o).join(o, o.c.order == b.c.order)
        .where(b.c.sku.in_(skus), b.c.filled.is_(False), o.c.status != "cancelled"))
    return {stock.Backorder(r.order, r.sku, r.qty, r.at): (r.id, Consignee.of(r)) for r in rows}


# --- warehouse outage ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reroute:
    rerouted_orders: int
    stranded_shipments: int


async def reroute(tx: Tx, app: AppContext, down: str) -> Reroute:
    """Move the unshipped parcels of warehouse `down` (already marked inactive) to the warehouses that can
    serve them now (domain.routing.replan), oldest parcels first: their reserved units are released at
    `down` and reserved where they go, carriers are chosen again and new waybills issued (none while an order
    is held). A parcel no other warehouse can serve stays where it is, counted as stranded."""
    parcels = await _unshipped(tx, down)
    if not parcels:
        return Reroute(0, 0)
    o = models.orders
    orders = {r.order: Consignee.of(r) for r in await tx.conn.execute(
        select(o).where(o.c.order.in_({p.order for p in parcels})))}
    desk = await CarrierDesk.load_for(tx)
    levels = await load_levels(tx, {sku for p in parcels for sku, _ in p.items})
    ids = await ShipmentIds.load_for(tx, set(orders))
    moved = _Moves(levels)
    rerouted: set[str] = set()
    stranded = 0
    for row in parcels:
        consignee = orders[row.order]
        plan = _replan(moved, desk, consignee, row, down, app.carrier_policy)
        if plan is None:
            stranded += 1
            continue
        moved.move(row, plan)
        # The parcel keeps its id for the first new warehouse; a split adds parcels to the order.
        plan = [replace(p, shipment=ids.next(row.order) if i else row.shipment) for i, p in enumerate(plan)]
        desk.unassign(row.carrier, row.created_at)
        booked = await _book(tx, app, desk, consignee, plan)
        await _rebook_row(tx, booked[0])
        if booked[1:]:
            await tx.conn.execute(models.shipments.insert(),
                                  [_new_row(row.order, p, tx.now) for p in booked[1:]])
        rerouted.add(row.order)
    await stock_rows.release(tx, moved.released)
    await stock_rows.reserve(tx, moved.reserved)
    await desk.flush(tx)
    stock_rows.changed(tx, moved.changed())
    return Reroute(len(rerouted), stranded)


async def _unshipped(tx: Tx, warehouse: str) -> list[Any]:
    t = models.shipments
    return list(await tx.conn.execute(
        select(t).where(t.c.warehouse == warehouse, t.c.shipped_at.is_(None), t.c.state != "cancelled")
        .order_by(t.c.created_at, t.c.shipment)))


class _Moves:
    """Stock as parcels move during one re-route: the levels in memory and the net reserve/release per row."""

    def __init__(self, levels: dict[stock.Key, stock.StockLevel]) -> None:
        self.levels = levels
        self.touched: set[stock.Key] = set()
        self.released: Counter[stock.Key] = Counter()
        self.reserved: Counter[stock.Key] = Counter()

    def without(self, row: Any) -> dict[stock.Key, stock.StockLevel]:
        """The levels as they would be once the parcel's units at its warehouse are released."""
        return {**self.levels, **stock.release(self.levels, _allocations(row.warehouse, _lines(row.items)))}

    def move(self, row: Any, plan: Sequence[Parcel]) -> None:
        released = self.without(row)
        taken = [a for p in plan for a in _allocations(p.warehouse, p.lines)]
        self.levels = {**released, **stock.reserve(released, taken)}
        for a in _allocations(row.warehouse, _lines(row.items)):
            self.released[(a.sku, a.warehouse)] += a.qty
            self.touched.add((a.sku, a.warehouse))
        for a in taken:
            self.reserved[(a.sku, a.warehouse)] += a.qty
            self.touched.add((a.sku, a.warehouse))

    def changed(self) -> list[stock.StockLevel]:
        return [self.levels[k] for k in sorted(self.touched)]


def _allocations(warehouse: str, lines: Lines) -> list[stock.Allocation]:
    return [stock.Allocation(sku, warehouse, qty) for sku, qty in lines]


def _replan(moves: _Moves, desk: CarrierDesk, consignee: Consignee, row: Any, down: str,
            policy: routing.CarrierPolicy) -> list[Parcel] | None:
    """Where the parcel's lines go now, with carriers; None when no other warehouse can take them."""
    available = {key: level.available for key, level in moves.without(row).items()}
    try:
        plan = routing.replan(dict(_lines(row.items)), available, list(desk.warehouses.values()),
                              consignee.destination, down)
        return desk.choose(consignee, [Parcel("", p.warehouse, p.lines) for p in plan], policy)
    except DomainError:  # sold out elsewhere, or no carrier for the new route: the parcel waits where it is
        return None
