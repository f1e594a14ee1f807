"""SQLite runs on the event loop's thread, yet a write lock held by another process never freezes the loop.

store/inline_sqlite.py gives SQLAlchemy's aiosqlite dialect the same API without aiosqlite's worker thread.
These tests hold SQLite's write lock from a second, plain sqlite3 connection (what another `liveroom serve` on the
same file does while it commits) and check that our statement waits for it without blocking other coroutines,
and gives up with SQLite's own error once its patience is spent.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from store.engine import create_engine


async def _ticks_while(awaitable: asyncio.Future[object] | asyncio.Task[object]) -> int:
    ticks = 0
    while not awaitable.done():
        await asyncio.sleep(0.01)
        ticks += 1
    return ticks


async def test_a_write_waits_for_another_connections_lock_without_blocking_the_loop(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'locked.db'}"
    engine = create_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(tmp_path / "locked.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    other.execute("INSERT INTO t VALUES (1)")

    async def write() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (2)"))

    asyncio.get_running_loop().call_later(0.5, other.execute, "COMMIT")
    writing = asyncio.ensure_future(write())
    ticks = await _ticks_while(writing)
    await writing
    # The loop kept turning while the write waited about half a second for the lock (a blocked loop: 0 ticks;
    # an idle one: ~50; a busy CI machine: fewer, so the bar is low).
    assert ticks >= 5
    async with engine.connect() as conn:
        assert sorted(r[0] for r in await conn.execute(text("SELECT n FROM t"))) == [1, 2]
    other.close()
    await engine.dispose()


async def test_a_write_gives_up_with_database_is_locked_after_its_timeout(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'held.db'}"
    engine = create_engine(url, connect_args={"timeout": 0.3})
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    other = sqlite3.connect(tmp_path / "held.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(Exception, match="database is locked"):
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
    await engine.dispose()
