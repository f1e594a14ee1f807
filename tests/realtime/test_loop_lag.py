"""Bulk reads share the event loop with every screen: loading the read models, catching up from the outbox and
settling commission each take many rows, and none may hold the loop for more than 50 ms at a time while the hub
ticks (the bound is behaviour — a screen frozen longer than that is visibly late — not a speed figure)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from realtime.hub import Hub
from realtime.projections import Projections
from realtime.relay import Follower
from server.services.settlement import settle_all
from store import models
from store.engine import create_engine
from store.uow import Writer

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # bench/ is not an installed package: it runs from the checkout
    sys.path.insert(0, str(ROOT))

from bench.rebuild import START, write_session  # noqa: E402

ORDERS = 6_000  # ~30,000 outbox rows: several pages of every bulk read
MAX_STALL_S = 0.050
BEAT_S = 0.010


@pytest.fixture(scope="module")
def session_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live session written straight into the tables (bench/rebuild.py), its signed orders signed a month ago."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('lag') / 'session.db'}"

    async def write() -> None:
        await write_session(url, ORDERS)
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                s, o = models.shipments, models.orders
                signed = select(s.c.order).where(s.c.state == "signed")
                await conn.execute(update(o).where(o.c.order.in_(signed)).values(signed_at=START))
        finally:
            await engine.dispose()

    asyncio.run(write())
    return url


async def longest_stall(work: Awaitable[Any], projections: Any) -> tuple[float, Any]:
    """Run `work` beside a ticking hub and a 10 ms heartbeat: the longest the loop's thread ran without letting
    the heartbeat beat (its CPU time between two beats: a stall of the loop, not the wait of a process that a
    busy machine did not schedule), and what `work` returned."""
    hub = Hub(projections, tick_ms=10)
    hub.start()
    beats = [time.thread_time()]

    async def beat() -> None:
        while True:
            await asyncio.sleep(BEAT_S)
            beats.append(time.thread_time())

    heart = asyncio.create_task(beat())
    try:
        result = await work
    finally:
        beats.append(time.thread_time())  # the stretch since the last beat counts too
        heart.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heart
        await hub.stop()
    assert hub.ticks > 0 and len(beats) > 2  # the hub ticked and the heartbeat beat during the work
    return max(later - earlier for earlier, later in itertools.pairwise(beats)), result


@pytest.fixture
async def engine(session_db: str) -> AsyncIterator[AsyncEngine]:
    """The session's engine. The garbage collector is off while it is used: its pauses hit whichever thread
    allocates, whatever runs where, and are the business of liveroom/app.py's collector settings; this measures
    how the reads are run."""
    gc.disable()
    engine = create_engine(session_db)
    try:
        yield engine
    finally:
        await engine.dispose()
        gc.enable()


async def test_loading_the_read_models_never_holds_the_loop_for_50_ms(engine: AsyncEngine) -> None:
    views = Projections(lambda: START)
    stall, _ = await longest_stall(views.load(engine), views)
    assert views.applied > 5 * ORDERS - ORDERS  # the whole session was read
    assert stall < MAX_STALL_S, f"the loop ran {stall * 1000:.0f} ms without a turn"


async def test_catching_up_from_the_outbox_never_holds_the_loop_for_50_ms(engine: AsyncEngine) -> None:
    views = Projections(lambda: START)
    follower = Follower(engine, views, lambda topics: None)
    stall, applied = await longest_stall(follower.poll(), views)
    assert applied == views.applied > 5 * ORDERS - ORDERS  # every outbox row, through the pages
    assert stall < MAX_STALL_S, f"the loop ran {stall * 1000:.0f} ms without a turn"


async def test_settling_a_month_of_orders_never_holds_the_loop_for_50_ms(engine: AsyncEngine) -> None:
    writer = Writer(engine, lambda: START + timedelta(days=30))
    writer.start()
    try:
        stall, totals = await longest_stall(
            settle_all(writer, START + timedelta(days=30)), Projections(lambda: START)
        )
    finally:
        await writer.stop()
    assert totals["settled"] > 0
    assert stall < MAX_STALL_S, f"the loop ran {stall * 1000:.0f} ms without a turn"
