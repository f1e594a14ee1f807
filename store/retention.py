"""Keeping the outbox bounded (README, "Data that lasts"): old events are pruned once every live process has applied
them, and never one that a process or a rebuild still reads.

- Each server process writes its mark every few seconds (realtime/marks.py): the outbox seq its follower has
  applied. A mark not seen for `GRACE` holds nothing back: that process is dead, or stalled so long that it
  reloads from a snapshot when it comes back (it sees `pruned_through` above its own seq).
- The floor is the lowest live mark. An event is pruned when its seq is below the floor (so the newest row always
  stays: `max(seq)` is what a loading process's snapshot is stamped with, and SQLite hands out `max(rowid) + 1`),
  it is older than the retention period, it is not of a kind a rebuild replays past a checkpoint (`Keep.kinds`
  above `Keep.kinds_after`), and it is not among the rows a rebuild reads (`Keep.seqs`). The rule is given by
  realtime/projections/retention.py; it may first bring a read checkpoint up to date through the writer.
- `pruned_through` (the instance table) is the highest seq ever pruned: a process whose follower is below it may
  have missed an event, and reloads.
- Pruning runs in bounded batches, each one transaction through the writer, with a pause between them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from store import models
from store.sql import upsert
from store.uow import Tx, Writer

GRACE = timedelta(minutes=10)  # a process not seen for this long no longer holds pruning back
BATCH = 500  # outbox rows looked at, and at most deleted, per transaction
PAUSE_S = 0.02  # between two batches: the writer serves orders in between
PRUNED_THROUGH = "outbox_pruned_through"  # key in the instance table


@dataclass(frozen=True)
class Keep:
    """What must stay however old: events of `kinds` after seq `kinds_after` (a rebuild replays them on top of a
    checkpoint taken at `kinds_after`; 0: every one), and single rows a rebuild reads."""

    kinds: frozenset[str] = frozenset()
    kinds_after: int = 0
    seqs: frozenset[int] = frozenset()


KeepRule = Callable[[Writer, int, datetime], Awaitable[Keep]]  # (writer, below seq, now) -> Keep


@dataclass
class PruneReport:
    floor: int | None = None  # the lowest live mark (None: no live process, nothing pruned)
    deleted: int = 0
    kept: int = 0  # old rows below the floor kept for a rebuild (Keep.seqs)
    through: int = 0  # pruned_through after the run
    batches: int = 0
    live: list[str] = field(default_factory=list)


# --- marks ------------------------------------------------------------------------------------------------------

async def write_mark(conn: AsyncConnection, process: str, applied: int, now: datetime) -> None:
    await upsert(conn, models.process_marks, [{"process": process, "applied_seq": applied, "seen_at": now}],
                 ["process"], ["applied_seq", "seen_at"])


async def drop_mark(conn: AsyncConnection, process: str) -> None:
    await conn.execute(delete(models.process_marks).where(models.process_marks.c.process == process))


async def live_marks(conn: AsyncConnection, now: datetime, grace: timedelta = GRACE) -> dict[str, int]:
    marks = models.process_marks
    rows = await conn.execute(select(marks.c.process, marks.c.applied_seq).where(marks.c.seen_at >= now - grace))
    return {row.process: int(row.applied_seq) for row in rows}


async def pruned_through(conn: AsyncConnection) -> int:
    value = (await conn.execute(select(models.instance.c.value)
                                .where(models.instance.c.key == PRUNED_THROUGH))).scalar()
    return int(value) if value else 0


# --- pruning ----------------------------------------------------------------------------------------------------

async def prune_outbox(writer: Writer, *, now: datetime, retention: timedelta, keep: KeepRule,
                       grace: timedelta = GRACE, batch: int = BATCH, pause_s: float = PAUSE_S) -> PruneReport:
    """Delete outbox rows below every live process's mark and older than `retention`, batch by batch."""
    engine = writer.engine
    report = PruneReport()
    async with engine.connect() as conn:
        marks = await live_marks(conn, now, grace)
        report.through = await pruned_through(conn)
        if not marks:
            return report  # nobody says what they applied: nothing is known to be safe
        report.floor = floor = min(marks.values())
        report.live = sorted(marks)
    kept = await keep(writer, floor, now)
    outbox = models.outbox
    cutoff = now - retention
    after = 0
    while True:
        query = select(outbox.c.seq).where(outbox.c.seq > after, outbox.c.seq < floor, outbox.c.created_at <= cutoff)
        if kept.kinds:
            query = query.where(or_(outbox.c.kind.not_in(sorted(kept.kinds)), outbox.c.seq <= kept.kinds_after))
        async with engine.connect() as conn:
            seqs = [int(seq) for seq in (await conn.execute(query.order_by(outbox.c.seq).limit(batch))).scalars()]
        if not seqs:
            return report
        after = seqs[-1]
        doomed = [seq for seq in seqs if seq not in kept.seqs]
        report.kept += len(seqs) - len(doomed)
        if doomed:
            report.deleted += await writer.call(_deleter(doomed))
            report.through = max(report.through, doomed[-1])
            report.batches += 1
        if len(seqs) < batch:
            return report
        await asyncio.sleep(pause_s)


def _deleter(doomed: list[int]) -> Callable[[Tx], Awaitable[int]]:
    async def run(tx: Tx) -> int:
        # The mark first, in the same transaction: whoever sees a row gone also sees pruned_through past it.
        conn, highest = tx.conn, doomed[-1]
        if highest > await pruned_through(conn):
            await upsert(conn, models.instance, [{"key": PRUNED_THROUGH, "value": str(highest)}], ["key"],
                         ["value"])
        result: Any = await conn.execute(delete(models.outbox).where(models.outbox.c.seq.in_(doomed)))
        return int(result.rowcount or 0)

    return run


async def outbox_span(conn: AsyncConnection) -> tuple[int, int, int]:
    """(oldest seq, newest seq, rows) of the outbox: what the tests and operators look at."""
    outbox = models.outbox
    low, high, count = (await conn.execute(
        select(func.coalesce(func.min(outbox.c.seq), 0), func.coalesce(func.max(outbox.c.seq), 0),
               func.count()))).one()
    return int(low), int(high), int(count)
