"""The growth engine's writes (API.md, "Growth"): a room's invitation tasks, a visitor becoming a leader, a leader's
tags and note on a prospect.

Heartbeats, watch time and the points they earn are in server/services/presence.py; the reads (a leader's growth,
prospects, the funnel, a visitor's path) in server/services/growth_reads.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import growth
from domain.errors import DomainError
from domain.events import CatalogChanged, LeaderRecruited, ProspectNoted
from server.context import AppContext
from server.services.catalog import ensure_link
from server.services.order_book import load_leaders
from server.services.viewers import became_leader, load_viewers
from store import models
from store.sql import upsert
from store.uow import Tx

Answer = tuple[dict[str, Any], bool]  # (the resource as JSON, whether this call created it)


def _unknown(what: str, key: str, field: str | None) -> DomainError:
    return DomainError(f"unknown {what}: {key}", field=field, code="not_found")


async def _room(tx: Tx, room: str) -> Any:
    r = models.rooms
    row = (await tx.conn.execute(select(r.c.room, r.c.min_watch_s).where(r.c.room == room))).first()
    if row is None:
        raise _unknown("room", room, "room")
    return row


# --- invitation tasks ---------------------------------------------------------------------------------------


def task_view(task: growth.InviteTask) -> dict[str, Any]:
    return {"room": task.room, "task": task.task, "title": task.title, "goal": task.goal,
            "min_watch_s": task.min_watch_s,
            "reward": {"points": task.reward_points, "bonus_bp": task.bonus_bp}}


async def put_task(app: AppContext, room: str, task: str, given: Mapping[str, Any]) -> Answer:
    """Create or change a room's task. `min_watch_s` left out keeps the stored one (the room's for a new task);
    a replay that changes nothing writes and announces nothing. Progress already made is kept."""

    async def run(tx: Tx) -> Answer:
        room_row = await _room(tx, room)
        t = models.room_tasks
        existing = (await tx.conn.execute(select(t).where(t.c.room == room, t.c.task == task))).first()
        reward = given["reward"]
        min_watch_s = given.get("min_watch_s") or (existing.min_watch_s if existing else room_row.min_watch_s)
        checked = growth.InviteTask(room, task, given["title"], given["goal"], min_watch_s,
                                    reward.get("points", 0), reward.get("bonus_bp", 0))
        values = {"title": checked.title, "goal": checked.goal, "min_watch_s": checked.min_watch_s,
                  "reward_points": checked.reward_points, "bonus_bp": checked.bonus_bp}
        if existing is not None and all(getattr(existing, k) == v for k, v in values.items()):
            return task_view(checked), False
        if existing is None:
            await tx.conn.execute(t.insert().values(room=room, task=task, **values, updated_at=tx.now))
        else:
            await tx.conn.execute(update(t).where(t.c.room == room, t.c.task == task)
                                  .values(**values, updated_at=tx.now))
        tx.emit(CatalogChanged(at=tx.now, entity="task", key=f"{room}/{task}"))
        return task_view(checked), existing is None

    return await app.writer.call(run)


# --- become a leader ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecruitRequest:
    room: str
    visitor: str
    leader: str
    name: str
    phone: str | None = None
    community: str | None = None


async def recruit(app: AppContext, request: RecruitRequest) -> Answer:
    """The visitor becomes leader `request.leader`, with the leader they are bound to as upline, and gets a live
    share code in the room at once. The same request again answers the same (200); a taken id, or a visitor who
    already became a leader, is 409."""

    async def run(tx: Tx) -> Answer:
        await _room(tx, request.room)
        lead = models.leaders
        existing = (await tx.conn.execute(select(lead).where(lead.c.leader == request.leader))).first()
        if existing is not None and existing.visitor == request.visitor:  # a retry: the same answer
            link, _ = await ensure_link(tx, app, request.room, request.leader, "live")
            return {"leader": request.leader, "upline": existing.upline, "code": link["code"]}, False
        already = (await tx.conn.execute(
            select(lead.c.leader).where(lead.c.visitor == request.visitor))).first()
        bd = models.bindings
        bound = (await tx.conn.execute(select(bd.c.leader).where(bd.c.visitor == request.visitor))).first()
        bound_to = bound.leader if bound is not None else None
        chain = await load_leaders(tx, {bound_to} if bound_to else set())
        made = growth.recruit(visitor=request.visitor, leader=request.leader, bound_to=bound_to,
                              leader_exists=existing is not None, visitor_already_leader=already is not None,
                              uplines={name: row.upline for name, row in chain.items()})
        await tx.conn.execute(lead.insert().values(
            leader=made.leader, name=request.name, community=request.community, phone=request.phone,
            upline=made.upline, pickup_point=None, visitor=made.visitor, recruited_in=request.room,
            updated_at=tx.now))
        tx.emit(CatalogChanged(at=tx.now, entity="leader", key=made.leader))
        link, _ = await ensure_link(tx, app, request.room, made.leader, "live")
        viewers = await load_viewers(tx, [(request.room, request.visitor)])
        row = became_leader(viewers.get((request.room, request.visitor)), request.room, request.visitor,
                            made.upline, tx.now)
        await upsert(tx.conn, models.viewers, [row], ["room", "visitor"],
                     ["first_seen", "last_seen", "became_leader_at"])
        tx.emit(LeaderRecruited(at=tx.now, room=request.room, leader=made.leader, name=request.name,
                                upline=made.upline, visitor=made.visitor))
        return {"leader": made.leader, "upline": made.upline, "code": link["code"]}, True

    return await app.writer.call(run)


# --- prospects ----------------------------------------------------------------------------------------------


async def is_theirs(conn: AsyncConnection, leader: str, visitor: str) -> bool:
    """Whether the visitor is the leader's: bound to them, or seen in a room as theirs."""
    bd, v = models.bindings, models.viewers
    if (await conn.execute(select(bd.c.visitor).where(bd.c.visitor == visitor, bd.c.leader == leader))).first():
        return True
    return (await conn.execute(
        select(v.c.visitor).where(v.c.visitor == visitor, v.c.leader == leader).limit(1))).first() is not None


