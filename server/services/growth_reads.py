"""The growth engine's reads (API.md, "Growth"): a leader's growth (points, tasks, recruits, own funnel), their
prospects, a room's funnel, a visitor's path. All from the database, in one connection each.

"Ordered" is read from both `viewers.ordered_at` (set when an order is accepted) and the orders themselves, so a
visitor with an order in the room counts as ordered (and is no prospect) whichever was written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, case, distinct, exists, func, or_, select, union
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ColumnElement

from domain import growth
from domain.errors import DomainError
from server.context import AppContext
from server.services.presence import US, task_of
from store import models

FUNNEL = ("clicked", "entered", "watched", "ordered", "became_leader")


def _unknown(what: str, key: str, field: str | None) -> DomainError:
    return DomainError(f"unknown {what}: {key}", field=field, code="not_found")


async def _require(conn: AsyncConnection, table: Any, column: str, key: str, what: str, field: str) -> None:
    if (await conn.execute(select(table.c[column]).where(table.c[column] == key))).first() is None:
        raise _unknown(what, key, field)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


async def room_exists(app: AppContext, room: str) -> None:
    async with app.engine.connect() as conn:
        await _require(conn, models.rooms, "room", room, "room", "room")


# --- the funnel ---------------------------------------------------------------------------------------------


async def _funnel(conn: AsyncConnection, room: str | None, leader: str | None) -> dict[str, int]:
    """Distinct visitors per step, in one room or all, of one leader's visitors or everyone's."""
    v, o = models.viewers, models.orders
    where: list[ColumnElement[bool]] = []
    if room is not None:
        where.append(v.c.room == room)
    if leader is not None:
        where.append(v.c.leader == leader)

    def step(column: Any) -> Any:
        return func.count(distinct(case((column.is_not(None), v.c.visitor))))

    counts = (await conn.execute(select(
        step(v.c.clicked_at), step(v.c.entered_at), step(v.c.watched_at), step(v.c.became_leader_at)
    ).where(*where))).one()
    order_where: list[ColumnElement[bool]] = []
    if room is not None:
        order_where.append(o.c.room == room)
    if leader is not None:
        order_where.append(o.c.leader == leader)
    ordered = union(
        select(v.c.visitor).where(*where, v.c.ordered_at.is_not(None)),
        select(o.c.visitor).where(*order_where),
    ).subquery()
    n_ordered = (await conn.execute(select(func.count()).select_from(ordered))).scalar_one()
    clicked, entered, watched, became = (int(c or 0) for c in counts)
    return {"clicked": clicked, "entered": entered, "watched": watched, "ordered": int(n_ordered),
            "became_leader": became}


async def room_funnel(app: AppContext, room: str, leader: str | None) -> dict[str, Any]:
    async with app.engine.connect() as conn:
        await _require(conn, models.rooms, "room", room, "room", "room")
        if leader is not None:
            await _require(conn, models.leaders, "leader", leader, "leader", "leader")
        return await _funnel(conn, room, leader)


# --- a visitor's path ---------------------------------------------------------------------------------------


async def visitor_path(app: AppContext, visitor: str, room: str | None) -> dict[str, Any]:
    """The steps the visitor took (in one room or all), in time order; an order counts from the first one."""
    v, o = models.viewers, models.orders
    async with app.engine.connect() as conn:
        if room is not None:
            await _require(conn, models.rooms, "room", room, "room", "room")
        viewer_rows = list(await conn.execute(
            select(v).where(v.c.visitor == visitor, *([v.c.room == room] if room else []))))
        first_orders: dict[str, Any] = {}
        for row in await conn.execute(
                select(o.c.room, o.c.leader, o.c.placed_at).where(
                    o.c.visitor == visitor, *([o.c.room == room] if room else []))
                .order_by(o.c.placed_at, o.c.order)):
            first_orders.setdefault(row.room, row)
    steps: list[tuple[Any, int, str, str | None]] = []
    order_index = growth.STEPS.index(growth.Step.ORDERED)
    for row in viewer_rows:
        for i, name in enumerate(growth.STEPS):
            at = getattr(row, f"{name}_at")
            if name == growth.Step.ORDERED:
                first = first_orders.pop(row.room, None)
                if first is not None and (at is None or first.placed_at < at):
                    steps.append((first.placed_at, i, str(name), first.leader))
                    continue
            if at is not None:
                steps.append((at, i, str(name), row.leader))
    for first in first_orders.values():  # ordered without a visit or heartbeat recorded in that room
        steps.append((first.placed_at, order_index, str(growth.Step.ORDERED), first.leader))
    steps.sort(key=lambda s: (s[0], s[1]))
    return {"visitor": visitor, "steps": [{"step": name, "at": _iso(at), "leader": leader}
                                          for at, _, name, leader in steps]}


# --- prospects ----------------------------------------------------------------------------------------------


async def prospects(app: AppContext, leader: str, room: str | None) -> dict[str, Any]:
    """The leader's visitors who clicked or entered and have no order (in that room): most recently seen first.
    A visitor seen in several rooms (no room given) shows once: first and last seen over them, time summed."""
    v, o, pn = models.viewers, models.orders, models.prospect_notes
    async with app.engine.connect() as conn:
        await _require(conn, models.leaders, "leader", leader, "leader", "leader")
        if room is not None:
            await _require(conn, models.rooms, "room", room, "room", "room")
        has_order = exists().where(o.c.room == v.c.room, o.c.visitor == v.c.visitor)
        rows = list(await conn.execute(
            select(v.c.visitor, v.c.first_seen, v.c.last_seen, v.c.watched_us, pn.c.tags, pn.c.note)
            .outerjoin(pn, and_(pn.c.leader == leader, pn.c.visitor == v.c.visitor))
            .where(v.c.leader == leader, *([v.c.room == room] if room else []),
                   or_(v.c.clicked_at.is_not(None), v.c.entered_at.is_not(None)),
                   v.c.ordered_at.is_(None), ~has_order)))
    merged: dict[str, dict[str, Any]] = {}
    for r in rows:
        seen = merged.get(r.visitor)
        if seen is None:
            merged[r.visitor] = {"visitor": r.visitor, "first_seen": r.first_seen, "last_seen": r.last_seen,
                                 "watched_us": r.watched_us, "tags": list(r.tags or []), "note": r.note or ""}
        else:
            seen["first_seen"] = min(seen["first_seen"], r.first_seen)
            seen["last_seen"] = max(seen["last_seen"], r.last_seen)
            seen["watched_us"] += r.watched_us
    ordered = sorted(merged.values(), key=lambda p: (-p["last_seen"].timestamp(), p["visitor"]))
    return {"leader": leader, "room": room, "prospects": [
        {"visitor": p["visitor"], "first_seen": _iso(p["first_seen"]), "last_seen": _iso(p["last_seen"]),
         "watched_s": p["watched_us"] // US, "tags": p["tags"], "note": p["note"]} for p in ordered]}


# --- a leader's growth --------------------------------------------------------------------------------------


async def leader_growth(app: AppContext, leader: str, room: str | None) -> dict[str, Any]:
    """Points (in the room when one is given, else in all), the room's tasks with the leader's progress (the tasks
    of every room the leader holds a share link for when none is given), recruits, and the leader's own funnel."""
    p, t, tp, v, lead = models.points, models.room_tasks, models.task_progress, models.viewers, models.leaders
    async with app.engine.connect() as conn:
        await _require(conn, lead, "leader", leader, "leader", "leader")
        if room is not None:
            await _require(conn, models.rooms, "room", room, "room", "room")
            rooms: Sequence[str] = [room]
        else:
            rooms = sorted({r.room for r in await conn.execute(
                select(models.links.c.room).where(models.links.c.leader == leader))})
        points = (await conn.execute(select(func.coalesce(func.sum(p.c.points), 0)).where(
            p.c.leader == leader, *([p.c.room == room] if room else [])))).scalar_one()
        tasks = [task_of(r) for r in await conn.execute(
            select(t).where(t.c.room.in_(rooms)).order_by(t.c.room, t.c.task))]
        progress = {(r.room, r.task): r for r in await conn.execute(
            select(tp).where(tp.c.leader == leader, tp.c.room.in_(rooms)))}
        invited = {r.room: int(r.n) for r in await conn.execute(
            select(v.c.room, func.count().label("n"))
            .where(v.c.leader == leader, v.c.room.in_(rooms), v.c.clicked_at.is_not(None)).group_by(v.c.room))}
        recruits = list(await conn.execute(
            select(lead.c.leader, lead.c.name, lead.c.updated_at, v.c.became_leader_at)
            .outerjoin(v, and_(v.c.room == lead.c.recruited_in, v.c.visitor == lead.c.visitor))
            .where(lead.c.upline == leader, lead.c.visitor.is_not(None),
                   *([lead.c.recruited_in == room] if room else []))))
        funnel = await _funnel(conn, room, leader)
    recruited = sorted((r.became_leader_at or r.updated_at, r.leader, r.name) for r in recruits)
    return {
        "leader": leader,
        "room": room,
        "points": int(points),
        "tasks": [_task_progress(task, invited.get(task.room, 0), progress.get((task.room, task.task)))
                  for task in tasks],
        "recruits": [{"leader": lid, "name": name, "at": _iso(at)} for at, lid, name in recruited],
        "funnel": funnel,
    }


def _task_progress(task: growth.InviteTask, invited: int, row: Any) -> dict[str, Any]:
    return {"room": task.room, "task": task.task, "title": task.title, "goal": task.goal,
            "min_watch_s": task.min_watch_s, "reward": {"points": task.reward_points, "bonus_bp": task.bonus_bp},
            "invited": invited, "watched": row.watched if row else 0,
            "done": row is not None and row.done_at is not None,
            "done_at": _iso(row.done_at) if row is not None else None}
