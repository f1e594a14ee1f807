"""The time-based job: settle commission whose after-sale window has closed, raise parcels that went quiet.

It runs from the scheduler, from `POST /api/v1/admin/settle` and from `liveroom settle --as-of`; all three run
the same steps. A backlog is worked through in bounded chunks, one writer transaction each, so a month of
unsettled orders never becomes one giant transaction that holds the writer; inside a chunk the event loop gets a
turn between the steps and every `SLICE_S` (SQLite runs on the loop's thread), so screens keep ticking. Every
step is idempotent (settled lines are final, a stuck parcel is raised once per state): running it again, or from
two places, adds nothing.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select, update

from domain import commission, tracking
from domain.events import ParcelStuck
from server.services import ledger
from server.services.tracking import parcel
from server.settings import Settings
from store import models
from store.engine import create_engine
from store.uow import Tx, Writer

CHUNK = 25  # orders (and parcels) per transaction: one chunk's commit stays well under 50 ms of loop time
SLICE_S = 0.010  # inside a chunk, the event loop gets a turn at least this often (tests/realtime/test_loop_lag.py)


@dataclass(frozen=True)
class Cursor:
    """Where the next chunk starts (keyset on ids); None once that pass has seen everything."""

    order: str | None = ""
    shipment: str | None = ""

    @property
    def done(self) -> bool:
        return self.order is None and self.shipment is None


async def settle(tx: Tx, as_of: datetime, cursor: Cursor | None = None, *,
                 chunk: int = CHUNK) -> dict[str, Any]:
    """One chunk of the job as of `as_of`: {"settled": commission lines settled, "stuck": parcels newly stuck,
    "cursor": where the next chunk starts}. `settle_all` runs chunks until the cursor is done."""
    cursor = cursor or Cursor()
    settled, next_order = 0, None
    if cursor.order is not None:
        settled, next_order = await _settle_orders(tx, as_of, cursor.order, chunk)
    stuck, next_shipment = 0, None
    await asyncio.sleep(0)  # a turn for the loop between the two passes
    if cursor.shipment is not None:
        stuck, next_shipment = await _raise_stuck(tx, as_of, cursor.shipment, chunk, tracking.StuckPolicy())
    return {"settled": settled, "stuck": stuck, "cursor": Cursor(next_order, next_shipment)}


async def settle_all(writer: Writer, as_of: datetime, *, chunk: int = CHUNK) -> dict[str, int]:
    """The whole job, one writer transaction per chunk."""
    totals = {"settled": 0, "stuck": 0}
    cursor = Cursor()
    while not cursor.done:
        step = await writer.call(lambda tx, at=cursor: settle(tx, as_of, at, chunk=chunk))
        totals["settled"] += step["settled"]
        totals["stuck"] += step["stuck"]
        cursor = step["cursor"]
    return totals


async def settle_once(settings: Settings, as_of: datetime) -> dict[str, int]:
    """`liveroom settle --as-of`: its own engine and writer, whose clock reads `as_of`."""
    engine = create_engine(settings.database_url)
    writer = Writer(engine, lambda: as_of)
    writer.start()
    try:
        return await settle_all(writer, as_of)
    finally:
        await writer.stop()
        await engine.dispose()


# --- commission ---------------------------------------------------------------------------------------------


async def _settle_orders(tx: Tx, as_of: datetime, after: str, chunk: int) -> tuple[int, str | None]:
    orders = await _frozen_orders(tx, as_of, after, chunk)
    if not orders:
        return 0, None
    await asyncio.sleep(0)
    ids = [o.order for o in orders]
    ce = models.commission_entries
    entries: dict[str, list[commission.Entry]] = defaultdict(list)
    for row in await tx.conn.execute(select(ce).where(ce.c.order.in_(ids)).order_by(ce.c.id)):
        entries[row.order].append(ledger.entry(row))
    r = models.rooms
    window_days = {row.room: row.after_sale_days for row in await tx.conn.execute(
        select(r.c.room, r.c.after_sale_days).where(r.c.room.in_({o.room for o in orders})))}
    a = models.after_sales
    blocked = set((await tx.conn.execute(
        select(a.c.order).where(a.c.order.in_(ids), a.c.status == "open").distinct())).scalars())
    await asyncio.sleep(0)
    settled = 0
    loop = asyncio.get_running_loop()
    handed_back = loop.time()
    for order in orders:
        due = commission.settle_due(entries[order.order], order.signed_at, window_days[order.room], as_of,
                                    open_after_sale=order.order in blocked)
        await ledger.append(tx, order.room, due)
        settled += len(due)
        if loop.time() - handed_back > SLICE_S:  # SQLite runs on the loop's thread: screens keep ticking
            await asyncio.sleep(0)
            handed_back = loop.time()
    return settled, (ids[-1] if len(orders) == chunk else None)


async def _frozen_orders(tx: Tx, as_of: datetime, after: str, chunk: int) -> list[Any]:
    """Signed orders that still hold frozen commission, by id after `after` (the ledger's net frozen > 0)."""
    o, ce = models.orders, models.commission_entries
    frozen = str(commission.State.FROZEN)
    net_frozen = (func.sum(case((ce.c.target == frozen, ce.c.amount_cents), else_=0))
                  - func.sum(case((ce.c.source == frozen, ce.c.amount_cents), else_=0)))
    query = (
        select(o.c.order, o.c.room, o.c.signed_at)
        .join(ce, ce.c.order == o.c.order)
        .where(o.c.signed_at.is_not(None), o.c.signed_at <= as_of, o.c.order > after)
        .group_by(o.c.order, o.c.room, o.c.signed_at)
        .having(net_frozen > 0)
        .order_by(o.c.order)
        .limit(chunk)
    )
    return list(await tx.conn.execute(query))


# --- stuck parcels ------------------------------------------------------------------------------------------


async def _raise_stuck(tx: Tx, as_of: datetime, after: str, chunk: int,
                       policy: tracking.StuckPolicy) -> tuple[int, str | None]:
    """Parcels quiet for longer than their state allows, not yet raised in this state: mark, announce them."""
    s = models.shipments
    # The shortest threshold bounds the candidates in SQL; the domain decides per state.
    quiet_since = as_of - min(limit for _, limit in policy.thresholds)
    rows = list(await tx.conn.execute(
        select(s).where(s.c.state.in_([str(state) for state, _ in policy.thresholds]), s.c.stuck_at.is_(None),
                        s.c.waybill.is_not(None), s.c.last_event_at <= quiet_since, s.c.shipment > after)
        .order_by(s.c.shipment).limit(chunk)))
    await asyncio.sleep(0)
    stuck = [row for row in rows if tracking.is_stuck(parcel(row), as_of, policy)]
    if stuck:
        await tx.conn.execute(update(s).where(s.c.shipment.in_([row.shipment for row in stuck]))
                              .values(stuck_at=as_of))
        await asyncio.sleep(0)  # the writer appends the events to the outbox and commits next
        tx.emit(*(ParcelStuck(at=as_of, shipment=row.shipment, order=row.order, waybill=row.waybill,
                              carrier=row.carrier, state=row.state,
                              since=row.state_since or row.last_event_at) for row in stuck))
    return len(stuck), (rows[-1].shipment if len(rows) == chunk else None)
