"""Placing orders: every rule from `domain/`, many orders decided in one transaction (group commit).

A batch of orders loads once what the rules need (rooms, SKUs, stock, bindings, leaders, deals, counters), decides
each order in arrival order against that state in memory — so the second order of a batch sees the stock the first
one took — and then writes all of them with a handful of statements. An order the rules refuse changes nothing:
every decision is computed first and applied to the in-memory state only once nothing can fail any more.
Stock is still guarded in SQL: each changed row is a conditional update that must match, or the batch rolls back.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import orjson
from sqlalchemy import bindparam, select, update

from domain import attribution, commission, routing, screening, stock
from domain.china_time import china_day
from domain.deals import Deal, PricedLine, order_total_cents, price_order
from domain.errors import Conflict, DomainError, SoldOut
from domain.events import (
    Event,
    OrderAccepted,
    OrderHeld,
    ShipmentPlanned,
    StockChanged,
    VisitorBound,
)
from server.context import AppContext
from server.services import catalog_rows, ledger, stock_rows
from server.services.stock_rows import StockGuardTripped
from store import models
from store.sql import accumulate, guarded_update, insert_many, upsert
from store.uow import Command, Tx, log_failure


@dataclass(frozen=True)
class Buyer:
    name: str
    phone: str
    province: str
    city: str
    district: str
    address: str


@dataclass(frozen=True)
class OrderRequest:
    """An order as the API validated it. `body_hash` identifies the body for idempotent replays."""

    order: str
    room: str
    visitor: str
    code: str | None
    buyer: Buyer
    items: tuple[tuple[str, int], ...]
    delivery: str
    at: datetime | None
    body_hash: str


@dataclass(frozen=True)
class OrderAnswer:
    status_code: int  # 201 first time, 200 for a replay of the same body
    body: dict[str, Any]


async def place(app: AppContext, request: OrderRequest) -> OrderAnswer:
    """Decide and commit one order (with whatever other orders are waiting), answering after the commit."""
    return await app.writer.submit(PlaceOrder(request, app))


def body_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


def mask_name(name: str) -> str:
    """A buyer's name as the public feed shows it: the first character and stars."""
    name = name.strip()
    return name[:1] + "*" * max(1, min(len(name) - 1, 2)) if name else "*"


def _day_or_none(at: datetime) -> str | None:
    """The day an order counts for, when it has one: an order whose time cannot be placed in China's calendar fails
    alone when it is decided, not the batch loading the carriers' days."""
    try:
        return china_day(at)
    except (OverflowError, ValueError):
        return None


