"""The sequencer (PostgreSQL): gives committed events their outbox seq, so writers of different rooms never wait for
each other's commits.

A writer on PostgreSQL writes its events to `outbox_pending` in its own transaction (store/uow.py). After the commit
its process's sequencer moves every committed pending row into `outbox` in one short transaction under one advisory
lock: seqs are handed out consecutively, in `outbox_pending.id` order, and a sequencer's commit is the only way an
outbox row appears, so the outbox keeps the promise the relay and every Follower rely on — seq order is commit order,
a seq below one that has arrived is committed or will never exist.

Why `id` order is commit order where it matters: a writer inserts its pending rows at the very end of its
transaction, after every row it shares with other transactions (its room's lock, stock, carrier days, ...). Of two
transactions that touch a common row, the later one waited for the earlier one's commit before touching it, so its
ids are higher. Transactions that share nothing may go either way: no topic sees both change the same thing.

A caller's answer waits for the pass that moves its events (tests and clients may read the outbox, or a feed, right
after a 201); the writer meanwhile goes on with its next batch. A pass that finds nothing is a read; a process that
died between its commit and its pass leaves rows that the next pass of any process moves (the tick).

A process loading its read models from the tables takes its snapshot with every writer held off and nothing left
pending (`store.uow.writers_held`), so the tables it reads and the outbox seq it starts from say the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store import models
from store.tasks import cancel_and_wait
from telemetry.metrics import SEQUENCER_HELD_SECONDS, SEQUENCER_MOVED

log = logging.getLogger("liveroom.sequencer")

Envelope = tuple[int, dict[str, Any]]
SEQ_LOCK = 7_411_003  # one sequencer pass at a time, in every process over the database
PAGE = 500  # pending transactions per pass transaction
TICK_S = 1.0  # a pass at least this often: rows a crashed process committed but never moved

_pending = models.outbox_pending
_NEXT_SEQS = text("SELECT nextval(pg_get_serial_sequence('outbox', 'seq')) FROM generate_series(1, :n)")


async def move_pending(conn: AsyncConnection) -> tuple[list[Envelope], bool]:
    """Up to a page of committed pending transactions' events into the outbox, in id order (each transaction's in
    its own order), inside the caller's transaction (which must hold SEQ_LOCK until its commit). Returns the
    envelopes in seq order, and whether a whole page was moved (there may be more)."""
    picked = select(_pending.c.id).order_by(_pending.c.id).limit(PAGE).scalar_subquery()
    rows = (await conn.execute(
        delete(_pending).where(_pending.c.id.in_(picked))
        .returning(_pending.c.id, _pending.c.events, _pending.c.created_at))).all()
    if not rows:
        return [], False
    rows.sort(key=lambda r: r.id)
    events = [(record, row.created_at) for row in rows for record in row.events]
    seqs = sorted((await conn.execute(_NEXT_SEQS, {"n": len(events)})).scalars())
    await conn.execute(insert(models.outbox), [
        {"seq": seq, "kind": record["kind"], "payload": record, "created_at": at}
        for seq, (record, at) in zip(seqs, events, strict=True)])
    return [(seq, record) for seq, (record, _) in zip(seqs, events, strict=True)], len(rows) == PAGE


class Sequencer:
    """This process's sequencer: a pass after each of its writer's commits (coalesced), and one every TICK_S."""

    def __init__(self, engine: AsyncEngine, published: Callable[[list[Envelope]], None]) -> None:
        self.engine = engine
        self.published = published  # called with each pass's envelopes, in seq order (the writer's on_commit)
        self._wanted = asyncio.Event()
        self._after: list[Callable[[], None]] = []  # answers waiting for the next pass
        self._task: asyncio.Task[None] | None = None
        self.passes = 0
        self.held_s = 0.0  # seconds SEQ_LOCK was held by this process (granted → commit)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="liveroom-sequencer")

    async def stop(self) -> None:
        """A last pass for what this process committed, its answers given; then stop."""
        await cancel_and_wait(self._task)
        self._task = None
        await self._pass()

    def committed(self, then: Callable[[], None]) -> None:
        """A transaction of this process committed: `then` (its callers' answers) runs after the pass that moves
        its events (or, if the pass fails, at once: the commit is durable and a later pass moves them)."""
        self._after.append(then)
        self._wanted.set()
        if self._task is None:  # not started (a writer used without start()): answer at once
            self._run_after(self._take_after())

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), TICK_S)
            self._wanted.clear()
            await self._pass()

    def _take_after(self) -> list[Callable[[], None]]:
        after, self._after = self._after, []
        return after

    async def _pass(self) -> None:
        after = self._take_after()  # taken before the pass: their commits are visible to its first statement
        try:
            while True:
                envelopes, more = await self._move_page()
                if envelopes:
                    self.published(envelopes)
                if not more:
                    break
        except asyncio.CancelledError:
            self._after = after + self._after
            raise
        except Exception:
            log.exception("sequencer pass failed; the next one moves what is left")
        finally:
            self.passes += 1
        self._run_after(after)

    @staticmethod
    def _run_after(after: list[Callable[[], None]]) -> None:
        for then in after:
            try:
                then()
            except Exception:
                log.exception("answering after a sequencer pass failed")

    async def _move_page(self) -> tuple[list[Envelope], bool]:
        granted = 0.0
        try:
            async with self.engine.begin() as conn:
                # Nothing pending: a plain read, no lock, nothing to commit.
                if (await conn.execute(select(_pending.c.id).limit(1))).first() is None:
                    return [], False
                await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQ_LOCK})
                granted = time.perf_counter()
                envelopes, more = await move_pending(conn)
            SEQUENCER_MOVED.inc(len(envelopes))
            return envelopes, more
        finally:
            if granted:
                held = time.perf_counter() - granted
                self.held_s += held
                SEQUENCER_HELD_SECONDS.inc(held)
