"""What a room's pre-stock forecast is computed from, read from the database (domain/forecast.py and
domain/forecast_tiers.py compute). One reader for the forecast's API answer and the host screen's follow-up trigger.

Everything historical comes from past sessions only: rooms that ended at or before this room starts. So the
forecast is what could be known before the pulse, and it does not move while the room sells (the host screen's
plan, read on load, stays equal to one folded from events: tests/realtime/test_projections.py).

- Participating leaders: those holding a share link for the room. A leader's audience and conversion are over their
  past sessions (visitors invited per room, orders per visitor); buyer provinces from where their parcels went.
- A SKU's share of orders and units per order: over the past sessions' orders not cancelled.
- A SKU's peak: the most units of it sold (orders not cancelled) in one past session.
- Warehouses: the active ones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import forecast, forecast_tiers
from store import models


@dataclass(frozen=True, slots=True)
class RoomInputs:
    room: str
    starts_at: datetime
    ends_at: datetime | None
    settings: forecast_tiers.TierSettings
    leaders: list[forecast.LeaderHistory]
    skus: list[forecast.SkuHistory]
    peaks: dict[str, int]
    sites: list[tuple[str, str]]

    @property
    def selling_minutes(self) -> int:
        return forecast_tiers.planned_minutes(self.settings, self.starts_at, self.ends_at)

    def plan(self) -> forecast_tiers.TieredForecast | None:
        """The tiered plan; None when no warehouse is active (nothing to stock)."""
        if not self.sites:
            return None
        return forecast_tiers.plan(self.leaders, self.skus, self.peaks, self.sites, self.settings,
                                   self.selling_minutes)


async def room_inputs(conn: AsyncConnection, room: str) -> RoomInputs | None:
    """The room's forecast inputs; None for an unknown room."""
    r = models.rooms
    row = (await conn.execute(select(r).where(r.c.room == room))).first()
    if row is None:
        return None
    skus = list(row.skus) if row.skus else [s for (s,) in await conn.execute(
        select(models.skus.c.sku).order_by(models.skus.c.sku))]  # an empty list: the room sells every SKU
    leaders = await participants(conn, room)
    w = models.warehouses
    sites = [(s.code, s.province)
             for s in await conn.execute(select(w.c.code, w.c.province).where(w.c.active.is_(True)).order_by(w.c.code))]
    return RoomInputs(
        room=room, starts_at=row.starts_at, ends_at=row.ends_at,
        settings=forecast_tiers.TierSettings.of(row.forecast),
        leaders=await leader_history(conn, leaders, row.starts_at), skus=await sku_history(conn, skus, row.starts_at),
        peaks=await past_peaks(conn, skus, row.starts_at), sites=sites)


async def participants(conn: AsyncConnection, room: str) -> list[str]:
    links = await conn.execute(select(models.links.c.leader).where(models.links.c.room == room).distinct())
    return sorted({r.leader for r in links})


def _past(before: datetime) -> Any:
    """Rooms that ended at or before `before`."""
    r = models.rooms
    return select(r.c.room).where(r.c.ends_at.is_not(None), r.c.ends_at <= before).scalar_subquery()


async def leader_history(conn: AsyncConnection, leaders: list[str],
                         before: datetime) -> list[forecast.LeaderHistory]:
    """A leader's audience and conversion over their past sessions; buyer provinces from where their parcels went."""
    if not leaders:
        return []
    rl, o = models.room_leaders, models.orders
    past = _past(before)
    stats = {
        r.leader: r
        for r in await conn.execute(
            select(
                rl.c.leader,
                func.count().label("rooms"),
                func.sum(rl.c.invites).label("invites"),
                func.sum(rl.c.orders).label("orders"),
            )
            .where(rl.c.leader.in_(leaders), rl.c.room.in_(past))
            .group_by(rl.c.leader)
        )
    }
    provinces: dict[str, Counter[str]] = defaultdict(Counter)
    for r in await conn.execute(
        select(o.c.leader, o.c.destination).where(o.c.leader.in_(leaders), o.c.status != "cancelled",
                                                  o.c.room.in_(past))
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


async def sku_history(conn: AsyncConnection, skus: list[str], before: datetime) -> list[forecast.SkuHistory]:
    """A SKU's share of the past sessions' orders and its units per order that has it."""
    o, ln = models.orders, models.order_lines
    past = _past(before)
    total_orders = (
        await conn.execute(select(func.count()).select_from(o).where(o.c.status != "cancelled", o.c.room.in_(past)))
    ).scalar_one()
    rows: dict[str, Any] = {
        r.sku: r
        for r in await conn.execute(
            select(
                ln.c.sku,
                func.count(func.distinct(ln.c.order)).label("orders"),
                func.sum(ln.c.qty).label("units"),
            )
            .join(o, o.c.order == ln.c.order)
            .where(ln.c.sku.in_(skus), o.c.status != "cancelled", o.c.room.in_(past))
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


async def past_peaks(conn: AsyncConnection, skus: list[str], before: datetime) -> dict[str, int]:
    """sku -> the most units of it sold in one room that ended at or before `before` (SKUs never sold: absent)."""
    if not skus:
        return {}
    o, ln = models.orders, models.order_lines
    peaks: dict[str, int] = {}
    for row in await conn.execute(
        select(ln.c.sku, func.sum(ln.c.qty).label("units"))
        .join(o, o.c.order == ln.c.order)
        .where(ln.c.sku.in_(skus), o.c.status != "cancelled", o.c.room.in_(_past(before)))
        .group_by(o.c.room, ln.c.sku)
    ):
        peaks[row.sku] = max(peaks.get(row.sku, 0), int(row.units))
    return peaks
