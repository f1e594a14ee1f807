"""Feeds: the room's order ticker (`room:{id}:feed`) and the ring buffer it and the ops exceptions feed keep.

Besides orders (`kind: "order"`), the room's feed shows the room's growth as it happens: a new leader recruited in
the room (`kind: "recruit"`, from `leader_recruited`) and a leader's invitation task completed (`kind: "task_done"`,
from the first `task_progressed` with `done` for that room, task and leader).

An item's seq is the outbox seq of the event it comes from. It therefore grows with every item, means the same in
every process and after every restart, and a client reconnecting with `since=SEQ` — to this process or another —
gets exactly what it missed while the buffer still reaches back that far, and None (send a snapshot) otherwise.
On load the buffers are filled from the outbox itself, so a restarted process shows the very same items.

Buyer privacy: a feed item carries the masked name the order service put on the event, the province and city,
the items and the total; never a phone or an address.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.projections.catalog import Catalog
from store import models

CAPACITY = 500  # items a feed keeps for clients that reconnect with since=
SHOWN = 50  # items a snapshot shows


class Ring:
    """The newest `capacity` items of a feed, oldest first. Every item with seq > `floor` is in the buffer."""

    __slots__ = ("floor", "items")

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.items: deque[dict[str, Any]] = deque(maxlen=capacity)
        self.floor = 0

    def add(self, item: dict[str, Any]) -> None:
        if len(self.items) == self.items.maxlen:
            self.floor = self.items[0]["seq"]  # the oldest falls out: the buffer no longer reaches below it
        self.items.append(item)

    def fill(self, newest_first: list[dict[str, Any]], complete: bool) -> None:
        """Items read back on load; `complete` when they are all the feed ever had."""
        for item in reversed(newest_first):
            self.add(item)
        if not complete and self.items:
            self.floor = max(self.floor, self.items[0]["seq"] - 1)

    @property
    def last_seq(self) -> int:
        return self.items[-1]["seq"] if self.items else 0

    def since(self, since: int) -> list[dict[str, Any]] | None:
        if since < self.floor:
            return None
        newer: list[dict[str, Any]] = []
        for item in reversed(self.items):  # newest first: a reconnecting client usually missed only a few
            if item["seq"] <= since:
                break
            newer.append(item)
        newer.reverse()
        return newer

    def latest(self, n: int = SHOWN) -> list[dict[str, Any]]:
        start = max(0, len(self.items) - n)
        return [self.items[i] for i in range(start, len(self.items))]


def order_item(seq: int, record: dict[str, Any]) -> dict[str, Any]:
    """A ticker line from an order_accepted record: only what the public may see."""
    return {
        "seq": seq,
        "kind": "order",
        "at": record["at"],
        "order": record["order"],
        "buyer": record["buyer_masked"],
        "province": record["province"],
        "city": record["city"],
        "items": [list(line) for line in record["items"]],
        "total_cents": record["total_cents"],
        "leader": record["leader"],
        "presale": record.get("presale", False),
    }


def recruit_item(seq: int, record: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "kind": "recruit", "at": record["at"], "leader": record["leader"], "name": record["name"],
            "upline": record.get("upline")}


def task_item(seq: int, record: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "kind": "task_done", "at": record["at"], "room": record["room"], "leader": record["leader"],
            "task": record["task"], "goal": record["goal"]}


class RoomFeeds:
    def __init__(self, catalog: Catalog, capacity: int = CAPACITY) -> None:
        self.catalog = catalog
        self.capacity = capacity
        self.rings: dict[str, Ring] = {}
        self.done: set[tuple[str, str, str]] = set()  # (room, task, leader) whose completion is in the feed

    def ring(self, room: str) -> Ring:
        ring = self.rings.get(room)
        if ring is None:
            ring = self.rings[room] = Ring(self.capacity)
        return ring

    def on_order_accepted(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.ring(record["room"]).add(order_item(seq, record))
        dirty.add(f"room:{record['room']}:feed")

    def on_leader_recruited(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.ring(record["room"]).add(recruit_item(seq, record))
        dirty.add(f"room:{record['room']}:feed")

    def on_task_progressed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        item = self._task_done(seq, record)
        if item is not None:
            self.ring(record["room"]).add(item)
            dirty.add(f"room:{record['room']}:feed")

    def _task_done(self, seq: int, record: dict[str, Any]) -> dict[str, Any] | None:
        key = (record["room"], record["task"], record["leader"])
        if not record.get("done") or key in self.done:
            return None
        self.done.add(key)
        return task_item(seq, record)

    # --- reading: names are added as the screen is drawn, so a renamed SKU or leader shows its new name ---------

    def _shown(self, item: dict[str, Any]) -> dict[str, Any]:
        leader = item["leader"]
        if item.get("kind") == "recruit":
            upline = item["upline"]
            return {**item, "name": self.catalog.leaders.get(leader) or item["name"],
                    "upline_name": (self.catalog.leaders.get(upline) or upline) if upline else None}
        if item.get("kind") == "task_done":
            task = self.catalog.tasks.get(item["room"], {}).get(item["task"])
            return {**item, "leader_name": self.catalog.leaders.get(leader),
                    "title": task.title if task else None}
        return {
            **item,
            "items": [{"sku": sku, "name": self.catalog.sku_name(sku), "qty": qty} for sku, qty in item["items"]],
            "leader_name": self.catalog.leaders.get(leader) if leader else None,
        }

    def snapshot(self, room: str) -> dict[str, Any] | None:
        if room not in self.catalog.rooms and room not in self.rings:
            return None
        ring = self.rings.get(room)
        items = ring.latest() if ring else []
        return {"room": room, "items": [self._shown(i) for i in items], "seq": ring.last_seq if ring else 0}

    def since(self, room: str, since: int) -> list[dict[str, Any]] | None:
        ring = self.rings.get(room)
        if ring is None:
            return [] if room in self.catalog.rooms else None
        items = ring.since(since)
        return None if items is None else [self._shown(i) for i in items]

    def last_seq(self, room: str) -> int:
        ring = self.rings.get(room)
        return ring.last_seq if ring else 0

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection, upto: int,
                   growth: Iterable[tuple[int, dict[str, Any]]] = (), checkpoint: dict[str, Any] | None = None) -> None:
        """The newest `capacity` items of every room: order_accepted events straight from the outbox, merged with
        the recruits and completed tasks of the growth checkpoint (`checkpoint`: `growth_items`' state up to its
        seq, if any) and those among `growth` (the growth events after it up to `upto`, oldest first)."""
        per_room: dict[str, list[dict[str, Any]]] = {}
        for seq, payload in await _latest_orders_of(conn, upto, self.capacity):
            per_room.setdefault(payload["room"], []).append(order_item(seq, payload))
        orders = {name: len(items) for name, items in per_room.items()}
        state = growth_items(growth, checkpoint, keep=max(self.capacity, CAPACITY) + 1)
        self.done = {(r, task, leader) for r, task, leader in state["done"]}
        for name, items in state["items"].items():
            per_room.setdefault(name, []).extend(items)
        for name, items in per_room.items():
            items.sort(key=lambda item: item["seq"], reverse=True)
            complete = orders.get(name, 0) < self.capacity and len(items) <= self.capacity
            self.ring(name).fill(items[: self.capacity], complete=complete)


FEW_ROOMS = 8  # up to this many rooms with orders, each room's newest are read newest-first with a LIMIT


async def _latest_orders_of(conn: AsyncConnection, upto: int, capacity: int) -> list[Any]:
    """Each room's newest `capacity` order_accepted events (seq <= upto), newest first overall.

    With a few rooms (the usual case: one live room at a time), one query per room walks the outbox back from
    `upto` and stops at `capacity` (a window over every order_accepted event of the session sorted them all: ~0.4 s
    at 100k orders). With many, the window, which reads the outbox once whatever the number of rooms."""
    outbox = models.outbox
    room = outbox.c.payload["room"].as_string()
    accepted = (outbox.c.kind == "order_accepted", outbox.c.seq <= upto)
    rooms = (await conn.execute(select(models.orders.c.room).distinct())).scalars().all()
    if len(rooms) <= FEW_ROOMS:
        rows: list[Any] = []
        for name in rooms:
            rows += (await conn.execute(select(outbox.c.seq, outbox.c.payload).where(*accepted, room == name)
                                        .order_by(outbox.c.seq.desc()).limit(capacity))).all()
        return sorted(rows, key=lambda row: row[0], reverse=True)
    ranked = (
        select(outbox.c.seq, outbox.c.payload,
               func.row_number().over(partition_by=room, order_by=outbox.c.seq.desc()).label("rn"))
        .where(*accepted)
        .subquery()
    )
    return list((await conn.execute(
        select(ranked.c.seq, ranked.c.payload).where(ranked.c.rn <= capacity).order_by(ranked.c.seq.desc())
    )).all())


def growth_items(records: Iterable[tuple[int, dict[str, Any]]], state: dict[str, Any] | None = None,
                 keep: int = CAPACITY + 1) -> dict[str, Any]:
    """What the feeds take from growth events, folded on from `state` (a checkpoint's, or nothing): each room's
    newest `keep` recruits and completed tasks (oldest first; one more than a feed holds, so a feed filled from
    them knows whether it reaches back to its start) and the (room, task, leader) whose completion is in the feed
    already."""
    done = {(room, task, leader) for room, task, leader in (state or {}).get("done", ())}
    items = {room: list(found) for room, found in (state or {}).get("items", {}).items()}
    for seq, record in records:
        kind, item = record.get("kind"), None
        if kind == "leader_recruited":
            item = recruit_item(seq, record)
        elif kind == "task_progressed" and record.get("done"):
            key = (record["room"], record["task"], record["leader"])
            if key not in done:
                done.add(key)
                item = task_item(seq, record)
        if item is not None:
            found = items.setdefault(record["room"], [])
            found.append(item)
            del found[:-keep]
    return {"done": sorted([list(key) for key in done]), "items": items}
