"""Delay notices as stored (the `notices` table), read the same way by the API's order answer and the buyer's
tracking page (realtime/projections/order.py): the active notices, and which of them an order shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.notices import Criteria, Notice, OrderFacts, notices_for
from store import models

_n = models.notices


def notice_of(row: Any) -> Notice:
    return Notice(notice=row.notice, text=row.text, at=row.posted_at.isoformat(),
                  criteria=Criteria(room=row.room, warehouse=row.warehouse, carrier=row.carrier,
                                    province=row.province))


async def active(conn: AsyncConnection) -> list[Notice]:
    """Every notice not withdrawn, oldest first."""
    rows = await conn.execute(select(_n).where(_n.c.withdrawn_at.is_(None)).order_by(_n.c.posted_at, _n.c.notice))
    return [notice_of(r) for r in rows]


async def for_order(conn: AsyncConnection, facts: OrderFacts) -> list[dict[str, str]]:
    """The active notices an order shows: [{"notice", "text", "at"}], oldest first."""
    return notices_for(await active(conn), facts)
