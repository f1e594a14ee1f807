"""Loading what a batch of orders is decided against: a handful of queries, rows turned into the domain's frozen
values once per batch (`domain.ordering.Snapshot`), and the writes the batch's decisions add up to."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select

from domain import attribution, growth, ordering, promise, routing, stock
from domain.china_time import china_day
from domain.deals import Deal
from server.services import catalog_rows, waybill_rows
from store import models
from store.room_locks import VISITOR_NS, lock_names
from store.uow import Tx


def _day_or_none(at: datetime) -> str | None:
    """The day an order counts for, when it has one: an order whose time cannot be placed in China's calendar fails
    alone when it is decided, not the batch loading the carriers' days."""
    try:
        return china_day(at)
    except (OverflowError, ValueError):
        return None


@dataclass
class OrderBook:
    """The state a batch of orders is decided against, and the writes those decisions add up to.

    The domain reads the state through `snapshot` (the same dicts, read-only); each order's decision is applied
    to them in place (`order_writes.record`) before the next order is decided."""

    existing: dict[str, tuple[str, dict[str, Any]]]
    rooms: dict[str, ordering.Room]
    skus: dict[str, ordering.Sku]
    levels: dict[tuple[str, str], stock.StockLevel]
    warehouses: list[routing.Warehouse]
    links: dict[str, ordering.Link]
    bindings: dict[str, attribution.Binding]
    leaders: dict[str, ordering.Leader]
    deals: dict[tuple[str, str, str], Deal]
    gmv: dict[tuple[str, str], int]
    carrier_load: Counter[str]
    unavailable: frozenset[str]
    capacity: dict[str, int | None] = field(default_factory=dict)  # daily capacity set by operations
    coupons: dict[tuple[str, str], growth.Coupon] = field(default_factory=dict)
    completions: dict[tuple[str, str], dict[str, datetime]] = field(default_factory=dict)
    task_bonuses: dict[str, dict[str, int]] = field(default_factory=dict)
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
    coupon_delta: Counter[tuple[str, str]] = field(default_factory=Counter)
    viewer_rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # the visitors who ordered

    def snapshot(self, now: datetime, policy: routing.CarrierPolicy) -> ordering.Snapshot:
        """The domain's view of this book: built once per batch, over the dicts the batch's decisions update."""
        return ordering.Snapshot(
            now=now,
            rooms=self.rooms,
            skus=self.skus,
            levels=self.levels,
            warehouses=self.warehouses,
            links=self.links,
            bindings=self.bindings,
            leaders=self.leaders,
            uplines={name: leader.upline for name, leader in self.leaders.items()},
            deals=self.deals,
            gmv=self.gmv,
            carrier_load=self.carrier_load,
            unavailable=self.unavailable,
            policy=policy.with_capacity(self.capacity),
            coupons=self.coupons,
            completions=self.completions,
            task_bonuses=self.task_bonuses,
        )


def room_of(row: Any) -> ordering.Room:
    return ordering.Room(
        row.room, frozenset(row.skus or ()), catalog_rows.room_rates(row), catalog_rows.binding_policy(row),
        promise.parse(row.ship_promise),
    )


def sku_of(row: Any) -> ordering.Sku:
    return ordering.Sku(row.sku, row.price_cents, bool(row.presale_when_sold_out))


