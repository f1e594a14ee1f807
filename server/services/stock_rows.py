"""Stock rows in the database: the guarded updates every use case moves stock with, and their events.

The domain decides (stock.reserve / release / ship refuse what does not fit); these updates make the database
agree or refuse too: each is conditional on the units being there, and a row that does not match trips the guard,
which rolls the transaction back. Between the two, available units can never go below zero (no oversell).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from sqlalchemy import and_, bindparam, select, update

from domain import stock
from domain.events import StockChanged
from server.services import catalog_rows
from store import models
from store.sql import guarded_update
from store.uow import StaleDecision, Tx


class StockGuardTripped(StaleDecision):
    """A conditional stock update matched fewer rows than decided: someone else wrote. The batch is retried."""


_s = models.stock
_ROW = and_(_s.c.sku == bindparam("k_sku"), _s.c.warehouse == bindparam("k_wh"))
_RESERVE = (
    update(_s)
    .where(_ROW, _s.c.on_hand - _s.c.reserved >= bindparam("n"))
    .values(reserved=_s.c.reserved + bindparam("n"))
)
_RELEASE = (
    update(_s).where(_ROW, _s.c.reserved >= bindparam("n")).values(reserved=_s.c.reserved - bindparam("n"))
)
_SHIP = (
    update(_s)
    .where(_ROW, _s.c.reserved >= bindparam("n"), _s.c.on_hand >= bindparam("n"))
    .values(on_hand=_s.c.on_hand - bindparam("n"), reserved=_s.c.reserved - bindparam("n"))
)


async def load_levels(tx: Tx, skus: Collection[str]) -> dict[stock.Key, stock.StockLevel]:
    rows = await tx.conn.execute(select(_s).where(_s.c.sku.in_(skus)))
    return {(r.sku, r.warehouse): catalog_rows.stock_level(r) for r in rows}


async def _guarded(tx: Tx, statement: object, delta: Mapping[stock.Key, int], what: str) -> None:
    rows = [{"k_sku": sku, "k_wh": wh, "n": n} for (sku, wh), n in sorted(delta.items()) if n]
    if not await guarded_update(tx.conn, statement, rows):
        raise StockGuardTripped(f"{what}: stock changed under the writer")


async def reserve(tx: Tx, delta: Mapping[stock.Key, int]) -> None:
    """reserved += n only where n units are available."""
    await _guarded(tx, _RESERVE, delta, "reserve")


async def release(tx: Tx, delta: Mapping[stock.Key, int]) -> None:
    """reserved -= n only where n units are reserved (cancel, reroute)."""
    await _guarded(tx, _RELEASE, delta, "release")


async def ship(tx: Tx, delta: Mapping[stock.Key, int]) -> None:
    """The parcel left: n units leave on_hand and reserved together."""
    await _guarded(tx, _SHIP, delta, "ship")


async def reserve_in_tail(tx: Tx, delta: Mapping[stock.Key, int],
                          decided: Mapping[stock.Key, stock.StockLevel]) -> None:
    """reserved += n only where n units are available, for a room-scoped transaction (store/uow.py): its orders
    were decided against levels read without a lock, and other rooms' orders reserved since. The guard still
    refuses what is not there (the batch is retried on fresh levels); where others reserved meanwhile, the levels
    this transaction's StockChanged events carry are moved by what they reserved, so each event states the row as
    it is at this commit (commit order is seq order: this runs in the tail, one writer at a time)."""
    shift: dict[stock.Key, tuple[int, int]] = {}
    for (sku, wh), n in sorted(delta.items()):
        if not n:
            continue
        row = (await tx.conn.execute(_RESERVE.returning(_s.c.on_hand, _s.c.reserved),
                                     {"k_sku": sku, "k_wh": wh, "n": n})).first()
        if row is None:
            raise StockGuardTripped("reserve: stock changed under the writer")
        level = decided[(sku, wh)]
        if (row.on_hand, row.reserved) != (level.on_hand, level.reserved):
            shift[(sku, wh)] = (row.on_hand - level.on_hand, row.reserved - level.reserved)
    if shift:
        tx.events[:] = [_shifted(e, shift) for e in tx.events]


def _shifted(event: object, shift: Mapping[stock.Key, tuple[int, int]]) -> Any:
    if isinstance(event, StockChanged) and (event.sku, event.warehouse) in shift:
        d_on_hand, d_reserved = shift[(event.sku, event.warehouse)]
        return dataclasses.replace(event, on_hand=event.on_hand + d_on_hand, reserved=event.reserved + d_reserved)
    return event


def changed(tx: Tx, levels: Iterable[stock.StockLevel], room: str | None = None) -> None:
    """Announce new stock levels (events carry the level, not the delta: applying one twice is harmless)."""
    tx.emit(
        *(
            StockChanged(
                at=tx.now,
                room=room,
                sku=lv.sku,
                warehouse=lv.warehouse,
                on_hand=lv.on_hand,
                reserved=lv.reserved,
            )
            for lv in levels
        )
    )
