"""Names and settings the screens show beside the figures: warehouses, SKUs, leaders, rooms, share links.

Events carry figures, not names: a `catalog_changed` event says only which row changed. `apply` never does I/O, so
it marks the row stale and `refresh` (run by the projections' owner after a batch of events) reads those rows again.
A warehouse's active switch is the exception: `warehouse_status_changed` carries it, so it is applied at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.stock_alerts import AlertPolicy
from store import forecast_inputs, models

# catalog_changed entities a screen shows; `deal` changes nothing on a screen. A `task` change names its room: the
# room's invitation tasks are read again (a `room` change reads them too).
SHOWN = frozenset({"warehouse", "sku", "leader", "room", "link", "task"})


@dataclass(slots=True)
class Sku:
    name: str
    price_cents: int
    presale_when_sold_out: bool
    low_stock_units: int

    @property
    def policy(self) -> AlertPolicy:
        return AlertPolicy(low_stock_units=self.low_stock_units, presale_when_sold_out=self.presale_when_sold_out)


@dataclass(slots=True)
class Warehouse:
    name: str
    active: bool


@dataclass(slots=True)
class Room:
    title: str
    skus: tuple[str, ...]  # empty: the room sells every SKU (the order service's rule)
    # The pre-stock plan's tier of each SKU and, for new products, the follow-up trigger (units/min): read with the
    # room and again when a share link joins a leader to it (domain/forecast_tiers.py, store/forecast_inputs.py).
    tiers: dict[str, str] = field(default_factory=dict)
    follow_up: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Task:
    title: str
    goal: int
    min_watch_s: int
    reward_points: int
    bonus_bp: int


class Catalog:
    def __init__(self) -> None:
        self.skus: dict[str, Sku] = {}
        self.warehouses: dict[str, Warehouse] = {}
        self.leaders: dict[str, str] = {}  # leader -> name
        self.rooms: dict[str, Room] = {}
        self.linked: dict[str, set[str]] = {}  # leader -> rooms the leader holds a share link for
        self.tasks: dict[str, dict[str, Task]] = {}  # room -> task -> its definition
        self.stale: set[tuple[str, str]] = set()
        self._selling: dict[str, tuple[str, ...]] | None = None  # sku -> rooms that sell it (cache)

    # --- reading -------------------------------------------------------------------------------------------

    def room_skus(self, room: str) -> list[str]:
        info = self.rooms.get(room)
        if info is None:
            return []
        return [s for s in info.skus if s in self.skus] if info.skus else sorted(self.skus)

    def rooms_selling(self, sku: str) -> tuple[str, ...]:
        if self._selling is None:
            selling: dict[str, list[str]] = {}
            every = [room for room, info in self.rooms.items() if not info.skus]
            for room, info in self.rooms.items():
                for s in info.skus:
                    selling.setdefault(s, []).append(room)
            self._selling = {s: tuple(rooms + every) for s, rooms in selling.items()}
            self._selling[""] = tuple(every)
        return self._selling.get(sku) or self._selling[""]

    def sku_name(self, sku: str) -> str | None:
        info = self.skus.get(sku)
        return info.name if info else None

    # --- changes -------------------------------------------------------------------------------------------

    def changed(self, entity: str, key: str) -> None:
        if entity in SHOWN:
            self.stale.add((entity, key))

    def warehouse_active(self, code: str, active: bool) -> None:
        info = self.warehouses.get(code)
        if info is None:
            self.warehouses[code] = Warehouse(code, active)
            self.stale.add(("warehouse", code))
        else:
            info.active = active

    # --- database ------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection) -> None:
        await self._warehouses(conn, None)
        await self._skus(conn, None)
        await self._leaders(conn, None)
        await self._rooms(conn, None)
        await self._links(conn, None)
        await self._tasks(conn, None)

    async def refresh(self, conn: AsyncConnection) -> list[tuple[str, ...]]:
        """Read the stale rows again; returns what was refreshed: (entity, key), or ("link", room, leader)."""
        stale, self.stale = self.stale, set()
        keys: dict[str, list[str]] = {}
        for entity, key in stale:
            keys.setdefault(entity, []).append(key)
        if "warehouse" in keys:
            await self._warehouses(conn, keys["warehouse"])
        if "sku" in keys:
            await self._skus(conn, keys["sku"])
        if "leader" in keys:
            await self._leaders(conn, keys["leader"])
        if "room" in keys:
            await self._rooms(conn, keys["room"])
        if "room" in keys or "task" in keys:
            await self._tasks(conn, [*keys.get("room", ()), *keys.get("task", ())])
        refreshed: list[tuple[str, ...]] = sorted(key for key in stale if key[0] != "link")
        if "link" in keys:  # a link is known by its code; what a screen cares about is its room and leader
            refreshed += [("link", room, leader) for room, leader in await self._links(conn, keys["link"])]
        return refreshed

    async def _warehouses(self, conn: AsyncConnection, only: Iterable[str] | None) -> None:
        t = models.warehouses
        query = select(t.c.code, t.c.name, t.c.active)
        for row in await conn.execute(query if only is None else query.where(t.c.code.in_(list(only)))):
            self.warehouses[row.code] = Warehouse(row.name, bool(row.active))

    async def _skus(self, conn: AsyncConnection, only: Iterable[str] | None) -> None:
        t = models.skus
        query = select(t.c.sku, t.c.name, t.c.price_cents, t.c.presale_when_sold_out, t.c.low_stock_units)
        for row in await conn.execute(query if only is None else query.where(t.c.sku.in_(list(only)))):
            self.skus[row.sku] = Sku(row.name, row.price_cents, bool(row.presale_when_sold_out),
                                     row.low_stock_units)
        self._selling = None  # a new SKU is sold by the rooms that sell everything

    async def _leaders(self, conn: AsyncConnection, only: Iterable[str] | None) -> None:
        t = models.leaders
        query = select(t.c.leader, t.c.name)
        for row in await conn.execute(query if only is None else query.where(t.c.leader.in_(list(only)))):
            self.leaders[row.leader] = row.name

    async def _rooms(self, conn: AsyncConnection, only: Iterable[str] | None) -> None:
        t = models.rooms
        query = select(t.c.room, t.c.title, t.c.skus)
        for row in await conn.execute(query if only is None else query.where(t.c.room.in_(list(only)))):
            self.rooms[row.room] = Room(row.title, tuple(row.skus or ()))
            await self._plan(conn, row.room)
        self._selling = None

    async def _plan(self, conn: AsyncConnection, room: str) -> None:
        info = self.rooms.get(room)
        inputs = await forecast_inputs.room_inputs(conn, room)
        planned = inputs.plan() if inputs is not None else None
        if info is None or planned is None:
            return
        info.tiers = {p.sku: str(p.tier) for p in planned.skus}
        info.follow_up = {p.sku: p.follow_up_per_min for p in planned.skus if p.follow_up_per_min is not None}

    async def _tasks(self, conn: AsyncConnection, rooms: Iterable[str] | None) -> None:
        t = models.room_tasks
        query = select(t.c.room, t.c.task, t.c.title, t.c.goal, t.c.min_watch_s, t.c.reward_points, t.c.bonus_bp)
        if rooms is not None:
            rooms = [room.split("/")[0] for room in rooms]  # a task's key may be "room/task"
            query = query.where(t.c.room.in_(rooms))
            for room in rooms:
                self.tasks.pop(room, None)
        for row in await conn.execute(query):
            self.tasks.setdefault(row.room, {})[row.task] = Task(row.title, row.goal, row.min_watch_s,
                                                                 row.reward_points, row.bonus_bp)

    async def _links(self, conn: AsyncConnection, only: Iterable[str] | None) -> list[tuple[str, str]]:
        t = models.links
        query = select(t.c.room, t.c.leader).distinct()
        rows = [(row.room, row.leader) for row in await conn.execute(
            query if only is None else query.where(t.c.code.in_(list(only))))]
        for room, leader in rows:
            self.linked.setdefault(leader, set()).add(room)
        if only is not None:  # a leader joined: the room's expected audience may change
            for room in sorted({room for room, _ in rows}):
                await self._plan(conn, room)
        return rows


def refreshed_topics(catalog: Catalog, refreshed: Iterable[tuple[str, ...]],
                     participants: Callable[[str], Iterable[str]],
                     neighbours: Callable[[str], Iterable[str]]) -> set[str]:
    """The topics whose names or settings a refreshed catalog row may change (`neighbours`: the leaders whose
    gap to the next place names a leader)."""
    dirty: set[str] = set()
    for entity, key, *more in refreshed:
        if entity == "sku":
            dirty.update(f"room:{room}:stock" for room in catalog.rooms_selling(key))
        elif entity == "warehouse":
            dirty.add("ops")
            dirty.update(f"room:{room}:stock" for room in catalog.rooms)
        elif entity == "room":
            dirty.update(f"room:{key}:{part}" for part in ("stock", "board", "feed", "questions"))
            dirty.update(f"leader:{leader}" for leader in participants(key))
        elif entity == "task":
            room = key.split("/")[0]
            dirty.update((f"room:{room}:feed", "ops"))
            dirty.update(f"leader:{leader}" for leader in participants(room))
        elif entity == "leader":
            dirty.add(f"leader:{key}")
            dirty.update(f"leader:{leader}" for leader in neighbours(key))
            dirty.update(f"room:{room}:board" for room in catalog.rooms)
        elif entity == "link":
            # A new share link lets its leader open the room's board: the leader's view lists the room.
            room, leader = key, more[0]
            dirty.update((f"leader:{leader}", f"room:{room}:board", f"room:{room}:stock"))
    return dirty