def leader_of(row: Any) -> ordering.Leader:
    return ordering.Leader(row.leader, row.upline, catalog_rows.pickup_destination(row.pickup_point))


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
_COUPONS = select(models.coupons).where(
    models.coupons.c.room.in_(bindparam("rooms", expanding=True)), _any_of(models.coupons.c.coupon)
)
_tp, _rt = models.task_progress, models.room_tasks
_COMPLETIONS = (
    select(_tp.c.room, _tp.c.task, _tp.c.leader, _tp.c.done_at, _rt.c.bonus_bp)
    .select_from(_tp.join(_rt, and_(_rt.c.room == _tp.c.room, _rt.c.task == _tp.c.task)))
    .where(
        _tp.c.done_at.is_not(None),
        _rt.c.bonus_bp > 0,
        _tp.c.room.in_(bindparam("rooms", expanding=True)),
        _any_of(_tp.c.leader),
    )
)
_CARRIER_DAYS = select(models.carrier_days).where(_any_of(models.carrier_days.c.day))
_CARRIERS = select(models.carriers.c.carrier, models.carriers.c.available, models.carriers.c.daily_capacity,
                   models.carriers.c.circuit, models.carriers.c.circuit_until, models.carriers.c.gateway_failures)


async def load_book(tx: Tx, requests: Sequence[ordering.OrderRequest]) -> OrderBook:
    conn = tx.conn

    async def rows(statement: Any, values: Iterable[Any] | None = None, **more: Any) -> Any:
        params = {"any": list(values)} if values is not None else {}
        params.update({k: list(v) for k, v in more.items()})
        return await conn.execute(statement, params)

    existing = {
        row.order: (row.body_hash, row.response) for row in await rows(_EXISTING, [r.order for r in requests])
    }
    room_ids = {r.room for r in requests}
    rooms = {row.room: room_of(row) for row in await rows(_ROOMS, room_ids)}
    sku_ids = {sku for r in requests for sku, _ in r.items}
    skus = {row.sku: sku_of(row) for row in await rows(_SKUS, sku_ids)}
    levels = {
        (row.sku, row.warehouse): catalog_rows.stock_level(row) for row in await rows(_STOCK, sku_ids)
    }
    warehouses = [catalog_rows.warehouse(row) for row in await rows(_WAREHOUSES)]
    links = {
        row.code: ordering.Link(row.code, row.room, str(row.leader))
        for row in await rows(_LINKS, {r.code for r in requests if r.code})
    }
    visitors = {r.visitor for r in requests}
    if tx.scoped:  # a visitor's binding is shared by every room: one writer per visitor until the commit
        await lock_names(conn, VISITOR_NS, sorted(visitors))
    bindings = {row.visitor: catalog_rows.binding(row) for row in await rows(_BINDINGS, visitors)}
    leader_rows = await load_leaders(
        tx, {link.leader for link in links.values()} | {b.leader for b in bindings.values()} | visitors
    )
    leaders = {name: leader_of(row) for name, row in leader_rows.items()}
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
    carriers = list(await rows(_CARRIERS))
    # Down, or their gateway's circuit is open (issue 14): new parcels go to other carriers meanwhile.
    unavailable = frozenset(row.carrier for row in carriers if not row.available) | waybill_rows.blocked(
        carriers, tx.now)
    book = OrderBook(
        existing, rooms, skus, levels, warehouses, links, bindings, leaders, deals, gmv, load, unavailable,
        {row.carrier: row.daily_capacity for row in carriers},
    )
    await _load_growth(book, rows, requests, room_ids)
    return book


async def _load_growth(book: OrderBook, rows: Any, requests: Sequence[ordering.OrderRequest],
                       room_ids: set[str]) -> None:
    """The coupons the batch's orders name, and the invitation tasks their possible leaders completed (with the
    bonus each adds to the leader's rate on later orders)."""
    named = {r.coupon for r in requests if r.coupon}
    if named:
        for row in await rows(_COUPONS, named, rooms=room_ids):
            book.coupons[(row.room, row.coupon)] = growth.Coupon(
                row.room, row.coupon, row.threshold_cents, row.off_cents, bool(row.live_only),
                bool(row.invited_only), row.quota, row.used,
            )
    if book.leaders:
        for row in await rows(_COMPLETIONS, book.leaders, rooms=room_ids):
            book.completions.setdefault((row.room, row.leader), {})[row.task] = row.done_at
            book.task_bonuses.setdefault(row.room, {})[row.task] = row.bonus_bp


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
