"""Projections: the in-memory read models every screen is drawn from (DESIGN.md, "One write, traced", step 5).

    load(engine)          one consistent read of the database; `applied` = the outbox seq that read reflects
    apply(seq, record)    fold one committed event in (seq order; a seq already applied changes nothing);
                          returns the topics whose view changed
    refresh(engine)       read back what events name but do not carry (see below); returns the topics it changed
    snapshot(topic)       the full current view of a topic; feed_since / feed_seq for the feeds' ring buffers

Topics and the module that draws each: `room:{id}:stock` (stock.py), `room:{id}:board` (board.py),
`room:{id}:feed` (feed.py), `room:{id}:questions` (growth.py), `leader:{id}` (leader.py, with growth.py's part),
`ops` (ops.py, with growth.py's part), `order:{id}` (order.py, on demand).

Every figure is defined so that folding the events from any snapshot onward lands where a fresh `load` lands: a
restarted process shows what one that never stopped shows (tests/realtime/test_rebuild.py compares every topic).

`apply` does no I/O. Three things an event names without carrying are read back by `refresh`, which whoever feeds
`apply` (the Follower) calls after each batch when `needs_refresh` is true:
- catalog rows a `catalog_changed` event names (names, a room's SKUs, a SKU's alert settings, share links);
- the buyer fields of newly held orders (the leader's view shows them so the leader can fix them);
- cached order pages touched by an event (read again whole: their timeline has lines no event carries).
Until then the figures are right and only those details lag.

Time: views that depend on "now" (sell rates, minutes to sell-out, alert levels, the ops series) read the injected
clock when drawn; `clock_topics()` names the topics that change with time alone, for a periodic redraw.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import URL, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.tokens import epoch_us
from realtime.projections.board import Boards
from realtime.projections.catalog import Catalog, refreshed_topics
from realtime.projections.feed import CAPACITY, RoomFeeds
from realtime.projections.growth import KINDS as GROWTH_KINDS
from realtime.projections.growth import Growth, growth_records
from realtime.projections.growth_checkpoint import read_checkpoint
from realtime.projections.leader import CommissionBook, LeaderViews
from realtime.projections.ops import OpsView
from realtime.projections.order import CAPACITY as ORDER_CAPACITY
from realtime.projections.order import TOUCHING, OrderTimelines
from realtime.projections.stock import StockBoard
from store import models
from store.engine import create_engine
from store.room_locks import writers_held
from store.sql import snapshot_transaction

__all__ = ["Projections"]

NOTICE_KINDS = ("notice_posted", "notice_withdrawn")

Handler = Callable[[int, dict[str, Any], set[str]], None]


@dataclass
class _Models:
    catalog: Catalog
    boards: Boards
    stock: StockBoard
    feeds: RoomFeeds
    commission: CommissionBook
    leaders: LeaderViews
    ops: OpsView
    growth: Growth


class Projections:
    def __init__(self, clock: Callable[[], datetime], *, feed_capacity: int = CAPACITY,
                 order_capacity: int = ORDER_CAPACITY, at_risk_hours: float = 6.0) -> None:
        self.clock = clock
        self.at_risk_hours = at_risk_hours
        self.feed_capacity = feed_capacity
        self.applied = 0
        self.orders = OrderTimelines(order_capacity)
        self._during_load: list[tuple[int, dict[str, Any]]] | None = None
        self.revoked: dict[tuple[str, str], int] = {}  # (role, subject) -> latest revocation, µs since the epoch
        self.on_revoked: Callable[[str, str, int], None] | None = None
        self._install(self._blank())

    def _blank(self) -> _Models:
        catalog = Catalog()
        boards = Boards(catalog)
        commission = CommissionBook()
        growth = Growth(catalog)
        return _Models(
            catalog=catalog,
            boards=boards,
            stock=StockBoard(catalog, boards, self.clock),
            feeds=RoomFeeds(catalog, self.feed_capacity),
            commission=commission,
            leaders=LeaderViews(catalog, boards, commission, growth),
            ops=OpsView(catalog, boards, commission, growth, self.clock, self.feed_capacity,
                        at_risk_hours=self.at_risk_hours),
            growth=growth,
        )

    def _install(self, m: _Models) -> None:
        self.m = m
        handlers: dict[str, tuple[Handler, ...]] = {
            "order_accepted": (m.boards.on_order_accepted, m.feeds.on_order_accepted, m.leaders.on_order_accepted,
                               m.ops.on_order_accepted),
            "order_held": (m.leaders.on_order_held, m.ops.on_exception_only, m.ops.gateway.on_order_gone),
            "order_verified": (m.leaders.on_order_verified,),
            "order_cancelled": (m.boards.on_order_cancelled, m.leaders.on_order_cancelled, m.ops.on_order_cancelled,
                                m.ops.gateway.on_order_gone),
            "visitor_bound": (m.boards.on_visitor_bound,),
            "stock_changed": (m.stock.on_stock_changed, m.ops.on_exception_only),
            "shipment_planned": (m.leaders.on_shipment_planned, m.ops.on_shipment_planned),
            "parcel_state_changed": (m.leaders.on_parcel_state_changed, m.ops.on_parcel_state_changed),
            "parcel_shipped": (m.ops.on_parcel_shipped,),  # when the tracking service announces it
            "parcel_stuck": (m.ops.on_parcel_stuck,),
            "order_ship_by_changed": (m.ops.on_ship_by_changed,),
            "commission_moved": (m.leaders.on_commission_moved,),
            "warehouse_status_changed": (self._warehouse_status, m.stock.on_warehouse_status_changed,
                                         m.ops.on_warehouse_status_changed),
            "catalog_changed": (self._catalog_changed,),
            "carrier_changed": (m.ops.on_carrier_changed,),
            "tokens_revoked": (self._tokens_revoked,),
            # carrier gateways (issue 14): the ops panel (gateway.py), the leaders' parcels; order pages read again
            "waybill_requested": (m.ops.gateway.on_requested, m.leaders.on_waybill_requested),
            "waybill_issued": (m.ops.gateway.on_issued, m.leaders.on_waybill_issued),
            "waybill_refused": (m.ops.on_waybill_refused, m.leaders.on_waybill_refused),
            "gateway_circuit_changed": (m.ops.gateway.on_circuit,),
        }
        for kind in (*GROWTH_KINDS, "order_accepted"):
            handlers[kind] = (*handlers.get(kind, ()), m.growth.on_event)
        handlers["leader_recruited"] = (*handlers["leader_recruited"], m.feeds.on_leader_recruited)
        handlers["task_progressed"] = (*handlers["task_progressed"], m.feeds.on_task_progressed)
        for kind in TOUCHING:  # cached order pages are read again after any event that changes them
            handlers[kind] = (*handlers.get(kind, ()), self.orders.on_event)
        for kind in NOTICE_KINDS:  # delay notices: the pages and leaders' orders they concern, the ops feed
            handlers[kind] = (self.orders.on_notice, m.leaders.on_notice, m.ops.on_exception_only)
        self._handlers = handlers

    def _warehouse_status(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.m.catalog.warehouse_active(record["warehouse"], bool(record["active"]))

    def _catalog_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.m.catalog.changed(record["entity"], record["key"])

    def _tokens_revoked(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """Remember the revocation (a socket attached while the event travelled is checked against it) and tell
        whoever listens (the hub closes the sockets opened with such a token)."""
        key = (record["role"], record["subject"])
        at = epoch_us(datetime.fromisoformat(record["at"]))
        self.revoked[key] = max(at, self.revoked.get(key, at))
        if self.on_revoked is not None:
            self.on_revoked(key[0], key[1], self.revoked[key])

    def revoked_us(self, role: str, subject: str) -> int | None:
        """When tokens of (role, subject) were last revoked, as far as the events applied here say."""
        return self.revoked.get((role, subject))

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, engine: AsyncEngine) -> None:
        """Rebuild every read model from one consistent read; `applied` becomes the outbox seq it reflects.

        The read runs off the event loop — on a worker thread with an engine of its own (`_read_off_the_loop`) —
        so screens keep ticking while a large session loads (tests/realtime/test_loop_lag.py). Events applied
        while it runs (a load on a live instance) are applied again to the new models when they come after the
        snapshot, so none is lost.
        """
        now = self.clock()
        self._during_load = []
        try:
            if engine.url.database in (None, "", ":memory:"):  # a private in-memory database: only this engine
                fresh, upto = await self._read(engine, now)
            else:
                fresh, upto = await asyncio.to_thread(self._read_off_the_loop, engine.url, now)
            during = self._during_load
        finally:
            self._during_load = None
        self._install(fresh)
        self.applied = upto
        for seq, record in during:
            self.apply(seq, record)
        self.orders.mark_all_stale()  # cached pages may be older than the new snapshot: read them again

    def _read_off_the_loop(self, url: URL, now: datetime) -> tuple[_Models, int]:
        """On a worker thread: `_read` in an event loop of the thread's own, through an engine of its own (the
        caller's is bound to the caller's loop). The GIL is handed back every few milliseconds, so the caller's
        loop keeps its beat while the rows are read and folded here."""

        async def read() -> tuple[_Models, int]:
            engine = create_engine(url.render_as_string(hide_password=False))
            try:
                return await self._read(engine, now)
            finally:
                await engine.dispose()

        return asyncio.run(read())

    async def _read(self, engine: AsyncEngine, now: datetime) -> tuple[_Models, int]:
        fresh = self._blank()
        async with engine.connect() as conn:
            async with writers_held(engine):  # PostgreSQL: the snapshot begins with no event waiting for its seq
                await snapshot_transaction(conn)
                outbox = models.outbox
                upto = int((await conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0)))).scalar_one())
            await fresh.catalog.load(conn)
            await fresh.boards.load(conn)
            await fresh.stock.load(conn, now)
            checkpoint = await read_checkpoint(conn)  # the growth fold up to its seq; the events after it replayed
            growth = await growth_records(conn, upto, after=checkpoint.seq)
            await fresh.feeds.load(conn, upto, growth, checkpoint.feed)
            await fresh.growth.load(conn, growth, checkpoint.growth)
            await fresh.commission.load(conn)
            await fresh.leaders.load(conn)
            await fresh.ops.load(conn, upto, now)
        return fresh, upto

    # --- events ----------------------------------------------------------------------------------------------

    def apply(self, seq: int, record: dict[str, Any]) -> set[str]:
        """Fold one committed event in; returns the topics whose view changed. Unknown kinds change nothing."""
        if self._during_load is not None:
            self._during_load.append((seq, record))
        if seq <= self.applied:
            return set()
        self.applied = seq
        dirty: set[str] = set()
        for handler in self._handlers.get(record.get("kind", ""), ()):
            handler(seq, record, dirty)
        return dirty

    @property
    def needs_refresh(self) -> bool:
        return bool(self.m.catalog.stale or self.m.leaders.needs_refresh or self.orders.stale)

    async def refresh(self, engine: AsyncEngine) -> set[str]:
        """Read back what recent events named but did not carry; returns the topics that changed."""
        if not self.needs_refresh:
            return set()
        m = self.m
        async with engine.connect() as conn:
            dirty = refreshed_topics(m.catalog, await m.catalog.refresh(conn), m.boards.leaders_in,
                                     m.boards.neighbours)
            dirty |= await m.leaders.refresh(conn)
            dirty |= await self.orders.refresh(conn)
        return dirty

    # --- reading ---------------------------------------------------------------------------------------------

    def snapshot(self, topic: str) -> dict[str, Any] | None:
        """The full current view of a topic; None when there is no such topic."""
        if topic == "ops":
            return self.m.ops.snapshot()
        if topic.startswith("room:"):
            room, _, part = topic[5:].rpartition(":")
            if part == "stock":
                return self.m.stock.snapshot(room)
            if part == "board":
                return self.m.boards.snapshot(room)
            if part == "feed":
                return self.m.feeds.snapshot(room)
            if part == "questions":
                return self.m.growth.questions_view(room)
            return None
        if topic.startswith("leader:"):
            return self.m.leaders.snapshot(topic[7:])
        if topic.startswith("order:"):
            return self.orders.snapshot(topic[6:])
        return None

    def feed_since(self, topic: str, since: int) -> list[dict[str, Any]] | None:
        """Feed items with item seq > since, oldest first; None when the buffer no longer reaches back to since+1
        (or the topic is not a feed): the client then needs a snapshot."""
        room = _feed_room(topic)
        return None if room is None else self.m.feeds.since(room, since)

    def feed_seq(self, topic: str) -> int:
        room = _feed_room(topic)
        return 0 if room is None else self.m.feeds.last_seq(room)

    def leader_rooms(self, leader: str) -> set[str]:
        return self.m.boards.rooms_of(leader)

    async def ensure_order(self, engine: AsyncEngine, order: str) -> bool:
        return await self.orders.ensure(engine, order)

    def topics(self) -> list[str]:
        """Every topic that has a view now."""
        m = self.m
        rooms = sorted(set(m.catalog.rooms) | set(m.boards.rooms) | m.growth.rooms())
        leaders = sorted(set(m.catalog.leaders) | set(m.leaders.orders) | set(m.commission.by_leader)
                         | m.growth.leaders())
        return ([f"room:{r}:{part}" for r in rooms for part in ("stock", "board", "feed", "questions")]
                + [f"leader:{leader}" for leader in leaders] + ["ops"]
                + [f"order:{o}" for o in sorted(self.orders.views)])

    def clock_topics(self) -> set[str]:
        """Topics whose view changes with time alone (sell rates decay, the sparklines and the ops series move
        on)."""
        return {"ops", *(f"room:{room}:stock" for room in self.m.stock.clock_rooms(self.clock()))}


def _feed_room(topic: str) -> str | None:
    if topic.startswith("room:") and topic.endswith(":feed"):
        return topic[5:-5]
    return None
