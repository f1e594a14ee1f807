"""Read models answered from the database: the leaderboard, a leader's commission, the pre-stock forecast."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from domain import commission
from domain.errors import DomainError
from server.context import AppContext
from server.services import ledger
from store import forecast_inputs, models

BOARD_ORDER = {"gmv": "gmv_cents", "orders": "orders", "invites": "invites"}


async def leaderboard(app: AppContext, room: str, by: str, limit: int) -> dict[str, Any]:
    """Leaders of a room ranked by GMV, orders or invited visitors; ties by leader id so ranks are stable."""
    rl, lead = models.room_leaders, models.leaders
    async with app.engine.connect() as conn:
        if (
            await conn.execute(select(models.rooms.c.room).where(models.rooms.c.room == room))
        ).first() is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        key = rl.c[BOARD_ORDER[by]]
        rows = await conn.execute(
            select(rl, lead.c.name)
            .join(lead, lead.c.leader == rl.c.leader)
            .where(rl.c.room == room)
            .order_by(key.desc(), rl.c.leader)
            .limit(limit)
        )
        return {
            "room": room,
            "by": by,
            "entries": [
                {
                    "rank": i,
                    "leader": r.leader,
                    "name": r.name,
                    "gmv_cents": r.gmv_cents,
                    "orders": r.orders,
                    "invites": r.invites,
                }
                for i, r in enumerate(rows, start=1)
            ],
        }


async def leader_commission(app: AppContext, leader: str) -> dict[str, Any]:
    ce = models.commission_entries
    async with app.engine.connect() as conn:
        if (
            await conn.execute(select(models.leaders.c.leader).where(models.leaders.c.leader == leader))
        ).first() is None:
            raise DomainError(f"unknown leader: {leader}", field="leader", code="not_found")
        entries = [
            ledger.entry(r)
            for r in await conn.execute(select(ce).where(ce.c.leader == leader).order_by(ce.c.id))
        ]
    totals = commission.totals(entries)
    return {
        "leader": leader,
        "pending_cents": totals.get(commission.State.PENDING, 0),
        "frozen_cents": totals.get(commission.State.FROZEN, 0),
        "settled_cents": totals.get(commission.State.SETTLED, 0),
        "reversed_cents": totals.get(commission.State.REVERSED, 0),
        "entries": [
            {
                "order": e.order,
                "role": str(e.role),
                "from": None if e.source is None else str(e.source),
                "to": str(e.target),
                "amount_cents": e.amount_cents,
                "reason": str(e.reason),
                "at": e.at.isoformat(),
            }
            for e in entries
        ],
    }


async def room_forecast(app: AppContext, room: str) -> dict[str, Any]:
    """Pre-stock recommendation per SKU and warehouse, tiered (domain/forecast_tiers.py): from the history of the
    leaders taking part in the room, else the room's expected audience; each row names its tier and reason."""
    async with app.engine.connect() as conn:
        inputs = await forecast_inputs.room_inputs(conn, room)
    if inputs is None:
        raise DomainError(f"unknown room: {room}", field="room", code="not_found")
    planned = inputs.plan()
    plans = planned.skus if planned else ()
    return {
        "room": room,
        "leaders": len(inputs.leaders),
        "safety_factor": 1.2,
        "audience": planned.audience if planned else 0,
        "audience_source": planned.audience_source if planned else "room",
        "selling_minutes": inputs.selling_minutes,
        "settings": inputs.settings.as_dict(),
        "recommendations": [
            {"sku": p.sku, "warehouse": warehouse, "units": units, "tier": str(p.tier), "reason": p.reason,
             "follow_up_per_min": p.follow_up_per_min}
            for p in plans
            for warehouse, units in p.warehouses.items()
        ],
        "skus": [
            {"sku": p.sku, "tier": str(p.tier), "units": p.units, "peak_units": p.peak_units, "reason": p.reason,
             "follow_up_per_min": p.follow_up_per_min}
            for p in plans
        ],
    }
