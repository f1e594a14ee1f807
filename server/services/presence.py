"""Presence heartbeats: a visitor's watch time in a room, and what reaching the watched mark earns their leader.

The player sends a heartbeat per visitor about every 30 s while the room plays, so heartbeats come in the largest
bursts of all; they are decided in batches like visits and orders: a handful of reads for the whole batch, each
heartbeat decided in memory in arrival order, one write per table.

A heartbeat is kept once (the same (room, visitor, at) twice changes nothing). What it adds to the watch time is
`domain.growth.beat_gain_us` of its nearest recorded neighbours, so heartbeats arriving out of order or repeated
give the same total as `domain.growth.watch_us` of them all. Neighbours further than `MAX_GAP` count nothing either
way, so only the heartbeats within `MAX_GAP` of the batch's times are read.

Crossing the room's `min_watch_s` happens once (`viewers.watched_at`); it pays the visitor's inviting leader the
room's invite reward (one ledger entry per (room, visitor): the points key) and moves that leader's tasks whose own
`min_watch_s` the visitor's time just crossed; a task reaching its goal pays its reward once and dates its bonus.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from domain import growth
from domain.errors import DomainError
from domain.events import Event, PointsEarned, TaskProgressed, VisitorEntered, VisitorWatching
from server.context import AppContext
from server.services.viewers import Viewer, load_viewers, new_viewer, seen_at
from store import models
from store.room_locks import LEADER_NS, VISITOR_NS, lock_names
from store.sql import insert_many, upsert
from store.uow import Command, Tx, log_failure

US = 1_000_000


@dataclass(frozen=True)
class Beat:
    room: str
    visitor: str
    at: datetime | None


async def heartbeat(app: AppContext, beat: Beat) -> dict[str, Any]:
    return await app.writer.submit(RecordPresence(beat))


class RecordPresence(Command[dict[str, Any]]):
    batch_group = "presence"

    def __init__(self, beat: Beat) -> None:
        self.beat = beat

    def rooms(self) -> frozenset[str]:
        """Its room: what it writes is that room's (viewers, heartbeats, task progress) or locked at load (the
        bindings it reads, the balances of the leaders it may pay)."""
        return frozenset((self.beat.room,))

    @classmethod
    async def run_batch(cls, tx: Tx, commands: Sequence[Command[Any]]) -> list[Any]:
        beats = [c.beat for c in commands if isinstance(c, RecordPresence)]
        state = await _Batch.load(tx, beats)
        results: list[Any] = []
        for command in commands:
            assert isinstance(command, RecordPresence)
            try:  # decided first, applied after: a heartbeat that fails leaves the batch's state as it was
                outcome = await state.decide(command.beat)
            except DomainError as refused:
                results.append(refused)
                continue
            except Exception as failure:  # this heartbeat's caller gets it; the batch goes on
                log_failure(command, failure)
                results.append(failure)
                continue
            state.apply(outcome)
            results.append({"watched_s": outcome.viewer["watched_us"] // US})
        await state.write()
        return results


@dataclass
class _Outcome:
    viewer: Viewer
    at: datetime | None = None  # the new heartbeat; None when it was already recorded
    entries: list[growth.PointsEntry] = field(default_factory=list)
    progress: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


@dataclass
class _Batch:
    tx: Tx
    rooms: dict[str, Any]
    tasks: dict[str, list[growth.InviteTask]]
    viewers: dict[tuple[str, str], Viewer]
    bound: dict[str, str]
    beats: dict[tuple[str, str], list[datetime]]
    changed: dict[tuple[str, str], Viewer] = field(default_factory=dict)
    new_beats: list[dict[str, Any]] = field(default_factory=list)
    points_known: set[tuple[str, str, str, str]] = field(default_factory=set)
    points_checked: set[tuple[str, str, str, str]] = field(default_factory=set)
    new_points: list[dict[str, Any]] = field(default_factory=list)
    balances: dict[str, int] = field(default_factory=dict)
    progress: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    progress_changed: set[tuple[str, str, str]] = field(default_factory=set)

    @classmethod
    async def load(cls, tx: Tx, beats: list[Beat]) -> _Batch:
        conn = tx.conn
        room_ids = {b.room for b in beats}
        r = models.rooms
        rooms = {row.room: row for row in await conn.execute(
            select(r.c.room, r.c.min_watch_s, r.c.invite_reward_points).where(r.c.room.in_(room_ids)))}
        tasks: dict[str, list[growth.InviteTask]] = {}
        t = models.room_tasks
        for row in await conn.execute(select(t).where(t.c.room.in_(set(rooms))).order_by(t.c.room, t.c.task)):
            tasks.setdefault(row.room, []).append(task_of(row))
        known = [b for b in beats if b.room in rooms]
        pairs = {(b.room, b.visitor) for b in known}
        viewers = await load_viewers(tx, pairs)
        strangers = {visitor for room, visitor in pairs if (room, visitor) not in viewers}
        if tx.scoped:  # bindings and points balances are shared by every room: locked until the commit
            await lock_names(conn, VISITOR_NS, sorted(strangers))
        bound: dict[str, str] = {}
        if strangers:
            bd = models.bindings
            bound = {row.visitor: row.leader for row in await conn.execute(
                select(bd.c.visitor, bd.c.leader).where(bd.c.visitor.in_(strangers)))}
        if tx.scoped:  # the leaders this batch may pay: their balance (over every room) read and moved here only
            await lock_names(conn, LEADER_NS, sorted(
                {v["leader"] for v in viewers.values() if v["leader"]} | set(bound.values())))
        beat_lists: dict[tuple[str, str], list[datetime]] = {}
        if known:
            times = [b.at or tx.now for b in known]
            h = models.heartbeats
            rows = await conn.execute(
                select(h.c.room, h.c.visitor, h.c.at).where(
                    h.c.room.in_({room for room, _ in pairs}), h.c.visitor.in_({v for _, v in pairs}),
                    h.c.at >= min(times) - growth.MAX_GAP, h.c.at <= max(times) + growth.MAX_GAP))
            for row in rows:
                if (row.room, row.visitor) in pairs:
                    beat_lists.setdefault((row.room, row.visitor), []).append(row.at)
            for found in beat_lists.values():
                found.sort()
        return cls(tx, rooms, tasks, viewers, bound, beat_lists)

    # --- deciding one heartbeat (reads only) ------------------------------------------------------------------

    async def decide(self, beat: Beat) -> _Outcome:
        room = self.rooms.get(beat.room)
        if room is None:
            raise DomainError(f"unknown room: {beat.room}", field="room", code="not_found")
        at = beat.at or self.tx.now
        key = (beat.room, beat.visitor)
        viewer = self.viewers.get(key) or new_viewer(beat.room, beat.visitor, self.bound.get(beat.visitor), at)
        before, after, present = growth.neighbours(self.beats.get(key, []), at)
        if present:
            return _Outcome(viewer)
        old_us = viewer["watched_us"]
        new_us = old_us + growth.beat_gain_us(before, at, after)
        old_s, new_s = old_us // US, new_us // US
        out = _Outcome({**seen_at(viewer, at), "watched_us": new_us}, at)
        leader = viewer["leader"]
        if viewer["entered_at"] is None:
            out.viewer["entered_at"] = at
            out.events.append(VisitorEntered(at=at, room=beat.room, visitor=beat.visitor, leader=leader))
        else:
            out.viewer["entered_at"] = min(viewer["entered_at"], at)
        crossed = viewer["watched_at"] is None and growth.has_watched(new_s, room.min_watch_s)
        if crossed:
            out.viewer["watched_at"] = at
        if crossed or new_s // 60 > old_s // 60:
            out.events.append(VisitorWatching(at=at, room=beat.room, visitor=beat.visitor, leader=leader,
                                              watched_s=new_s, watched=crossed))
        inviter = leader if viewer["clicked_at"] is not None else None  # invited through a share code here
        if inviter is None:
            return out
        if crossed:
            entry = growth.invite_reward(
                room=beat.room, visitor=beat.visitor, inviter=inviter,
                watched_before_s=min(old_s, room.min_watch_s - 1),  # not watched before: watched_at was unset
                watched_after_s=new_s, min_watch_s=room.min_watch_s, reward_points=room.invite_reward_points,
                at=at)
            if entry is not None:
                await self._earn(out, entry)
        for task in self.tasks.get(beat.room, []):
            if not growth.has_watched(old_s, task.min_watch_s) and growth.has_watched(new_s, task.min_watch_s):
                await self._progress(out, task, inviter, at)
        return out

    async def _earn(self, out: _Outcome, entry: growth.PointsEntry) -> None:
        if not await self._may_post(entry, out):
            return
        balance = await self._balance(entry.leader) + sum(e.points for e in out.entries if e.leader == entry.leader)
        out.entries.append(entry)
        out.events.append(PointsEarned(at=entry.at, room=entry.room, leader=entry.leader, reason=str(entry.reason),
                                       ref=entry.ref, points=entry.points, balance=balance + entry.points))

    async def _progress(self, out: _Outcome, task: growth.InviteTask, leader: str, at: datetime) -> None:
        key = (task.room, task.task, leader)
        row = out.progress.get(key) or await self._progress_row(key)
        done_now = growth.completes(task, row["watched"], row["watched"] + 1, row["done_at"] is not None)
        row = {**row, "watched": row["watched"] + 1, "done_at": at if done_now else row["done_at"]}
        out.progress[key] = row
        invited = await self._invited(task.room, leader)
        out.events.append(TaskProgressed(at=at, room=task.room, task=task.task, leader=leader, goal=task.goal,
                                         invited=invited, watched=row["watched"], done=row["done_at"] is not None))
        if done_now and task.reward_points > 0:
            await self._earn(out, growth.PointsEntry(leader, task.room, growth.PointsReason.TASK, task.task,
                                                     task.reward_points, at))

    async def _may_post(self, entry: growth.PointsEntry, out: _Outcome) -> bool:
        """Never a second entry with the same key: the ledger, this batch and this heartbeat are asked."""
        if entry.key not in self.points_checked:
            p = models.points
            leader, room, reason, ref = entry.key
            found = (await self.tx.conn.execute(select(p.c.leader).where(
                p.c.leader == leader, p.c.room == room, p.c.reason == reason, p.c.ref == ref))).first()
            self.points_checked.add(entry.key)
            if found is not None:
                self.points_known.add(entry.key)
        ledger = dict.fromkeys(self.points_known | {e.key for e in out.entries})
        return growth.post(ledger, entry)  # type: ignore[arg-type]

    async def _balance(self, leader: str) -> int:
        if leader not in self.balances:
            p = models.points
            total = (await self.tx.conn.execute(
                select(func.coalesce(func.sum(p.c.points), 0)).where(p.c.leader == leader))).scalar_one()
            self.balances[leader] = int(total)
        return self.balances[leader]

    async def _progress_row(self, key: tuple[str, str, str]) -> dict[str, Any]:
        if key not in self.progress:
            tp = models.task_progress
            room, task, leader = key
            row = (await self.tx.conn.execute(select(tp.c.watched, tp.c.done_at).where(
                tp.c.room == room, tp.c.task == task, tp.c.leader == leader))).first()
            self.progress[key] = {"room": room, "task": task, "leader": leader,
                                  "watched": row.watched if row else 0, "done_at": row.done_at if row else None}
        return self.progress[key]

    async def _invited(self, room: str, leader: str) -> int:
        """The leader's invitees in the room: visitors bound to them who came through a share code."""
        v = models.viewers
        stored = {r.visitor for r in await self.tx.conn.execute(select(v.c.visitor).where(
            v.c.room == room, v.c.leader == leader, v.c.clicked_at.is_not(None)))}
        stored.update(k[1] for k, row in self.changed.items()
                      if k[0] == room and row["leader"] == leader and row["clicked_at"] is not None)
        return len(stored)

    # --- applying a decided heartbeat, and writing the batch --------------------------------------------------

    def apply(self, out: _Outcome) -> None:
        if out.at is None:
            return
        key = (out.viewer["room"], out.viewer["visitor"])
        self.viewers[key] = self.changed[key] = out.viewer
        bisect.insort(self.beats.setdefault(key, []), out.at)
        self.new_beats.append({"room": key[0], "visitor": key[1], "at": out.at})
        for entry in out.entries:
            self.points_known.add(entry.key)
            self.balances[entry.leader] = self.balances.get(entry.leader, 0) + entry.points
            self.new_points.append({"leader": entry.leader, "room": entry.room, "reason": str(entry.reason),
                                    "ref": entry.ref, "points": entry.points, "at": entry.at})
        self.progress.update(out.progress)
        self.progress_changed.update(out.progress)
        self.tx.emit(*out.events)

    async def write(self) -> None:
        conn = self.tx.conn
        await insert_many(conn, models.heartbeats, self.new_beats)
        await upsert(conn, models.viewers, list(self.changed.values()), ["room", "visitor"],
                     ["first_seen", "last_seen", "watched_us", "entered_at", "watched_at"])
        await insert_many(conn, models.points, self.new_points)
        await upsert(conn, models.task_progress, [self.progress[k] for k in sorted(self.progress_changed)],
                     ["room", "task", "leader"], ["watched", "done_at"])


def task_of(row: Any) -> growth.InviteTask:
    return growth.InviteTask(row.room, row.task, row.title, row.goal, row.min_watch_s, row.reward_points,
                             row.bonus_bp)