@dataclass
class OrderBook:
    """The state a batch of orders is decided against, and the writes those decisions add up to."""

    existing: dict[str, tuple[str, dict[str, Any]]]
    rooms: dict[str, Any]
    skus: dict[str, Any]
    levels: dict[tuple[str, str], stock.StockLevel]
    warehouses: list[routing.Warehouse]
    links: dict[str, Any]
    bindings: dict[str, attribution.Binding]
    leaders: dict[str, Any]
    deals: dict[tuple[str, str, str], Deal]
    gmv: dict[tuple[str, str], int]
    carrier_load: Counter[str]
    unavailable: frozenset[str]
    # writes
    order_rows: list[dict[str, Any]] = field(default_factory=list)
    line_rows: list[dict[str, Any]] = field(default_factory=list)
    shipment_rows: list[dict[str, Any]] = field(default_factory=list)
    backorder_rows: list[dict[str, Any]] = field(default_factory=list)
    ledger_rows: list[dict[str, Any]] = field(default_factory=list)
    bound: dict[str, tuple[attribution.Binding, str]] = field(default_factory=dict)
    reserved_delta: Counter[tuple[str, str]] = field(default_factory=Counter)
    deal_delta: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    board_delta: dict[tuple[str, str], Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    carrier_delta: Counter[tuple[str, str]] = field(default_factory=Counter)
    # Worked out once per batch from the rows loaded, not once per order.
    @cached_property
    def uplines(self) -> dict[str, str | None]:
        return {leader: row.upline for leader, row in self.leaders.items()}

    @cached_property
    def room_rates(self) -> dict[str, commission.RoomRates]:
        return {room: catalog_rows.room_rates(row) for room, row in self.rooms.items()}

    @cached_property
    def binding_policies(self) -> dict[str, attribution.BindingPolicy]:
        return {room: catalog_rows.binding_policy(row) for room, row in self.rooms.items()}


def _any_of(column: Any) -> Any:
    return column.in_(bindparam("any", expanding=True))


# Built once: constructing a SELECT costs more than SQLite running it.
_EXISTING = select(models.orders.c.order, models.orders.c.body_hash, models.orders.c.response).where(
    _any_of(models.orders.c.order)
)
_ROOMS = select(models.rooms).where(_any_of(models.rooms.c.room))
_SKUS = select(models.skus).where(_any_of(models.skus.c.sku))
_STOCK = select(models.stock).where(_any_of(models.stock.c.sku))
_WAREHOUSES = select(models.warehouses)
_LINKS = select(models.links).where(_any_of(models.links.c.code))
_BINDINGS = select(models.bindings).where(_any_of(models.bindings.c.visitor))
_LEADERS = select(models.leaders).where(_any_of(models.leaders.c.leader))
_DEALS = select(models.deals).where(
    models.deals.c.room.in_(bindparam("rooms", expanding=True)), _any_of(models.deals.c.leader)
)
_BOARD = select(models.room_leaders.c.room, models.room_leaders.c.leader, models.room_leaders.c.gmv_cents).where(
    models.room_leaders.c.room.in_(bindparam("rooms", expanding=True)), _any_of(models.room_leaders.c.leader)
)
_CARRIER_DAYS = select(models.carrier_days).where(_any_of(models.carrier_days.c.day))
_UNAVAILABLE = select(models.carriers.c.carrier).where(models.carriers.c.available.is_(False))


async def load_book(tx: Tx, requests: Sequence[OrderRequest]) -> OrderBook:
    conn = tx.conn

    async def rows(statement: Any, values: Iterable[Any] | None = None, **more: Any) -> Any:
        params = {"any": list(values)} if values is not None else {}
        params.update({k: list(v) for k, v in more.items()})
        return await conn.execute(statement, params)

    existing = {
        row.order: (row.body_hash, row.response) for row in await rows(_EXISTING, [r.order for r in requests])
    }
    room_ids = {r.room for r in requests}
    rooms = {row.room: row for row in await rows(_ROOMS, room_ids)}
    sku_ids = {sku for r in requests for sku, _ in r.items}
    skus = {row.sku: row for row in await rows(_SKUS, sku_ids)}
    levels = {
        (row.sku, row.warehouse): catalog_rows.stock_level(row) for row in await rows(_STOCK, sku_ids)
    }
    warehouses = [catalog_rows.warehouse(row) for row in await rows(_WAREHOUSES)]
    links = {row.code: row for row in await rows(_LINKS, {r.code for r in requests if r.code})}
    visitors = {r.visitor for r in requests}
    bindings = {row.visitor: catalog_rows.binding(row) for row in await rows(_BINDINGS, visitors)}
    leaders = await load_leaders(
        tx, {link.leader for link in links.values()} | {b.leader for b in bindings.values()} | visitors
    )
    # Deals and GMV only matter for the leaders an order of this batch can be attributed to.
    deals = {
        (row.room, row.sku, row.leader): Deal(
            row.room, row.sku, row.leader, row.price_cents, row.quota, row.used
        )
        for row in await rows(_DEALS, leaders, rooms=room_ids)
    }
    gmv = {(row.room, row.leader): row.gmv_cents for row in await rows(_BOARD, leaders, rooms=room_ids)}
    load: Counter[str] = Counter()
    days = {day for r in requests if (day := _day_or_none(r.at or tx.now))}
    for row in await rows(_CARRIER_DAYS, days):
        load[row.carrier] += row.assigned
    unavailable = frozenset(row.carrier for row in await rows(_UNAVAILABLE))
    return OrderBook(
        existing, rooms, skus, levels, warehouses, links, bindings, leaders, deals, gmv, load, unavailable
    )


async def load_leaders(tx: Tx, wanted: Iterable[str]) -> dict[str, Any]:
    """The named leaders and all their uplines (the chain the no-loop rule and team commission walk)."""
    leaders: dict[str, Any] = {}
    frontier = {w for w in wanted if w}
    for _ in range(32):  # deeper chains than this are refused when uplines are set
        if not frontier:
            break
        for row in await tx.conn.execute(_LEADERS, {"any": list(frontier)}):
            leaders[row.leader] = row
        frontier = {row.upline for row in leaders.values() if row.upline and row.upline not in leaders}
    return leaders


class PlaceOrder(Command[OrderAnswer]):
    batch_group = "orders"

    def __init__(self, request: OrderRequest, app: AppContext) -> None:
        self.request = request
        self.app = app

    @classmethod
    async def run_batch(cls, tx: Tx, commands: Sequence[Command[Any]]) -> list[Any]:
        orders = [c for c in commands if isinstance(c, PlaceOrder)]
        book = await load_book(tx, [c.request for c in orders])
        if orders:
            await orders[0].app.waybills.prepare(tx)
        results: list[Any] = []
        for command in orders:
            # An order changes the book only once nothing about it can fail any more (see `Decision.apply`), so
            # one that raises, refused or failing for any other reason, is simply left out: the others still
            # commit together, with the same few statements.
            try:
                results.append(command.decide(tx, book))
            except DomainError as refused:
                results.append(refused)
            except Exception as failure:  # this order's caller gets it; the batch goes on
                log_failure(command, failure)
                results.append(failure)
        await flush(tx, book)
        return results

    def decide(self, tx: Tx, book: OrderBook) -> OrderAnswer:
        request = self.request
        seen = book.existing.get(request.order)
        if seen is not None:
            if seen[0] != request.body_hash:
                raise Conflict(
                    f"order {request.order} was placed with another body",
                    field="order",
                    code="idempotency_conflict",
                )
            return OrderAnswer(200, seen[1])
        decision = Decision.make(tx, book, request, self.app.carrier_policy)
        if not decision.held:  # an order failing after this leaves a gap in the waybill serials, never a repeat
            decision.waybills = self.app.waybills.issue(tx, [s.carrier for s in decision.shipments])
        answer = decision.apply(tx, book, self.app)
        book.existing[request.order] = (request.body_hash, answer)
        return OrderAnswer(201, answer)


@dataclass
class PlannedParcel:
    shipment: str
    warehouse: routing.Warehouse
    carrier: str
    lines: tuple[tuple[str, int], ...]


@dataclass
class Decision:
    """Everything decided about one order before anything is applied."""

    request: OrderRequest
    room: Any
    at: datetime
    attribution: attribution.OrderAttribution
    flags: tuple[str, ...]
    priced: tuple[PricedLine, ...]
    deals_used: dict[str, Deal]
    total_cents: int
    destination: routing.Destination
    presale: tuple[str, ...]
    reserved: dict[tuple[str, str], stock.StockLevel]
    shipments: list[PlannedParcel]
    ledger: tuple[commission.Entry, ...]
    waybills: list[str] = field(default_factory=list)

    @property
    def held(self) -> bool:
        return bool(self.flags)

    @classmethod
    def make(cls, tx: Tx, book: OrderBook, request: OrderRequest, policy: routing.CarrierPolicy) -> Decision:
        room = book.rooms.get(request.room)
        if room is None:
            raise DomainError(f"unknown room: {request.room}", field="room", code="not_found")
        at = request.at or tx.now
        _check_items(book, room, request.items)
        code_leader = _code_leader(book, request)
        attributed = attribution.attribute_order(
            book.bindings.get(request.visitor),
            request.visitor,
            code_leader,
            at,
            book.binding_policies[room.room],
            book.uplines,
        )
        leader = attributed.leader
        flags = tuple(str(f) for f in screening.check(screening.Address(**vars(request.buyer))))
        own_deals = {
            key[1]: deal for key, deal in book.deals.items() if key[0] == room.room and key[2] == leader
        }
        prices = {sku: book.skus[sku].price_cents for sku, _ in request.items}
        priced, deals_used = price_order(request.items, prices, own_deals, leader)
        total = order_total_cents(priced)
        delivery = routing.Delivery(request.delivery)
        pickup = catalog_rows.pickup_destination(book.leaders[leader].pickup_point) if leader else None
        destination = routing.destination_for(
            delivery, routing.Destination(request.buyer.province, request.buyer.city), pickup
        )
        wanted = _aggregate(request.items)
        presale, plan = _plan(book, request, wanted, destination)
        reserved = stock.reserve(
            book.levels, [stock.Allocation(sku, p.warehouse, qty) for p in plan for sku, qty in p.lines]
        )
        shipments = _carriers(book, request, plan, destination, total, delivery, policy)
        upline = book.leaders[leader].upline if leader else None
        accrued = commission.accrue(
            request.order,
            total,
            leader,
            upline,
            book.room_rates[room.room],
            at,
            book.gmv.get((room.room, leader or ""), 0),
        )
        return cls(
            request,
            room,
            at,
            attributed,
            flags,
            priced,
            deals_used,
            total,
            destination,
            presale,
            reserved,
            shipments,
            accrued,
        )

    def apply(self, tx: Tx, book: OrderBook, app: AppContext) -> dict[str, Any]:
        """Record the decision in the book and the outbox. Nothing in here refuses, and whatever could still fail
        (a bug, an input nobody foresaw) is worked out first: the book and the outbox change only after that, by
        appends and sums, so an order that fails here leaves the batch's state exactly as it was."""
        request, room, at = self.request, self.room, self.at
        answer = self._answer(app)
        order_row = self._order_row(answer)
        line_rows = [
            {
                "order": request.order,
                "line": i,
                "sku": p.sku,
                "qty": p.qty,
                "unit_price_cents": p.unit_price_cents,
                "deal_leader": p.deal_leader,
            }
            for i, p in enumerate(self.priced)
        ]
        backorder_rows = [
            {"order": request.order, "sku": sku, "qty": qty, "at": at, "filled": False}
            for sku, qty in _aggregate(request.items).items()
            if sku in self.presale
        ]
        day = china_day(at)
        shipment_rows = self._shipment_rows()
        ledger_rows = [ledger.row(e, room.room) for e in self.ledger]
        binding, bound_event = self._binding(book)
        events = [*bound_event, *self._events(answer)]
        # Decided and worked out: from here on, only the book and the outbox change.
        book.levels.update(self.reserved)
        for deal in self.deals_used.values():
            before = book.deals[(deal.room, deal.sku, deal.leader)]
            book.deal_delta[(deal.room, deal.sku, deal.leader)] += deal.used - before.used
            book.deals[(deal.room, deal.sku, deal.leader)] = deal
        if binding is not None:
            book.bindings[binding.visitor] = binding
            book.bound[binding.visitor] = (binding, room.room)
            if bound_event:
                book.board_delta[(room.room, binding.leader)].update(invites=1)
        leader = self.attribution.leader
        if leader:
            book.gmv[(room.room, leader)] = book.gmv.get((room.room, leader), 0) + self.total_cents
            book.board_delta[(room.room, leader)].update(gmv_cents=self.total_cents, orders=1)
        for assist in self.attribution.assists:
            book.board_delta[(room.room, assist)].update(assists=1)
        book.order_rows.append(order_row)
        book.line_rows.extend(line_rows)
        book.backorder_rows.extend(backorder_rows)
        book.shipment_rows.extend(shipment_rows)
        for parcel in self.shipments:
            book.carrier_load[parcel.carrier] += 1
            book.carrier_delta[(parcel.carrier, day)] += 1
            for sku, qty in parcel.lines:
                book.reserved_delta[(sku, parcel.warehouse.code)] += qty
        book.ledger_rows.extend(ledger_rows)
        tx.emit(*events)
        return answer

    def _binding(self, book: OrderBook) -> tuple[attribution.Binding | None, list[Event]]:
        """The binding this order records (None: unchanged), and the event when it is a new or changed one."""
        binding = self.attribution.binding
        if binding is None or book.bindings.get(binding.visitor) == binding:
            return None, []
        if self.attribution.outcome not in (attribution.BindingOutcome.NEW, attribution.BindingOutcome.REBOUND):
            return binding, []
        event = VisitorBound(
            at=self.at,
            room=self.room.room,
            visitor=binding.visitor,
            leader=binding.leader,
            outcome=str(self.attribution.outcome),
        )
        return binding, [event]

    def _shipment_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "shipment": parcel.shipment,
                "order": self.request.order,
                "warehouse": parcel.warehouse.code,
                "carrier": parcel.carrier,
                "waybill": waybill,
                "state": "created",
                "furthest": "created",
                "items": [list(line) for line in parcel.lines],
                "created_at": self.at,
                "last_event_at": None,
                "state_since": self.at,
                "shipped_at": None,
                "stuck_at": None,
            }
            for parcel, waybill in zip(
                self.shipments, self.waybills or [None] * len(self.shipments), strict=True
            )
        ]

    def _answer(self, app: AppContext) -> dict[str, Any]:
        request = self.request
        leader_entry = next((e for e in self.ledger if e.role == commission.Role.LEADER), None)
        waybills = self.waybills or [None] * len(self.shipments)
        return {
            "order": request.order,
            "status": "held" if self.held else "accepted",
            "leader": self.attribution.leader,
            "assists": list(self.attribution.assists),
            "total_cents": self.total_cents,
            "shipments": [
                {
                    "shipment": p.shipment,
                    "warehouse": p.warehouse.code,
                    "carrier": p.carrier,
                    "waybill": w,
                    "state": "created",
                    "items": [{"sku": sku, "qty": qty} for sku, qty in p.lines],
                }
                for p, w in zip(self.shipments, waybills, strict=True)
            ],
            "presale": [
                {"sku": sku, "qty": qty}
                for sku, qty in _aggregate(request.items).items()
                if sku in self.presale
            ],
            "commission": {
                "leader": self.attribution.leader,
                "amount_cents": leader_entry.amount_cents if leader_entry else 0,
                "state": str(leader_entry.target) if leader_entry else None,
            },
            "flags": list(self.flags),
            "tracking_url": app.tracking_url(request.order, self.at),
        }

    def _order_row(self, answer: dict[str, Any]) -> dict[str, Any]:
        request = self.request
        return {
            "order": request.order,
            "room": request.room,
            "visitor": request.visitor,
            "leader": self.attribution.leader,
            "code": request.code,
            "status": answer["status"],
            "delivery": request.delivery,
            "buyer": vars(request.buyer),
            "destination": {"province": self.destination.province, "city": self.destination.city},
            "total_cents": self.total_cents,
            "refunded_cents": 0,
            "presale": bool(self.presale),
            "flags": list(self.flags),
            "assists": list(self.attribution.assists),
            "body_hash": request.body_hash,
            "response": answer,
            "placed_at": self.at,
            "signed_at": None,
            "updated_at": self.at,
        }

    def _events(self, answer: dict[str, Any]) -> list[Event]:
        request, room, at, leader = self.request, self.room.room, self.at, self.attribution.leader
        events: list[Event] = [
            OrderAccepted(
                at=at,
                order=request.order,
                room=room,
                leader=leader,
                assists=self.attribution.assists,
                buyer_masked=mask_name(request.buyer.name),
                province=self.destination.province,
                city=self.destination.city or "",
                delivery=request.delivery,
                items=_aggregate_tuple(request.items),
                total_cents=self.total_cents,
                status=answer["status"],
                presale=bool(self.presale),
            )
        ]
        if self.held:
            events.append(OrderHeld(at=at, order=request.order, room=room, leader=leader, flags=self.flags))
        sold: Counter[tuple[str, str]] = Counter()
        for parcel in self.shipments:
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
            for key, level in self.reserved.items()
        )
        events.extend(
            ShipmentPlanned(
                at=at,
                shipment=s["shipment"],
                order=request.order,
                room=room,
                leader=leader,
                warehouse=s["warehouse"],
                carrier=s["carrier"],
                waybill=s["waybill"],
                items=tuple((i["sku"], i["qty"]) for i in s["items"]),
            )
            for s in answer["shipments"]
        )
        events.extend(ledger.moved(e, room) for e in self.ledger)
        return events


