"""Pre-live reminders: visitors who clicked a share code before the room started and had not entered when it did.

Queueing. Once a room's `starts_at` has passed, the room's viewers are judged once (domain.growth.needs_reminder)
and each one who qualifies gets a reminder in state `queued`, due at once; the room is marked `reminders_queued`
in the same writer transaction. The mark is set by a guarded UPDATE (`WHERE reminders_queued = false`) before the
reminders are written, so two processes (or the scheduler and a read) never both queue a room. It runs from the
scheduler every few seconds, and on demand when the list is read after the start.

Delivery (only with `LIVEROOM_NOTIFY_URL`). Due reminders (`queued`, `next_at <= now`) are first *claimed* in a
writer transaction: a guarded UPDATE moves `next_at` a lease ahead, so no other process sees them as due while
this one sends. The POSTs happen outside any transaction (server/services/notifier.py). Then one more transaction
records each outcome, guarded by the claim (`state = 'queued' AND next_at = lease`): a 2xx makes it `sent` for
good (nothing ever picks a sent reminder again); any other outcome counts a failed attempt and sets the next try
from the backoff schedule, or makes it `failed` once the retries are used up. A process that dies mid-send leaves
the claim to expire and the reminder is tried again after the lease.

Without a URL nothing is sent: the reminders stay `queued` and visible through `GET /api/v1/rooms/{room}/reminders`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, tuple_, update

from domain import growth
from domain.errors import DomainError
from domain.events import ReminderChanged
from server.context import AppContext
from server.services.notifier import Notifier
from store import models
from store.sql import insert_missing
from store.uow import Tx, Writer

log = logging.getLogger("liveroom.reminders")

LEASE_S = 60  # a claimed reminder is not due again for this long (far above the notifier's timeout)
CHUNK = 50  # reminders claimed, sent and recorded per round
PARALLEL = 8  # POSTs in flight at once

R = models.reminders


# --- queueing -------------------------------------------------------------------------------------------------------


async def queue_room(tx: Tx, room: str) -> int:
    """Queue the room's reminders if it has started and they were not queued yet; answers how many were queued."""
    conn = tx.conn
    row = (await conn.execute(
        select(models.rooms.c.starts_at, models.rooms.c.reminders_queued).where(models.rooms.c.room == room)
    )).first()
    if row is None or row.reminders_queued or row.starts_at > tx.now:
        return 0
    marked = await conn.execute(
        update(models.rooms)
        .where(models.rooms.c.room == room, models.rooms.c.reminders_queued.is_(False))
        .values(reminders_queued=True)
    )
    if marked.rowcount != 1:  # another process queued it first
        return 0
    v = models.viewers
    viewers = await conn.execute(
        select(v.c.visitor, v.c.leader, v.c.clicked_at, v.c.entered_at)
        .where(v.c.room == room, v.c.clicked_at.is_not(None), v.c.clicked_at < row.starts_at)
        .order_by(v.c.visitor)
    )
    rows = [
        {"room": room, "visitor": r.visitor, "leader": r.leader, "state": "queued", "attempts": 0,
         "next_at": tx.now, "sent_at": None, "created_at": tx.now}
        for r in viewers
        if growth.needs_reminder(r.clicked_at, r.entered_at, row.starts_at)
    ]
    await insert_missing(conn, R, rows, ("room", "visitor"))
    tx.emit(*(ReminderChanged(at=tx.now, room=room, visitor=r["visitor"], leader=r["leader"], state="queued")
              for r in rows))
    return len(rows)


async def queue_due(app: AppContext) -> int:
    """Queue every started room whose reminders are not queued yet: one writer transaction per room."""
    async with app.engine.connect() as conn:
        rooms = (await conn.execute(
            select(models.rooms.c.room)
            .where(models.rooms.c.reminders_queued.is_(False), models.rooms.c.starts_at <= app.clock())
            .order_by(models.rooms.c.room)
        )).scalars().all()
    queued = 0
    for room in rooms:
        queued += await app.writer.call(functools.partial(queue_room, room=room))
    return queued


async def room_reminders(app: AppContext, room: str) -> dict[str, Any]:
    """`GET /api/v1/rooms/{room}/reminders`: queued first if the room has started and they were not yet."""
    async with app.engine.connect() as conn:
        row = (await conn.execute(
            select(models.rooms.c.starts_at, models.rooms.c.reminders_queued).where(models.rooms.c.room == room)
        )).first()
    if row is None:
        raise DomainError(f"unknown room: {room}", field="room", code="not_found")
    if not row.reminders_queued and row.starts_at <= app.clock():
        await app.writer.call(lambda tx: queue_room(tx, room))
    async with app.engine.connect() as conn:
        reminders = await conn.execute(
            select(R.c.visitor, R.c.leader, R.c.state).where(R.c.room == room).order_by(R.c.visitor)
        )
        return {"reminders": [{"visitor": r.visitor, "leader": r.leader, "state": r.state} for r in reminders]}


