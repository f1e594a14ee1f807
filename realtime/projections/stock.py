"""The host's stock board (`room:{id}:stock`): every SKU of the room with its units per warehouse, sell rate,
minutes to sell-out and alert level (domain.stock rules), the presale switch, and the room's GMV and order count,
with the units the room sold in each of the last 30 minutes (the host screen's sparkline).

Stock events carry the new level of one SKU in one warehouse, so applying one twice or late still lands on the
truth. The sell rate counts the units an order took at placement (`stock_changed.sold`) over the domain's sliding
window; on load the same sales come from the orders placed inside the window (their lines, less any presale lines,
which took no stock). Sales are kept per second: a 5-minute rate needs no finer grain, and a burst of a thousand
orders a second stays one entry.

The sparkline counts the same units per room and per minute (by the order's time, cancelled orders included: it is
a flow, like the ops series). It is units rather than orders because stock events are what this board follows; an
order of many lines is many units drained.

Each SKU also carries the room's pre-stock tier and, for a new product, its follow-up trigger: `follow_up` is true
while the SKU's sell rate is above its first batch's planned rate (the catalog holds the plan).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.forecast_tiers import follow_up_fires
from domain.stock_alerts import (
    DEFAULT_RATE_WINDOW,
    AlertLevel,
    Sale,
    alert_level,
    minutes_to_sellout,
    sell_rate,
)
from realtime.projections.board import Boards
from realtime.projections.catalog import Catalog, Room
from realtime.projections.times import minute_of, minute_start, utc
from store import models

# Alert levels at which the host should replenish (the screen's replenish switch lights up).
PRUNE_AT = 2 * int(DEFAULT_RATE_WINDOW.total_seconds())  # per-second entries a SKU keeps before forgetting
SPARK_MINUTES = 30  # minutes the room's sparkline shows, the current one last
REPLENISH = frozenset({AlertLevel.LOW, AlertLevel.CRITICAL, AlertLevel.SOLD_OUT, AlertLevel.PRESALE})


def _second(at: datetime) -> datetime:
    return at.replace(microsecond=0)


class StockBoard:
    def __init__(self, catalog: Catalog, boards: Boards, clock: Callable[[], datetime]) -> None:
        self.catalog = catalog
        self.boards = boards
        self.clock = clock
        self.levels: dict[str, dict[str, tuple[int, int]]] = {}  # sku -> warehouse -> (on_hand, reserved)
        self.sales: dict[str, dict[datetime, int]] = {}  # sku -> second -> units sold
        self.room_minutes: dict[str, dict[int, int]] = {}  # room -> minute -> units sold
        self.turned: int | None = None  # the minute `clock_rooms` last saw

    # --- events ----------------------------------------------------------------------------------------------

    def on_stock_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        sku = record["sku"]
        self.levels.setdefault(sku, {})[record["warehouse"]] = (record["on_hand"], record["reserved"])
        sold = record.get("sold") or 0
        if sold > 0:
            at = _second(utc(record["at"]))
            per_second = self.sales.setdefault(sku, {})
            per_second[at] = per_second.get(at, 0) + sold
            if len(per_second) > PRUNE_AT:  # nobody may be drawing this board: forget old sales here too
                self._recent_sales(sku, self.clock())
            if record.get("room"):
                self._room_sold(record["room"], minute_of(at), sold)
        dirty.update(f"room:{room}:stock" for room in self.catalog.rooms_selling(sku))

    def on_warehouse_status_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        # Only active warehouses count towards what buyers can order: every board may change.
        dirty.update(f"room:{room}:stock" for room in self.catalog.rooms)

    # --- reading ---------------------------------------------------------------------------------------------

    def _recent_sales(self, sku: str, now: datetime) -> list[Sale]:
        per_second = self.sales.get(sku)
        if not per_second:
            return []
        start = now - DEFAULT_RATE_WINDOW
        for at in [at for at in per_second if at <= start]:  # left the window for good: forget it
            del per_second[at]
        return [Sale(at, units) for at, units in per_second.items()]

    def _room_sold(self, room: str, minute: int, units: int) -> None:
        per_minute = self.room_minutes.setdefault(room, {})
        per_minute[minute] = per_minute.get(minute, 0) + units
        if per_minute[minute] <= 0:
            del per_minute[minute]
        if len(per_minute) > 2 * SPARK_MINUTES:  # nobody may be drawing this board: forget old minutes here too
            self._forget_minutes(per_minute, minute_of(self.clock()) - SPARK_MINUTES + 1)

    @staticmethod
    def _forget_minutes(per_minute: dict[int, int], first: int) -> None:
        for minute in [m for m in per_minute if m < first]:
            del per_minute[minute]

    def series(self, room: str, now: datetime) -> list[dict[str, Any]]:
        """Units sold in each of the last SPARK_MINUTES minutes, oldest first, the current (partial) minute last."""
        last = minute_of(now)
        first = last - SPARK_MINUTES + 1
        per_minute = self.room_minutes.get(room, {})
        self._forget_minutes(per_minute, first)
        return [{"minute": minute_start(m).isoformat(), "units": per_minute.get(m, 0)} for m in range(first, last + 1)]

    def sku_row(self, sku: str, now: datetime) -> dict[str, Any]:
        info = self.catalog.skus[sku]
        warehouses = []
        available = 0
        for code, (on_hand, reserved) in sorted(self.levels.get(sku, {}).items()):
            site = self.catalog.warehouses.get(code)
            active = site.active if site else False
            warehouses.append({"warehouse": code, "name": site.name if site else None, "active": active,
                               "on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved})
            if active:
                available += on_hand - reserved
        rate = sell_rate(self._recent_sales(sku, now), now)
        minutes = minutes_to_sellout(available, rate)
        level = alert_level(available, rate, info.policy)
        return {
            "sku": sku,
            "name": info.name,
            "price_cents": info.price_cents,
            "available": available,
            "warehouses": warehouses,
            "rate_per_min": round(rate, 2),
            "minutes_to_sellout": None if minutes is None else round(minutes, 1),
            "level": str(level),
            "low_stock_units": info.low_stock_units,
            "presale": info.presale_when_sold_out,
            "replenish": level in REPLENISH,
        }

    def snapshot(self, room: str) -> dict[str, Any] | None:
        info = self.catalog.rooms.get(room)
        if info is None:
            return None
        now = self.clock()
        board = self.boards.rooms.get(room)
        return {
            "room": room,
            "title": info.title,
            "gmv_cents": board.gmv_cents if board else 0,
            "orders": board.orders if board else 0,
            "series": self.series(room, now),
            "skus": [self._planned(info, self.sku_row(sku, now)) for sku in self.catalog.room_skus(room)],
        }

    @staticmethod
    def _planned(info: Room, row: dict[str, Any]) -> dict[str, Any]:
        """The room's plan beside the figures: the SKU's tier and, for a new product, whether its fast follow-up
        trigger fires (its sell rate is above its first batch's plan: domain/forecast_tiers.py)."""
        plan = info.follow_up.get(row["sku"])
        return {**row, "tier": info.tiers.get(row["sku"]), "follow_up_per_min": plan,
                "follow_up": follow_up_fires(row["rate_per_min"], plan)}

    def selling_rooms(self) -> list[str]:
        """Rooms with a sale inside the window: their rates change as time passes, with no event at all."""
        selling = {sku for sku, per_second in self.sales.items() if per_second}
        return [room for room in self.catalog.rooms if selling & set(self.catalog.room_skus(room))]

    def clock_rooms(self, now: datetime) -> set[str]:
        """Rooms whose board changes with time alone, asked once a second: the selling rooms every time, and when
        the minute has turned since the last call, every room whose sparkline held a sale (it moves on a minute,
        even in a room that stopped selling long ago)."""
        rooms = set(self.selling_rooms())
        minute = minute_of(now)
        if minute != self.turned:
            self.turned = minute
            first = minute - SPARK_MINUTES  # the first minute of the sparkline drawn a minute ago
            rooms.update(room for room, per_minute in self.room_minutes.items()
                         if any(m >= first for m in per_minute))
        return rooms

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection, now: datetime) -> None:
        s = models.stock
        for row in await conn.execute(select(s.c.sku, s.c.warehouse, s.c.on_hand, s.c.reserved)):
            self.levels.setdefault(row.sku, {})[row.warehouse] = (row.on_hand, row.reserved)
        await self._load_sales(conn, now - DEFAULT_RATE_WINDOW, minute_of(now) - SPARK_MINUTES + 1)

    async def _load_sales(self, conn: AsyncConnection, start: datetime, first_minute: int) -> None:
        """Units each order took from stock at placement, for orders placed after `start` (the sell rate) or from
        `first_minute` on (the sparkline); future ones too: a client may stamp an order ahead of our clock, and it
        counts once that time comes."""
        o, lines = models.orders, models.order_lines
        since = min(start, minute_start(first_minute))
        rows = await conn.execute(
            select(o.c.placed_at, o.c.room, lines.c.sku, func.sum(lines.c.qty).label("units"))
            .join(lines, lines.c.order == o.c.order)
            .where(o.c.placed_at >= since)
            .group_by(o.c.placed_at, o.c.room, lines.c.sku)
        )
        sold = [(utc(placed_at), room, sku, int(units)) for placed_at, room, sku, units in rows]
        # Presale lines took no stock: the order's answer lists them (it never changes, even on cancel).
        for placed_at, room, response in await conn.execute(
            select(o.c.placed_at, o.c.room, o.c.response).where(o.c.placed_at >= since, o.c.presale.is_(True))
        ):
            presale = response.get("presale") or ()
            sold.extend((utc(placed_at), room, line["sku"], -int(line["qty"])) for line in presale)
        for placed_at, room, sku, units in sold:  # every sale before any presale line: no count dips below zero
            if placed_at > start:
                self._sold(sku, placed_at, units)
            if minute_of(placed_at) >= first_minute:
                self._room_sold(room, minute_of(placed_at), units)

    def _sold(self, sku: str, placed_at: datetime, units: int) -> None:
        per_second = self.sales.setdefault(sku, {})
        at = _second(placed_at)
        per_second[at] = per_second.get(at, 0) + units
        if per_second[at] <= 0:
            del per_second[at]