def _aggregate(items: Iterable[tuple[str, int]]) -> dict[str, int]:
    wanted: dict[str, int] = {}
    for sku, qty in items:
        wanted[sku] = wanted.get(sku, 0) + qty
    return wanted


def _aggregate_tuple(items: Iterable[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    return tuple(sorted(_aggregate(items).items()))


def _check_items(book: OrderBook, room: Any, items: Sequence[tuple[str, int]]) -> None:
    for i, (sku, _qty) in enumerate(items):
        if sku not in book.skus:
            raise DomainError(f"unknown SKU: {sku}", field=f"items[{i}].sku", code="not_found")
        if room.skus and sku not in room.skus:
            raise DomainError(
                f"SKU {sku} is not sold in room {room.room}", field=f"items[{i}].sku", code="sku_not_in_room"
            )


def _code_leader(book: OrderBook, request: OrderRequest) -> str | None:
    if not request.code:
        return None
    link = book.links.get(request.code)
    if link is None:
        raise DomainError(f"unknown share code: {request.code}", field="code", code="not_found")
    if link.room != request.room:
        raise DomainError(
            f"share code {request.code} belongs to another room", field="code", code="code_other_room"
        )
    return str(link.leader)


def _field_of(request: OrderRequest, sku: str) -> str:
    index = next(i for i, (s, _) in enumerate(request.items) if s == sku)
    return f"items[{index}].sku"


def _plan(
    book: OrderBook, request: OrderRequest, wanted: dict[str, int], destination: routing.Destination
) -> tuple[tuple[str, ...], tuple[routing.PlannedShipment, ...]]:
    """Which lines wait as presale, and which warehouses ship the rest."""
    levels = book.levels
    active = [w.code for w in book.warehouses if w.active]
    available_by_sku: Counter[str] = Counter()
    for sku in wanted:
        for code in active:
            level = levels.get((sku, code))
            if level is not None:
                available_by_sku[sku] += level.available
    presale_on = {sku for sku in wanted if book.skus[sku].presale_when_sold_out}
    try:
        presale = stock.presale_lines(list(wanted.items()), available_by_sku, presale_on)
        to_ship = {sku: qty for sku, qty in wanted.items() if sku not in presale}
        # Only the SKUs being shipped matter to the plan (a missing key means none available).
        available = {
            (sku, w.code): level.available
            for sku in to_ship
            for w in book.warehouses
            if (level := levels.get((sku, w.code))) is not None
        }
        plan = routing.plan_warehouses(to_ship, available, book.warehouses, destination) if to_ship else ()
    except SoldOut as sold_out:
        raise SoldOut(
            sold_out.sku,
            field=_field_of(request, sold_out.sku),
            requested=sold_out.requested,
            available=sold_out.available,
        ) from None
    return presale, plan


def _carriers(
    book: OrderBook,
    request: OrderRequest,
    plan: Sequence[routing.PlannedShipment],
    destination: routing.Destination,
    total: int,
    delivery: routing.Delivery,
    policy: routing.CarrierPolicy,
) -> list[PlannedParcel]:
    by_code = {w.code: w for w in book.warehouses}
    load = Counter(book.carrier_load)
    parcels: list[PlannedParcel] = []
    for i, shipment in enumerate(plan, start=1):
        warehouse = by_code[shipment.warehouse]
        carrier = routing.choose_carrier(
            destination, warehouse, total, delivery, policy, book.unavailable, load
        )
        load[carrier] += 1
        parcels.append(PlannedParcel(f"{request.order}-{i}", warehouse, carrier, shipment.lines))
    return parcels


async def flush(tx: Tx, book: OrderBook) -> None:
    """Write what the batch decided: a fixed handful of statements, however many orders it holds."""
    conn = tx.conn
    for table, rows in (
        (models.orders, book.order_rows),
        (models.order_lines, book.line_rows),
        (models.shipments, book.shipment_rows),
        (models.backorders, book.backorder_rows),
        (models.commission_entries, book.ledger_rows),
    ):
        await insert_many(conn, table, rows)
    await stock_rows.reserve(tx, book.reserved_delta)
    await take_deal_quota(tx, book.deal_delta)
    await upsert(
        conn,
        models.bindings,
        [catalog_rows.binding_row(b, room) for b, room in book.bound.values()],
        ["visitor"],
        ["leader", "room", "bound_at", "protected_until"],
    )
    await add_board(tx, book.board_delta)
    await add_carrier_days(tx, book.carrier_delta)


async def take_deal_quota(tx: Tx, delta: Counter[tuple[str, str, str]]) -> None:
    rows = [
        {"k_room": r, "k_sku": s, "k_leader": lead, "n": n} for (r, s, lead), n in sorted(delta.items()) if n
    ]
    if not rows:
        return
    d = models.deals
    statement = (
        update(d)
        .where(
            d.c.room == bindparam("k_room"),
            d.c.sku == bindparam("k_sku"),
            d.c.leader == bindparam("k_leader"),
            d.c.used + bindparam("n") <= d.c.quota,
        )
        .values(used=d.c.used + bindparam("n"))
    )
    if not await guarded_update(tx.conn, statement, rows):
        raise StockGuardTripped("a community deal's quota changed under the writer")


async def add_board(tx: Tx, delta: dict[tuple[str, str], Counter[str]]) -> None:
    """Accumulate the leaderboard figures per room and leader (GMV, orders, invites, assists)."""
    columns = ("gmv_cents", "orders", "invites", "assists")
    rows = [
        {"room": room, "leader": leader, **{c: counts.get(c, 0) for c in columns}}
        for (room, leader), counts in sorted(delta.items())
    ]
    await accumulate(tx.conn, models.room_leaders, rows, ["room", "leader"], columns)


async def add_carrier_days(tx: Tx, delta: Counter[tuple[str, str]]) -> None:
    rows = [{"carrier": c, "day": d, "assigned": n} for (c, d), n in sorted(delta.items()) if n]
    await accumulate(tx.conn, models.carrier_days, rows, ["carrier", "day"], ["assigned"])
