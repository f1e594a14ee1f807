"""How far behind this process is, sampled for /metrics (issue 15): every `interval` (1 s) the outbox lag (newest
committed seq − newest applied here) and the bus lag (now − creation time of the newest event applied here, 0 once
every committed event is applied), and every half of it the event loop's lag (how late a 0.5 s sleep woke)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from store import models
from store.tasks import cancel_and_wait
from telemetry.metrics import BUS_LAG, EVENT_LOOP_LAG, OUTBOX_LAG, process_label

log = logging.getLogger("liveroom.lag")

LOOP_SLEEP_S = 0.5


class LagSampler:
    def __init__(self, engine: AsyncEngine, applied: Callable[[], int], clock: Callable[[], datetime], *,
                 interval: float = 1.0) -> None:
        self.engine = engine
        self.applied = applied  # the follower's newest applied seq
        self.clock = clock
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        process = process_label()
        self._outbox = OUTBOX_LAG.labels(process)
        self._bus = BUS_LAG.labels(process)
        self._loop = EVENT_LOOP_LAG.labels(process)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="liveroom-lag-sampler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            started = loop.time()
            await asyncio.sleep(LOOP_SLEEP_S)
            self._loop.set(max(0.0, loop.time() - started - LOOP_SLEEP_S))
            if loop.time() < due:
                continue
            due = loop.time() + self.interval - LOOP_SLEEP_S / 2
            try:
                await self.sample()
            except asyncio.CancelledError:
                raise
            except Exception as failure:  # the database may be briefly away: the next sample tries again
                log.warning("lag sample failed: %s: %s", type(failure).__name__, failure)

    async def sample(self) -> tuple[int, float]:
        """Read the outbox's newest seq and set both lag gauges; answers (outbox lag, bus lag)."""
        outbox = models.outbox
        applied = self.applied()
        async with self.engine.connect() as conn:
            newest = (await conn.execute(select(func.max(outbox.c.seq)))).scalar() or 0
            created = None
            if newest > applied and applied > 0:
                created = (await conn.execute(
                    select(outbox.c.created_at).where(outbox.c.seq <= applied)
                    .order_by(outbox.c.seq.desc()).limit(1))).scalar()
        behind = max(0, newest - applied)
        bus = 0.0
        if behind and created is not None:
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            bus = max(0.0, (self.clock() - created).total_seconds())
        self._outbox.set(behind)
        self._bus.set(bus)
        return behind, bus
