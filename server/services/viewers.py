"""One visitor in one room (`viewers`): the leader they are bound to, their watch time and the steps of their path.

Several writers touch the row (a visit, a heartbeat, a recruit, an accepted order); each loads the rows of its batch
as plain dicts with every column, changes them in memory in arrival order, and upserts them back with the columns
it owns. The funnel and the path are read from these rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select

from store import models
from store.uow import Tx

Viewer = dict[str, Any]  # every column of `viewers`


def new_viewer(room: str, visitor: str, leader: str | None, at: datetime) -> Viewer:
    return {
        "room": room, "visitor": visitor, "leader": leader, "first_seen": at, "last_seen": at, "watched_us": 0,
        "clicked_at": None, "entered_at": None, "watched_at": None, "ordered_at": None, "became_leader_at": None,
    }


async def load_viewers(tx: Tx, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Viewer]:
    """The stored rows of these (room, visitor) pairs (one query; rooms × visitors read, the pairs kept)."""
    wanted = set(pairs)
    if not wanted:
        return {}
    v = models.viewers
    rows = await tx.conn.execute(
        select(v).where(v.c.room.in_({room for room, _ in wanted}),
                        v.c.visitor.in_({visitor for _, visitor in wanted})))
    return {(r.room, r.visitor): dict(r._mapping) for r in rows if (r.room, r.visitor) in wanted}


def _earliest(a: datetime | None, b: datetime) -> datetime:
    return b if a is None or b < a else a


def seen_at(viewer: Viewer, at: datetime) -> Viewer:
    """The row with `at` inside [first_seen, last_seen]."""
    return {**viewer, "first_seen": min(viewer["first_seen"], at), "last_seen": max(viewer["last_seen"], at)}


def clicked(existing: Viewer | None, room: str, visitor: str, leader: str | None, at: datetime) -> Viewer:
    """A visit through a share code: the leader the visitor is bound to after it, and the first click's time."""
    viewer = seen_at(existing or new_viewer(room, visitor, leader, at), at)
    return {**viewer, "leader": leader or viewer["leader"], "clicked_at": _earliest(viewer["clicked_at"], at)}


def became_leader(existing: Viewer | None, room: str, visitor: str, upline: str | None, at: datetime) -> Viewer:
    viewer = seen_at(existing or new_viewer(room, visitor, upline, at), at)
    return {**viewer, "became_leader_at": _earliest(viewer["became_leader_at"], at)}
