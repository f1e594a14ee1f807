"""Relay and Follower on a real SQLite outbox: every committed event reaches the read models once, in seq order,
even when the bus repeats, reorders or loses envelopes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from realparts import free_port
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.events import CatalogChanged, to_record
from realtime.bus import Envelope, InProcessBus, RedisStreamBus
from realtime.relay import Follower, Relay
from store import models
from store.engine import create_engine
from store.migrate import upgrade
from store.uow import Tx, Writer


class RecordingProjections:
    """Stands in for the projections (another engineer's component): records what it is given, in order.

    Like the real read models it reports the topics an event makes dirty and advances `applied`.
    """

    needs_refresh = False  # nothing to read back: every event carries all this recorder keeps

    def __init__(self, applied: int = 0, *, fail_on: int | None = None) -> None:
        self.applied = applied
        self.got: list[Envelope] = []
        self.fail_on = fail_on

    async def refresh(self, engine: Any) -> set[str]:
        return set()

    def apply(self, seq: int, record: dict[str, Any]) -> set[str]:
        if seq == self.fail_on:
            raise ValueError(f"cannot fold seq {seq}")
        self.got.append((seq, record))
        self.applied = seq
        return {f"sku:{record['key']}", "ops"}

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.got]


class DirtyLog:
    """The hub's side of on_dirty: one entry per call."""

    def __init__(self) -> None:
        self.calls: list[set[str]] = []

    def __call__(self, topics: set[str]) -> None:
        self.calls.append(set(topics))


AT = datetime(2025, 11, 11, 20, 0, tzinfo=UTC)


def record(seq: int) -> dict[str, Any]:
    return to_record(CatalogChanged(at=AT, entity="sku", key=f"s{seq}"))


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    upgrade(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


async def commit_rows(engine: AsyncEngine, *seqs: int) -> None:
    """Outbox rows as the writer leaves them, with chosen seqs (a seq left out is a hole: a rolled-back batch)."""
    async with engine.begin() as conn:
        await conn.execute(
            insert(models.outbox),
            [
                {
                    "seq": seq,
                    "kind": "catalog_changed",
                    "payload": record(seq),
                    "created_at": datetime.now(UTC),
                }
                for seq in seqs
            ],
        )


def follower(
    engine: AsyncEngine, projections: RecordingProjections, dirty: DirtyLog, **kwargs: Any
) -> Follower:
    return Follower(engine, projections, dirty, **kwargs)


# --- Follower -----------------------------------------------------------------------------------------------


async def test_follower_applies_each_seq_once_however_often_it_arrives(engine: AsyncEngine) -> None:
    await commit_rows(engine, 1, 2, 3)
    projections, dirty = RecordingProjections(), DirtyLog()
    following = follower(engine, projections, dirty)

    await following.receive([(1, record(1)), (2, record(2))])
    await following.receive([(2, record(2)), (1, record(1)), (3, record(3))])  # at-least-once: repeats
    await following.receive([(3, record(3))])

    assert projections.seqs == [1, 2, 3]
    assert following.applied == 3
    # One notification per batch that changed something; a batch of repeats changes nothing.
    assert dirty.calls == [{"sku:s1", "sku:s2", "ops"}, {"sku:s3", "ops"}]
    assert following.from_outbox == 0  # no gap, so the outbox was never read


async def test_follower_fills_a_gap_from_the_outbox_before_what_arrived(engine: AsyncEngine) -> None:
    await commit_rows(engine, 1, 2, 3, 4, 5)
    projections, dirty = RecordingProjections(), DirtyLog()
    following = follower(engine, projections, dirty)

    await following.receive([(5, record(5))])  # 1-4 were published before this process listened

    assert projections.got == [(seq, record(seq)) for seq in range(1, 6)]
    assert following.from_outbox == 4
    assert dirty.calls == [{f"sku:s{seq}" for seq in range(1, 6)} | {"ops"}]


async def test_follower_fills_a_gap_inside_a_batch(engine: AsyncEngine) -> None:
    # Two processes XADD in any order: a batch from the stream may lack a seq that another process has
    # committed but not yet published.
    await commit_rows(engine, 1, 2, 3, 4)
    projections = RecordingProjections()
    following = follower(engine, projections, DirtyLog())

    await following.receive([(1, record(1)), (4, record(4)), (2, record(2))])

    assert projections.seqs == [1, 2, 3, 4]


async def test_follower_skips_a_hole_that_no_row_will_ever_fill(engine: AsyncEngine) -> None:
    await commit_rows(engine, 1, 2, 4)  # 3 was burned by a rolled-back batch
    projections = RecordingProjections()
    following = follower(engine, projections, DirtyLog())

    await following.receive([(4, record(4))])
    assert projections.seqs == [1, 2, 4]
    assert following.applied == 4

    await commit_rows(engine, 5)
    await following.receive([(5, record(5))])
    assert projections.seqs == [1, 2, 4, 5]
    assert following.from_outbox == 2  # the hole was not looked for again


async def test_follower_starts_after_the_projections_snapshot(engine: AsyncEngine) -> None:
    await commit_rows(engine, 1, 2, 3, 4, 5)
    projections = RecordingProjections(applied=3)  # the snapshot already reflects seq 1-3
    following = follower(engine, projections, DirtyLog())

    await following.receive([(2, record(2)), (5, record(5))])

    assert projections.seqs == [4, 5]


async def test_poll_picks_up_events_that_were_never_published(engine: AsyncEngine) -> None:
    # A crash between commit and publish, or Redis down: the rows are committed, no envelope ever comes.
    await commit_rows(engine, 1)
    projections, dirty = RecordingProjections(), DirtyLog()
    following = follower(engine, projections, dirty, poll_interval=0.05)
    await following.start()
    try:
        await eventually(lambda: projections.seqs == [1])  # the first poll runs at start
        await commit_rows(engine, 2, 3)
        await eventually(lambda: projections.seqs == [1, 2, 3])  # and the poll keeps running
        assert {"sku:s2", "sku:s3"} <= set().union(*dirty.calls)
    finally:
        await following.stop()


async def test_follower_never_applies_past_a_gap_it_could_not_fill(tmp_path: Path) -> None:
    # The outbox cannot be read (here: the schema is not there yet). Applying seq 3 anyway would lose 1 and 2 for
    # good, so the batch is left to the poll, which reads everything from the outbox once it can.
    url = f"sqlite+aiosqlite:///{tmp_path / 'late.db'}"
    engine = create_engine(url)
    projections = RecordingProjections()
    following = follower(engine, projections, DirtyLog())
    try:
        await following.receive([(3, record(3))])
        assert projections.seqs == []
        assert following.applied == 0

        upgrade(url)
        await commit_rows(engine, 1, 2, 3)
        assert await following.poll() == 3
        assert projections.seqs == [1, 2, 3]
    finally:
        await engine.dispose()


async def test_an_event_the_projections_cannot_fold_does_not_stop_the_following(engine: AsyncEngine) -> None:
    await commit_rows(engine, 1, 2, 3)
    projections = RecordingProjections(fail_on=2)
    following = follower(engine, projections, DirtyLog())

    await following.receive([(1, record(1)), (2, record(2)), (3, record(3))])

    assert projections.seqs == [1, 3]
    assert following.applied == 3  # the poll will not retry seq 2 for ever


# --- Relay: from the writer's commit to the read models ----------------------------------------------------


def emit_catalog_change(key: str) -> Callable[[Tx], Any]:
    async def write(tx: Tx) -> None:
        tx.emit(
            CatalogChanged(at=tx.now, entity="sku", key=key),
            CatalogChanged(at=tx.now, entity="sku", key=f"{key}-price"),
        )

    return write


async def outbox_seqs(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        return list((await conn.execute(select(models.outbox.c.seq).order_by(models.outbox.c.seq))).scalars())


async def test_relay_carries_every_commit_to_the_projections_in_commit_order(engine: AsyncEngine) -> None:
    projections, dirty = RecordingProjections(), DirtyLog()
    following = follower(engine, projections, dirty)  # no poll task: only the bus delivers here
    bus = InProcessBus()
    relay = Relay(bus)
    await bus.start(following.receive)
    writer = Writer(engine, lambda: datetime.now(UTC), on_commit=relay.committed)
    writer.start()
    try:
        await asyncio.gather(*(writer.call(emit_catalog_change(f"k{n}")) for n in range(100)))
        committed = await outbox_seqs(engine)
        await eventually(lambda: len(projections.got) == len(committed))
        assert len(committed) == 200
        assert projections.seqs == committed
        assert following.from_outbox == 0  # nothing was missing, so nothing was read back
        assert writer.batches < 100  # group commit batched the burst, and each batch was one publish
    finally:
        await writer.stop()
        await relay.stop()
        await bus.stop()


async def test_commits_reach_the_projections_while_redis_is_down(engine: AsyncEngine) -> None:
    projections = RecordingProjections()
    bus = RedisStreamBus(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    following = follower(engine, projections, DirtyLog(), poll_interval=0.1)
    relay = Relay(bus)
    await bus.start(following.receive)  # must not raise either
    await following.start()
    writer = Writer(engine, lambda: datetime.now(UTC), on_commit=relay.committed)
    writer.start()
    try:
        await writer.call(emit_catalog_change("while-down"))  # the commit succeeds whatever the bus does
        await eventually(lambda: [r["key"] for _, r in projections.got] == ["while-down", "while-down-price"])
    finally:
        await writer.stop()
        await following.stop()
        await relay.stop()
        await bus.stop()


async def test_a_commit_in_one_process_reaches_the_projections_of_another(
    engine: AsyncEngine, redis_url: str
) -> None:
    # Process A writes; process B only reads the shared database and the stream. B's poll is slow on purpose,
    # so the event can only arrive in time through Redis.
    bus_a, bus_b = RedisStreamBus(redis_url), RedisStreamBus(redis_url)
    seen_a, seen_b = RecordingProjections(), RecordingProjections()
    follower_a = follower(engine, seen_a, DirtyLog(), poll_interval=60)
    follower_b = follower(engine, seen_b, DirtyLog(), poll_interval=60)
    await bus_a.start(follower_a.receive)
    await bus_b.start(follower_b.receive)
    relay = Relay(bus_a)
    writer = Writer(engine, lambda: datetime.now(UTC), on_commit=relay.committed)
    writer.start()
    try:
        await writer.call(emit_catalog_change("shared"))
        await eventually(lambda: len(seen_b.got) == 2, timeout=3)
        assert seen_b.got == seen_a.got
        assert follower_b.from_outbox == 0
    finally:
        await writer.stop()
        await relay.stop()
        await bus_a.stop()
        await bus_b.stop()