async def note_prospect(app: AppContext, leader: str, visitor: str, tags: list[str],
                        note: str | None) -> Answer:
    """A leader's tags and note on a visitor of theirs; `note` left out keeps the stored one. Another leader's
    visitor is not found (404): a leader never learns whom others bring."""

    async def run(tx: Tx) -> Answer:
        lead = models.leaders
        if (await tx.conn.execute(select(lead.c.leader).where(lead.c.leader == leader))).first() is None:
            raise _unknown("leader", leader, "leader")
        if not await is_theirs(tx.conn, leader, visitor):
            raise _unknown(f"visitor of leader {leader}", visitor, "visitor")
        cleaned = list(growth.clean_tags(tags))
        pn = models.prospect_notes
        existing = (await tx.conn.execute(
            select(pn).where(pn.c.leader == leader, pn.c.visitor == visitor))).first()
        text = " ".join(note.split()) if note is not None else (existing.note if existing else "")
        if len(text) > growth.MAX_NOTE_CHARS:
            raise DomainError(f"note has at most {growth.MAX_NOTE_CHARS} characters", field="note")
        view = {"leader": leader, "visitor": visitor, "tags": cleaned, "note": text}
        if existing is not None and list(existing.tags) == cleaned and existing.note == text:
            return view, False
        await upsert(tx.conn, pn, [{"leader": leader, "visitor": visitor, "tags": cleaned, "note": text,
                                    "updated_at": tx.now}], ["leader", "visitor"], ["tags", "note", "updated_at"])
        tx.emit(ProspectNoted(at=tx.now, leader=leader, visitor=visitor, tags=tuple(cleaned), note=text))
        return view, existing is None

    return await app.writer.call(run)
