"""The advisory locks of room-scoped writing on PostgreSQL (issue 15; store/uow.py runs the transactions).

An order's transaction names its room (`Command.rooms`) and takes WRITE_LOCK shared plus
one exclusive lock per room (two-key advisory locks in namespace ROOM_NS, sorted), so orders of different rooms
run side by side in every process; what rooms share (stock rows, carrier days) is updated in the transaction's
tail (`before_commit`), its events go to outbox_pending last, and the sequencer (store/sequencer.py) gives them
their outbox seqs after the commit. A command without rooms takes WRITE_LOCK exclusive: it waits for every room
transaction in flight and holds everyone off (catalog, settlement, carriers: rare, short).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import zlib
from collections.abc import AsyncIterator, Sequence

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from store import models
from store.sequencer import SEQ_LOCK, move_pending

WRITE_LOCK = 7_411_002
ROOM_NS = 7_411
# Rows of no room that room transactions read and move, locked by name to the commit, always visitors first, then
# leaders, each set sorted (no deadlock between two room transactions): a visitor's binding (orders, visits,
# presence) and a leader's points balance (presence).
VISITOR_NS = 7_412
LEADER_NS = 7_413
def lock_key(name: str) -> int:
    """A stable int4 key for a two-key advisory lock (a collision only makes two names wait for each other)."""
    return zlib.crc32(name.encode()) - 2**31


async def try_lock_names(conn: AsyncConnection, namespace: int, names: Sequence[str]) -> set[str]:
    """The names whose (namespace, key) transaction lock was free and is now held by this transaction."""
    by_key: dict[int, list[str]] = {}
    for name in names:
        by_key.setdefault(lock_key(name), []).append(name)
    if not by_key:
        return set()
    got = await conn.execute(
        text("SELECT k FROM unnest(CAST(:keys AS int[])) AS k WHERE pg_try_advisory_xact_lock(:ns, k)"),
        {"ns": namespace, "keys": sorted(by_key)})
    return {name for (key,) in got for name in by_key[key]}


async def lock_names(conn: AsyncConnection, namespace: int, names: Sequence[str]) -> None:
    """Exclusive transaction locks on (namespace, key) for each name, in ascending key order (no deadlock)."""
    keys = sorted({lock_key(n) for n in names})
    if keys:
        await conn.execute(text("SELECT count(pg_advisory_xact_lock(:ns, k)) FROM unnest(CAST(:keys AS int[])) AS k"),
                           {"ns": namespace, "keys": keys})
PATIENCE = 3  # times a command is deferred (its room busy in another process) before its transaction waits for it


async def take_rooms(conn: AsyncConnection, rooms: Sequence[frozenset[str]], deferred: Sequence[int]) -> set[str]:
    """The room locks of this transaction: tried, so a room whose transaction runs in another process right now is
    left for this process's next one and orders of other rooms never wait for it; waited for when every room is
    busy, or for a command deferred PATIENCE times already (a room that another process keeps busy is not left
    forever). Waited-for locks first, in key order, then the tries (which never wait): no deadlock."""
    patient = sorted({r for names, d in zip(rooms, deferred, strict=False) if d >= PATIENCE for r in names})
    await lock_names(conn, ROOM_NS, patient)
    wanted = {r for names in rooms for r in names}
    got = set(patient) | await try_lock_names(conn, ROOM_NS, sorted(wanted - set(patient)))
    if not got:
        await lock_names(conn, ROOM_NS, sorted(wanted))
        got = wanted
    return got


@contextlib.asynccontextmanager
async def writers_held(engine: AsyncEngine, orphans_after_s: float = 3.0) -> AsyncIterator[None]:
    """PostgreSQL: every writer held off (the global write lock, exclusive: the room transactions in flight finish
    first) and every committed event given its outbox seq, for as long as the block runs. A snapshot begun inside
    sees no committed change whose events lack their seq, so a read model loaded from the tables and the outbox seq
    it starts from agree (Projections.load). Keep the block short: writing waits for it. SQLite: nothing to do.

    The pending events are left to the sequencers of the processes that committed them (each publishes what it
    moves); only what is still pending after `orphans_after_s` (a process died between its commit and its pass)
    is moved here, for the Followers to find in the outbox."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as hold:
        await hold.execute(text("SELECT pg_advisory_lock(:key)"), {"key": WRITE_LOCK})
        await hold.commit()
        try:
            give_up = time.monotonic() + orphans_after_s
            while (await hold.execute(select(models.outbox_pending.c.id).limit(1))).first() is not None:
                await hold.commit()
                if time.monotonic() < give_up:
                    await asyncio.sleep(0.002)
                    continue
                async with hold.begin():
                    await hold.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": SEQ_LOCK})
                    await move_pending(hold)
            await hold.commit()
            yield
        finally:
            await hold.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WRITE_LOCK})
            await hold.commit()