# --- delivery -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    room: str
    visitor: str
    leader: str | None
    attempts: int
    lease: datetime  # next_at as the claim set it: the outcome is recorded only while it still reads so
    payload: dict[str, Any]


async def claim_due(tx: Tx, public_url: str, *, limit: int = CHUNK, lease_s: float = LEASE_S) -> list[Claim]:
    """Claim up to `limit` due reminders for this process: each one's `next_at` moves a lease ahead, guarded so
    that a reminder another process claimed (or sent) in the meantime is skipped."""
    conn = tx.conn
    due = (await conn.execute(
        select(R.c.room, R.c.visitor, R.c.leader, R.c.attempts)
        .where(R.c.state == "queued", R.c.next_at <= tx.now)
        .order_by(R.c.next_at, R.c.room, R.c.visitor)
        .limit(limit)
    )).all()
    lease = tx.now + timedelta(seconds=lease_s)
    taken = []
    for r in due:
        result = await conn.execute(
            update(R)
            .where(R.c.room == r.room, R.c.visitor == r.visitor, R.c.state == "queued", R.c.next_at <= tx.now)
            .values(next_at=lease)
        )
        if result.rowcount == 1:
            taken.append(r)
    if not taken:
        return []
    rooms = {
        r.room: r for r in await conn.execute(
            select(models.rooms.c.room, models.rooms.c.title, models.rooms.c.starts_at)
            .where(models.rooms.c.room.in_({t.room for t in taken}))
        )
    }
    pairs = {(t.room, t.leader) for t in taken if t.leader is not None}
    codes: dict[tuple[str, str], str] = {}
    if pairs:
        L = models.links
        for link in await conn.execute(
            select(L.c.room, L.c.leader, L.c.code)
            .where(L.c.kind == "live", tuple_(L.c.room, L.c.leader).in_(sorted(pairs)))
        ):
            codes[(link.room, link.leader)] = link.code
    claims = []
    for t in taken:
        code = codes.get((t.room, t.leader)) if t.leader is not None else None
        payload = {
            "room": t.room,
            "visitor": t.visitor,
            "leader": t.leader,
            "title": rooms[t.room].title,
            "starts_at": rooms[t.room].starts_at.isoformat(),
            "url": f"{public_url}/r/{code}" if code else None,
        }
        claims.append(Claim(t.room, t.visitor, t.leader, t.attempts, lease, payload))
    return claims


async def record(tx: Tx, outcomes: Sequence[tuple[Claim, bool]],
                 retry_after: Sequence[float] = growth.RETRY_AFTER_S) -> dict[str, int]:
    """Each claimed reminder's outcome: acknowledged → `sent` (final); not → one more failed attempt, due again
    after the backoff, or `failed` once the retries are used up."""
    counts = {"sent": 0, "retry": 0, "failed": 0}
    for claim, acknowledged in outcomes:
        held = (R.c.room == claim.room, R.c.visitor == claim.visitor, R.c.state == "queued",
                R.c.next_at == claim.lease)
        attempts = claim.attempts + (0 if acknowledged else 1)
        retry_at = None if acknowledged else growth.next_attempt(attempts, tx.now, retry_after)
        if acknowledged:
            state, values = "sent", {"state": "sent", "sent_at": tx.now, "next_at": None}
        elif retry_at is None:
            state, values = "failed", {"state": "failed", "attempts": attempts, "next_at": None}
        else:
            state, values = "queued", {"attempts": attempts, "next_at": retry_at}
        result = await tx.conn.execute(update(R).where(*held).values(**values))
        if result.rowcount != 1:
            log.warning("reminder %s/%s: the claim lapsed before its outcome was recorded", claim.room,
                        claim.visitor)
            continue
        counts["retry" if state == "queued" else state] += 1
        if state != "queued":
            tx.emit(ReminderChanged(at=tx.now, room=claim.room, visitor=claim.visitor, leader=claim.leader,
                                    state=state))
    return counts


async def deliver_due(writer: Writer, notifier: Notifier, public_url: str, *,
                      retry_after: Sequence[float] = growth.RETRY_AFTER_S, chunk: int = CHUNK,
                      lease_s: float = LEASE_S) -> dict[str, int]:
    """Send every reminder due now, a chunk at a time: claim (a transaction), POST (no transaction), record (a
    transaction). Answers how many were sent, will be retried, and failed for good."""
    totals = {"sent": 0, "retry": 0, "failed": 0}
    gate = asyncio.Semaphore(PARALLEL)

    async def send(claim: Claim) -> tuple[Claim, bool]:
        async with gate:
            return claim, await notifier.send(claim.payload)

    while True:
        claims = await writer.call(lambda tx: claim_due(tx, public_url, limit=chunk, lease_s=lease_s))
        if not claims:
            return totals
        outcomes = await asyncio.gather(*(send(c) for c in claims))
        step = await writer.call(functools.partial(record, outcomes=outcomes, retry_after=retry_after))
        for key, value in step.items():
            totals[key] += value
        if len(claims) < chunk:
            return totals
