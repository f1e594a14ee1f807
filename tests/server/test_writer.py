"""The writer's group commit: commands waiting together share one transaction, and a busy writer lets the callers
it has just answered join the next one instead of starting a commit for each straggler."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import text

from store.engine import create_engine
from store.uow import Tx, Writer


async def _noop(tx: Tx) -> int:
    await tx.conn.execute(text("SELECT 1"))
    return 1


@contextlib.asynccontextmanager
async def running_writer(tmp_path: Path, linger: float) -> AsyncIterator[Writer]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    writer = Writer(engine, lambda: datetime.now(UTC), linger=linger)
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()
        await engine.dispose()


async def test_commands_that_wait_together_share_one_commit(tmp_path: Path) -> None:
    async with running_writer(tmp_path, linger=0.0) as writer:
        await asyncio.gather(*(writer.call(_noop) for _ in range(40)))
        assert (
            writer.commands == 40 and writer.batches <= 2
        )  # the first alone, at most, then the rest together


async def test_a_busy_writer_waits_briefly_for_the_callers_it_just_answered(tmp_path: Path) -> None:
    async with running_writer(tmp_path, linger=0.5) as writer:
        await asyncio.gather(*(writer.call(_noop) for _ in range(10)))  # busy: the last commit held several
        before = writer.batches

        async def caller(delay: float) -> int:
            await asyncio.sleep(delay)  # the answered callers come back one after another, 20 ms apart
            return await writer.call(_noop)

        await asyncio.gather(*(caller(0.02 * i) for i in range(10)))
        assert writer.batches - before == 1  # all ten in one commit, not ten


async def test_an_idle_writer_commits_a_lone_command_without_waiting(tmp_path: Path) -> None:
    async with running_writer(tmp_path, linger=2.0) as writer:
        await writer.call(_noop)  # the last commit held one command: the writer is idle
        began = time.monotonic()
        await writer.call(_noop)
        assert time.monotonic() - began < 1.0  # far below the two-second linger


async def test_the_writer_counts_the_time_it_waits_for_and_holds_the_global_write_lock(database_url: str) -> None:
    """Two writers over one database (two processes, in production): while the first holds the lock, the second
    waits for it, and each counts its waiting and holding time inside its busy time (bench/scaleout.py)."""
    engines = [create_engine(database_url) for _ in range(2)]
    writers = [Writer(engine, lambda: datetime.now(UTC)) for engine in engines]
    holding = asyncio.Event()

    async def hold(tx: Tx) -> int:
        await tx.conn.execute(text("SELECT 1"))
        holding.set()
        await asyncio.sleep(0.3)  # under the lock
        return 1

    for writer in writers:
        writer.start()
    try:
        await writers[1].call(_noop)  # the schema-less first connection of each, before the timing
        await writers[0].call(_noop)
        waited_before = writers[1].lock_wait_s
        first = asyncio.create_task(writers[0].call(hold))
        await holding.wait()
        await writers[1].call(_noop)
        await first
    finally:
        for writer in writers:
            await writer.stop()
        for engine in engines:
            await engine.dispose()
    holder, waiter = writers
    assert holder.lock_held_s >= 0.3 and holder.busy_s >= holder.lock_held_s + holder.lock_wait_s
    assert waiter.lock_wait_s - waited_before >= 0.2  # it asked while the other held the lock
    assert waiter.busy_s >= waiter.lock_held_s + waiter.lock_wait_s and waiter.lock_held_s > 0
