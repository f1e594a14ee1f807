"""The growth checkpoint: the growth read model folded up to an outbox seq, kept in `read_checkpoints`, so that the
growth events it covers can be pruned like any other (issue 15, "Data that lasts"; store/retention.py).

Why a checkpoint and not the growth tables: the screens show the growth figures as the events tell them, and the
tables hold other (finer) truths — a heartbeat moves `viewers.watched_us` and `last_seen` every 30 s while
`visitor_watching` is emitted once a minute; a leader's funnel counts the leader each event named, so a visitor
rebound to another leader counts for both; a recruit shows under the name given when recruited; a task's `invited`
is the count when it progressed. A fresh load must equal a process that never stopped (tests/realtime/
test_pruned_rebuild.py), so what is kept is the fold itself: `Growth.dump` and the feeds' growth items.

- `take` (before each pruning run, realtime/projections/retention.py): in one snapshot, the checkpoint so far plus
  the growth events after it, folded, written back at the snapshot's newest seq (one transaction through the
  writer; never over a newer one). Nothing to fold, nothing written.
- `read_checkpoint` (on load, in the load's snapshot): the fold and its seq; the load replays only the events after.
- Pruning keeps every growth event after the checkpoint's seq (`Keep.kinds_after`): a snapshot that sees a
  checkpoint sees every event after it, so no process ever needs an event a checkpoint covers.

Who ordered is not in it (the orders table says it whole on load), nor anything a table or catalog already holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.projections.catalog import Catalog
from realtime.projections.feed import growth_items
from realtime.projections.growth import KINDS, Growth, growth_records
from store import models
from store.sql import snapshot_transaction, upsert
from store.uow import Tx, Writer

NAME = "growth"


@dataclass(frozen=True)
class Checkpoint:
    seq: int = 0  # growth events with seq <= this are folded in
    growth: dict[str, Any] | None = None  # Growth.dump()
    feed: dict[str, Any] | None = None  # feed.growth_items()


async def read_checkpoint(conn: AsyncConnection) -> Checkpoint:
    rc = models.read_checkpoints
    row = (await conn.execute(select(rc.c.seq, rc.c.state).where(rc.c.name == NAME))).first()
    if row is None:
        return Checkpoint()
    return Checkpoint(int(row.seq), row.state["growth"], row.state["feed"])


async def fold(conn: AsyncConnection) -> tuple[Checkpoint, Checkpoint]:
    """(the stored checkpoint, the one folded on from it to the newest seq), both in `conn`'s snapshot."""
    outbox = models.outbox
    upto = int((await conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0)))).scalar_one())
    before = await read_checkpoint(conn)
    newest = (await conn.execute(select(func.max(outbox.c.seq))
                                 .where(outbox.c.kind.in_(KINDS), outbox.c.seq > before.seq))).scalar()
    if newest is None:
        return before, before
    records = await growth_records(conn, upto, after=before.seq)
    growth = Growth(Catalog())
    if before.growth is not None:
        growth.restore(before.growth)
    dirty: set[str] = set()
    for seq, record in records:
        growth.on_event(seq, record, dirty)
    return before, Checkpoint(upto, growth.dump(), growth_items(records, before.feed))


async def take(writer: Writer, now: datetime) -> int:
    """Bring the growth checkpoint up to the newest seq; returns the seq it covers."""
    async with writer.engine.connect() as conn:
        await snapshot_transaction(conn)
        before, after = await fold(conn)
    if after.seq == before.seq:
        return before.seq

    async def write(tx: Tx) -> int:
        stored = await read_checkpoint(tx.conn)
        if stored.seq >= after.seq:  # another process took a newer one meanwhile
            return stored.seq
        await upsert(tx.conn, models.read_checkpoints,
                     [{"name": NAME, "seq": after.seq, "state": {"growth": after.growth, "feed": after.feed},
                       "taken_at": now}], ["name"], ["seq", "state", "taken_at"])
        return after.seq

    return await writer.call(write)
