"""Read models answered from the database: the leaderboard, a leader's commission, the pre-stock forecast."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import func, select

from domain import commission, forecast
from domain.errors import DomainError
from server.context import AppContext
from server.services import ledger
from store import models

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
    """Pre-stock recommendation per SKU and warehouse from the history of the leaders taking part in the room."""
    async with app.engine.connect() as conn:
        room_row = (await conn.execute(select(models.rooms).where(models.rooms.c.room == room))).first()
        if room_row is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        leaders = await _participants(conn, room)
        history = await _leader_history(conn, leaders)
        skus = await _sku_history(conn, list(room_row.skus))
        sites = [
            (w.code, w.province)
            for w in await conn.execute(
                select(models.warehouses)
                .where(models.warehouses.c.active.is_(True))
                .order_by(models.warehouses.c.code)
            )
        ]
    recommendations = forecast.recommend(history, skus, sites) if sites else ()
    return {
        "room": room,
        "leaders": len(history),
        "safety_factor": 1.2,
        "recommendations": [
            {"sku": r.sku, "warehouse": r.warehouse, "units": r.units} for r in recommendations
        ],
    }


async def _participants(conn: Any, room: str) -> list[str]:
    links = await conn.execute(select(models.links.c.leader).where(models.links.c.room == room).distinct())
    return sorted({r.leader for r in links})


async def _leader_history(conn: Any, leaders: list[str]) -> list[forecast.LeaderHistory]:
    """A leader's audience and conversion over all rooms so far; buyer provinces from where their parcels went."""
    if not leaders:
        return []
    rl, o = models.room_leaders, models.orders
    stats = {
        r.leader: r
        for r in await conn.execute(
            select(
                rl.c.leader,
                func.count().label("rooms"),
                func.sum(rl.c.invites).label("invites"),
                func.sum(rl.c.orders).label("orders"),
            )
            .where(rl.c.leader.in_(leaders))
            .group_by(rl.c.leader)
        )
    }
    provinces: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await conn.execute(
        select(o.c.leader, o.c.destination).where(o.c.leader.in_(leaders), o.c.status != "cancelled")
    ):
        provinces[r.leader][r.destination["province"]] += 1
    history = []
    for leader in leaders:
        s = stats.get(leader)
        invites, orders, rooms = (int(s.invites or 0), int(s.orders or 0), int(s.rooms)) if s else (0, 0, 1)
        audience = invites // max(rooms, 1)
        conversion_bp = min(10_000, orders * 10_000 // invites) if invites else 0
        history.append(
            forecast.LeaderHistory(
                leader=leader,
                audience=audience,
                conversion_bp=conversion_bp,
                buyer_provinces=tuple(sorted(provinces[leader].items())),
            )
        )
    return history


async def _sku_history(conn: Any, skus: list[str]) -> list[forecast.SkuHistory]:
    o, ln = models.orders, models.order_lines
    total_orders = (
        await conn.execute(select(func.count()).select_from(o).where(o.c.status != "cancelled"))
    ).scalar_one()
    rows = {
        r.sku: r
        for r in await conn.execute(
            select(
                ln.c.sku,
                func.count(func.distinct(ln.c.order)).label("orders"),
                func.sum(ln.c.qty).label("units"),
            )
            .join(o, o.c.order == ln.c.order)
            .where(ln.c.sku.in_(skus), o.c.status != "cancelled")
            .group_by(ln.c.sku)
        )
    }
    history = []
    for sku in skus:
        r = rows.get(sku)
        with_sku, units = (int(r.orders), int(r.units)) if r else (0, 0)
        share_bp = with_sku * 10_000 // total_orders if total_orders else 0
        units_milli = units * 1000 // with_sku if with_sku else 1000
        history.append(forecast.SkuHistory(sku=sku, units_per_order_milli=units_milli, share_bp=share_bp))
    return history
