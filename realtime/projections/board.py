"""The room leaderboard (`room:{id}:board`): GMV, orders and invited visitors per leader, and the room's totals.

The figures are those of the `room_leaders` table, which the order and visit services keep in the same transaction
as the orders and visits that change them: an accepted order (held ones too) adds its total and one order to its
leader and one assist to each assisting leader, a cancel takes them back, a new or re-bound visitor is an invite.
Refunds do not change GMV, as in the table. Ranks go by GMV, then leader id, as the REST leaderboard ranks them.

Each room keeps its leaders in rank order (a sorted list), so a leader's rank is a bisection and a change of GMV
names exactly the leaders it overtook or fell behind: only their `leader:` topics are redrawn, not thousands (and
those of the leader now right behind it and of the leader on top, whose gap to the next place it changes).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.projections.catalog import Catalog
from store import models

TOP = 20  # leaders a board frame shows; any other leader's rank is in that leader's own view
INVITERS = 5  # leaders the "most invitations" sidebar shows

GMV, ORDERS, INVITES, ASSISTS = range(4)


class RoomBoard:
    __slots__ = ("gmv_cents", "orders", "ranking", "rows")

    def __init__(self) -> None:
        self.rows: dict[str, list[int]] = {}  # leader -> [gmv_cents, orders, invites, assists]
        self.ranking: list[tuple[int, str]] = []  # (-gmv_cents, leader), best first
        self.gmv_cents = 0  # every live order of the room, with or without a leader (the host's figures)
        self.orders = 0

    def add(self, leader: str, counts: tuple[int, int, int, int]) -> set[str]:
        """Add to a leader's figures; returns the other leaders whose view changed: those whose rank changed, and
        those whose gap to the next place did (the one now right behind a moved row, and the leader on top when
        the second place changed)."""
        moved: set[str] = set()
        row = self.rows.get(leader)
        if row is None:
            row = self.rows[leader] = [0, 0, 0, 0]
            at = bisect_left(self.ranking, (0, leader))
            self.ranking.insert(at, (0, leader))
            moved.update(name for _, name in self.ranking[at:])  # everyone behind a newcomer moves down one
            moved.update(self._next_to(at, at))
        if counts[GMV]:
            before = bisect_left(self.ranking, (-row[GMV], leader))
            del self.ranking[before]
            key = (-(row[GMV] + counts[GMV]), leader)
            after = bisect_left(self.ranking, key)
            self.ranking.insert(after, key)
            low, high = min(before, after), max(before, after)
            moved.update(name for _, name in self.ranking[low : high + 1])
            moved.update(self._next_to(low, high))
        for i, n in enumerate(counts):
            row[i] += n
        return moved

    def _next_to(self, low: int, high: int) -> list[str]:
        """Leaders whose gap names a row in ranking[low..high]: the one right behind, and the top one (its gap is
        to the second place)."""
        names = [self.ranking[high + 1][1]] if high + 1 < len(self.ranking) else []
        if low <= 1 and self.ranking:
            names.append(self.ranking[0][1])
        return names

    def neighbours(self, leader: str) -> list[str]:
        """Leaders whose gap to the next place names this leader."""
        rank = self.rank(leader)
        return [] if rank is None else self._next_to(rank - 1, rank - 1)

    def rank(self, leader: str) -> int | None:
        row = self.rows.get(leader)
        return None if row is None else bisect_left(self.ranking, (-row[GMV], leader)) + 1

    def entry(self, rank: int, leader: str, name: str | None) -> dict[str, Any]:
        row = self.rows[leader]
        return {"rank": rank, "leader": leader, "name": name, "gmv_cents": row[GMV], "orders": row[ORDERS],
                "invites": row[INVITES]}


class Boards:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.rooms: dict[str, RoomBoard] = {}
        self.joined: dict[str, set[str]] = {}  # leader -> rooms where the leader has a row

    def room(self, room: str) -> RoomBoard:
        board = self.rooms.get(room)
        if board is None:
            board = self.rooms[room] = RoomBoard()
        return board

    def _add(self, room: str, leader: str, counts: tuple[int, int, int, int], dirty: set[str]) -> None:
        board = self.room(room)
        if leader not in board.rows:
            self.joined.setdefault(leader, set()).add(room)
        dirty.update(f"leader:{name}" for name in board.add(leader, counts))
        dirty.add(f"leader:{leader}")

    # --- events ----------------------------------------------------------------------------------------------

    def on_order_accepted(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        room, leader, total = record["room"], record["leader"], record["total_cents"]
        board = self.room(room)
        board.gmv_cents += total
        board.orders += 1
        if leader:
            self._add(room, leader, (total, 1, 0, 0), dirty)
        for assist in record.get("assists") or ():
            self._add(room, assist, (0, 0, 0, 1), dirty)
        dirty.update((f"room:{room}:board", f"room:{room}:stock", "ops"))

    def on_order_cancelled(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        room, leader, total = record["room"], record["leader"], record["total_cents"]
        board = self.room(room)
        board.gmv_cents -= total
        board.orders -= 1
        if leader:
            self._add(room, leader, (-total, -1, 0, 0), dirty)
        dirty.update((f"room:{room}:board", f"room:{room}:stock", "ops"))

    def on_visitor_bound(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._add(record["room"], record["leader"], (0, 0, 1, 0), dirty)
        dirty.add(f"room:{record['room']}:board")

    # --- reading ---------------------------------------------------------------------------------------------

    def rooms_of(self, leader: str) -> set[str]:
        """Rooms the leader takes part in: a row on the board or a share link of the room."""
        return self.joined.get(leader, set()) | self.catalog.linked.get(leader, set())

    def neighbours(self, leader: str) -> set[str]:
        """Leaders whose gap to the next place names this leader, in any room (redrawn when it is renamed)."""
        return {name for room in self.joined.get(leader, ()) for name in self.rooms[room].neighbours(leader)}

    def leaders_in(self, room: str) -> set[str]:
        board = self.rooms.get(room)
        linked = {leader for leader, rooms in self.catalog.linked.items() if room in rooms}
        return (set(board.rows) if board else set()) | linked

    def snapshot(self, room: str) -> dict[str, Any] | None:
        info = self.catalog.rooms.get(room)
        board = self.rooms.get(room)
        if info is None and board is None:
            return None
        entries = []
        if board is not None:
            names = self.catalog.leaders
            entries = [board.entry(rank, leader, names.get(leader))
                       for rank, (_, leader) in enumerate(board.ranking[:TOP], start=1)]
        return {"room": room, "title": info.title if info else None, "by": "gmv",
                "leaders": len(board.rows) if board else 0, "entries": entries,
                "inviters": self._inviters(board) if board else []}

    def _inviters(self, board: RoomBoard) -> list[dict[str, Any]]:
        """The "most invitations" sidebar: the leaders who invited the most visitors to the room."""
        best = heapq.nsmallest(INVITERS, ((-row[INVITES], leader) for leader, row in board.rows.items()
                                          if row[INVITES] > 0))
        return [{"leader": leader, "name": self.catalog.leaders.get(leader), "invites": -minus}
                for minus, leader in best]

    def invites(self) -> dict[str, int]:
        """Invited visitors per leader, all rooms."""
        total: dict[str, int] = {}
        for board in self.rooms.values():
            for leader, row in board.rows.items():
                if row[INVITES]:
                    total[leader] = total.get(leader, 0) + row[INVITES]
        return total

    def totals(self) -> tuple[int, int]:
        """(orders, GMV cents) of every live order, all rooms."""
        return (sum(b.orders for b in self.rooms.values()), sum(b.gmv_cents for b in self.rooms.values()))

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection) -> None:
        rl = models.room_leaders
        for row in await conn.execute(select(rl.c.room, rl.c.leader, rl.c.gmv_cents, rl.c.orders, rl.c.invites,
                                             rl.c.assists)):
            self.room(row.room).rows[row.leader] = [row.gmv_cents, row.orders, row.invites, row.assists]
            self.joined.setdefault(row.leader, set()).add(row.room)
        for board in self.rooms.values():
            board.ranking = sorted((-row[GMV], leader) for leader, row in board.rows.items())
        o = models.orders
        for row in await conn.execute(
            select(o.c.room, func.count().label("orders"), func.coalesce(func.sum(o.c.total_cents), 0).label("gmv"))
            .where(o.c.status != "cancelled").group_by(o.c.room)
        ):
            board = self.room(row.room)
            board.orders, board.gmv_cents = int(row.orders), int(row.gmv)
