"""Shipping promises after an order is placed: a presale order's ship_by when its stock arrives.

The rule (domain/promise.py `for_presale_fill`): when a presale order's backorder is filled, its ship_by is read
again from the fill time with its room's promise, and the later of that and what it had applies. Each filled order
with a ship_by announces it (`OrderShipByChanged`, before its new parcels' `ShipmentPlanned`), so the tracking page
and the ops at-risk figures follow.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select, update

from domain import promise
from domain.events import OrderShipByChanged
from store import models
from store.uow import Tx


async def presale_filled(tx: Tx, orders: Collection[str]) -> None:
    """Re-read the promise of these orders (their backorders were just filled, at `tx.now`)."""
    o, r = models.orders, models.rooms
    rows = await tx.conn.execute(
        select(o.c.order, o.c.room, o.c.ship_by, r.c.ship_promise).join(r, r.c.room == o.c.room)
        .where(o.c.order.in_(sorted(set(orders)))).order_by(o.c.order))
    for row in rows.all():
        ship_by = promise.for_presale_fill(promise.parse(row.ship_promise), row.ship_by, tx.now)
        if ship_by is None:
            continue
        if ship_by != row.ship_by:
            await tx.conn.execute(update(o).where(o.c.order == row.order).values(ship_by=ship_by))
        tx.emit(OrderShipByChanged(at=tx.now, order=row.order, room=row.room, ship_by=ship_by))
