"""The commission ledger in the database: read an order's entries as domain values, append new ones with events."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from domain import commission, ordering
from domain.events import CommissionMoved
from store import models
from store.uow import Tx


def entry(row: Any) -> commission.Entry:
    return commission.Entry(
        order=row.order,
        leader=row.leader,
        role=commission.Role(row.role),
        source=None if row.source is None else commission.State(row.source),
        target=commission.State(row.target),
        amount_cents=row.amount_cents,
        at=row.at,
        reason=commission.Reason(row.reason),
    )


def row(value: commission.Entry, room: str) -> dict[str, Any]:
    return {
        "order": value.order,
        "room": room,
        "leader": value.leader,
        "role": str(value.role),
        "source": None if value.source is None else str(value.source),
        "target": str(value.target),
        "amount_cents": value.amount_cents,
        "reason": str(value.reason),
        "at": value.at,
    }


def moved(value: commission.Entry, room: str) -> CommissionMoved:
    return ordering.commission_moved(value, room)


async def order_entries(tx: Tx, order: str) -> list[commission.Entry]:
    t = models.commission_entries
    rows = await tx.conn.execute(select(t).where(t.c.order == order).order_by(t.c.id))
    return [entry(r) for r in rows]


async def append(tx: Tx, room: str, entries: Sequence[commission.Entry]) -> None:
    """Append entries to the ledger (never update or delete) and announce each move."""
    if not entries:
        return
    await tx.conn.execute(models.commission_entries.insert(), [row(e, room) for e in entries])
    tx.emit(*(moved(e, room) for e in entries))
