"""What a rebuild reads from the outbox, so that pruning (store/retention.py) never takes it away: a process
loaded after a prune shows what one that never stopped shows (tests/realtime/test_pruned_rebuild.py).

- growth events after the growth checkpoint: points, tasks, recruits, prospects, questions, reminders, funnels and
  the feeds' recruits and completed tasks are folded from them (growth.py, feed.py); a load starts from the
  checkpoint (growth_checkpoint.py) and replays only the events after it, so the rule first brings the checkpoint
  up to date and the growth events it covers are pruned like any other;
- each room's newest `feed.CAPACITY` accepted orders: the feed's ring buffer is filled from them (feed.py);
- the newest exceptions of the ops feed (ops.py, the rule in `_exceptions_query`);
- the newest `waybill_requested` (whether the gateway panel shows at all) and the waybills issued or refused in the
  last 25 hours (the panel's last hour and today, gateway.py).

The post-live review (server/services/review.py) folds a room's events from the outbox too; it is NOT kept here:
a room's review is complete while its events are within the retention period (README, "Data that lasts").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from realtime.projections import growth_checkpoint
from realtime.projections.feed import CAPACITY as FEED_CAPACITY
from realtime.projections.gateway import ISSUED, REFUSED, REQUESTED
from realtime.projections.growth import KINDS as GROWTH_KINDS
from realtime.projections.ops import _exceptions_query
from store import models
from store.retention import Keep
from store.uow import Writer

EXCEPTIONS_CAPACITY = FEED_CAPACITY  # the ops exceptions feed is a Ring of the same capacity (ops.py)
GATEWAY_WINDOW = timedelta(hours=25)  # the gateway panel's load reads back at most a China day and 5 minutes


async def read_by_load(writer: Writer, below: int, now: datetime) -> Keep:
    """The rows below seq `below` that a load, now or later, reads from the outbox (the growth checkpoint is
    brought up to date first: the growth events it covers are no longer read)."""
    checkpoint = await growth_checkpoint.take(writer, now)
    async with writer.engine.connect() as conn:
        seqs = await _read_back(conn, below, now)
    return Keep(kinds=frozenset(GROWTH_KINDS), kinds_after=checkpoint, seqs=seqs)


async def _read_back(conn: AsyncConnection, below: int, now: datetime) -> frozenset[int]:
    outbox = models.outbox
    newest = int((await conn.execute(select(func.coalesce(func.max(outbox.c.seq), 0)))).scalar_one())
    room = outbox.c.payload["room"].as_string()
    ranked = (
        select(outbox.c.seq, func.row_number().over(partition_by=room, order_by=outbox.c.seq.desc()).label("rn"))
        .where(outbox.c.kind == "order_accepted")
        .subquery()
    )
    seqs = set((await conn.execute(
        select(ranked.c.seq).where(ranked.c.rn <= FEED_CAPACITY, ranked.c.seq < below))).scalars())
    seqs |= {seq for seq, _payload in await conn.execute(_exceptions_query(newest, EXCEPTIONS_CAPACITY))}
    requested = (await conn.execute(select(func.max(outbox.c.seq)).where(outbox.c.kind == REQUESTED))).scalar()
    if requested is not None:
        seqs.add(requested)
    seqs |= set((await conn.execute(
        select(outbox.c.seq).where(outbox.c.kind.in_((ISSUED, REFUSED)), outbox.c.seq < below,
                                   outbox.c.created_at >= now - GATEWAY_WINDOW))).scalars())
    return frozenset(int(seq) for seq in seqs if seq < below)
