"""Delay notices (API.md, "After the pulse"): ops posts a notice for the orders it concerns — a room, a warehouse, a
carrier, a province, or any combination (domain/notices.py) — and withdraws it when the delay is over.

Posting is one transaction through the writer: the notice row, and a NoticePosted event that carries the criteria
and how many existing orders (not cancelled) it reached, so the screens can find the affected orders on their own.
Which orders show a notice is decided when they are read, so orders placed later that match show it too.
A notice posted again with its own id and the same content is answered as before (201 then 200), with another
content 409. Withdrawing twice is fine: the second answers 200 with the first withdrawal and announces nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, exists, select, update

from domain.errors import Conflict, DomainError
from domain.events import NoticePosted, NoticeWithdrawn
from domain.notices import Criteria, canonical_province, clean_text
from server.context import AppContext
from store import models
from store.uow import Tx

_n, _o, _s = models.notices, models.orders, models.shipments


def new_id() -> str:
    return "n-" + secrets.token_hex(6)


def view(row: Any) -> dict[str, Any]:
    return {"notice": row.notice, "orders": row.orders, "text": row.text, "room": row.room,
            "warehouse": row.warehouse, "carrier": row.carrier, "province": row.province,
            "posted_at": row.posted_at.isoformat(),
            "withdrawn_at": None if row.withdrawn_at is None else row.withdrawn_at.isoformat()}


async def reached(tx: Tx, criteria: Criteria) -> int:
    """How many existing orders (not cancelled) the criteria reach."""
    query = select(_o.c.order, _o.c.destination).where(_o.c.status != "cancelled")
    if criteria.room is not None:
        query = query.where(_o.c.room == criteria.room)
    if criteria.warehouse is not None or criteria.carrier is not None:
        parcel = [_s.c.order == _o.c.order, _s.c.state != "cancelled"]
        if criteria.warehouse is not None:
            parcel.append(_s.c.warehouse == criteria.warehouse)
        if criteria.carrier is not None:
            parcel.append(_s.c.carrier == criteria.carrier)
        query = query.where(exists(select(_s.c.shipment).where(and_(*parcel))))
    if criteria.province is None:
        return len((await tx.conn.execute(query)).all())
    # Provinces are stored as buyers wrote them ("广东", "广东省"): compare them canonical.
    return sum(1 for row in await tx.conn.execute(query)
               if canonical_province((row.destination or {}).get("province")) == criteria.province)


async def post(app: AppContext, text: str, room: str | None, warehouse: str | None, carrier: str | None,
               province: str | None, notice: str | None = None) -> tuple[dict[str, Any], bool]:
    """Post a notice; returns its answer ({"notice", "orders", ...}) and whether this call posted it."""
    cleaned = clean_text(text)
    criteria = Criteria.of(room=room, warehouse=warehouse, carrier=carrier, province=province)

    async def run(tx: Tx) -> tuple[dict[str, Any], bool]:
        if room is not None and (await tx.conn.execute(
                select(models.rooms.c.room).where(models.rooms.c.room == room))).first() is None:
            raise DomainError(f"unknown room: {room}", field="room", code="unknown_room")
        if warehouse is not None and (await tx.conn.execute(
                select(models.warehouses.c.code).where(models.warehouses.c.code == warehouse))).first() is None:
            raise DomainError(f"unknown warehouse: {warehouse}", field="warehouse", code="unknown_warehouse")
        if notice is not None:
            seen = (await tx.conn.execute(select(_n).where(_n.c.notice == notice))).first()
            if seen is not None:
                if (seen.text, seen.room, seen.warehouse, seen.carrier, seen.province) != (
                        cleaned, criteria.room, criteria.warehouse, criteria.carrier, criteria.province):
                    raise Conflict(f"notice {notice} was posted with another body", field="notice",
                                   code="idempotency_conflict")
                return view(seen), False
        made = notice or new_id()
        count = await reached(tx, criteria)
        await tx.conn.execute(_n.insert().values(
            notice=made, text=cleaned, room=criteria.room, warehouse=criteria.warehouse, carrier=criteria.carrier,
            province=criteria.province, orders=count, posted_at=tx.now, withdrawn_at=None))
        tx.emit(NoticePosted(at=tx.now, notice=made, text=cleaned, room=criteria.room, warehouse=criteria.warehouse,
                             carrier=criteria.carrier, province=criteria.province, orders=count))
        return {"notice": made, "orders": count, "text": cleaned, "room": criteria.room,
                "warehouse": criteria.warehouse, "carrier": criteria.carrier, "province": criteria.province,
                "posted_at": tx.now.isoformat(), "withdrawn_at": None}, True

    return await app.writer.call(run)


async def withdraw(app: AppContext, notice: str) -> dict[str, Any]:
    """Withdraw a notice (404 when unknown); withdrawing again answers the first withdrawal."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = (await tx.conn.execute(select(_n).where(_n.c.notice == notice))).first()
        if row is None:
            raise DomainError(f"unknown notice: {notice}", field="notice", code="not_found")
        if row.withdrawn_at is not None:
            return view(row)
        await tx.conn.execute(update(_n).where(_n.c.notice == notice).values(withdrawn_at=tx.now))
        tx.emit(NoticeWithdrawn(at=tx.now, notice=notice, text=row.text, orders=row.orders))
        return {**view(row), "withdrawn_at": tx.now.isoformat()}

    return await app.writer.call(run)
