"""A room's coupons (API.md, "Growth"): `PUT /api/v1/rooms/{room}/coupons/{coupon}`, an idempotent upsert through the
writer. A field left out keeps its stored value (its default when the coupon is new); the uses already made
(`used`) are kept, and the quota may not go below them (409 `quota_below_used`). Orders take the uses
(server/services/order_growth_rows.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from domain import growth
from domain.errors import Conflict, DomainError
from domain.events import CatalogChanged
from server.context import AppContext
from store import models
from store.uow import Tx

Answer = tuple[dict[str, Any], bool]  # (the coupon as JSON, whether this call created it)

DEFAULTS: dict[str, Any] = {
    "threshold_cents": 0,
    "off_cents": None,
    "live_only": False,
    "invited_only": False,
    "quota": None,
}


def view(c: growth.Coupon) -> dict[str, Any]:
    return {
        "room": c.room,
        "coupon": c.coupon,
        "threshold_cents": c.threshold_cents,
        "off_cents": c.off_cents,
        "live_only": c.live_only,
        "invited_only": c.invited_only,
        "quota": c.quota,
        "used": c.used,
        "remaining": None if c.quota is None else c.quota - c.used,
    }


async def put_coupon(app: AppContext, room: str, coupon: str, given: Mapping[str, Any]) -> Answer:
    async def run(tx: Tx) -> Answer:
        exists = (await tx.conn.execute(select(models.rooms.c.room).where(models.rooms.c.room == room))).first()
        if exists is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        c = models.coupons
        key = (c.c.room == room, c.c.coupon == coupon)
        existing = (await tx.conn.execute(select(c).where(*key))).first()
        values = {
            name: given[name] if name in given else (getattr(existing, name) if existing is not None else default)
            for name, default in DEFAULTS.items()
        }
        if values["off_cents"] is None:
            raise DomainError("off_cents is required for a new coupon", field="off_cents", code="missing_field")
        used = existing.used if existing is not None else 0
        if values["quota"] is not None and values["quota"] < used:
            raise Conflict(
                f"coupon {coupon} was already used {used} times; the quota cannot be lower",
                field="quota",
                code="quota_below_used",
            )
        made = growth.Coupon(room, coupon, **values, used=used)
        changed = existing is None or any(getattr(existing, k) != v for k, v in values.items())
        if existing is None:
            await tx.conn.execute(c.insert().values(room=room, coupon=coupon, **values, used=0, updated_at=tx.now))
        elif changed:
            await tx.conn.execute(update(c).where(*key).values(**values, updated_at=tx.now))
        if changed:
            tx.emit(CatalogChanged(at=tx.now, entity="coupon", key=f"{room}/{coupon}"))
        return view(made), existing is None

    return await app.writer.call(run)
