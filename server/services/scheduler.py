"""The background task that runs the time-based job (settlement, stuck parcels) on the process's own clock."""

from __future__ import annotations

import asyncio
import logging

from server.context import AppContext
from server.services.settlement import settle_all
from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.scheduler")


class Scheduler:
    """Every `interval` seconds: settle as of `ctx.clock()`. A failed run is logged; the next one comes."""

    def __init__(self, ctx: AppContext, interval: float = 30.0) -> None:
        if interval <= 0:
            raise ValueError("the scheduler's interval must be positive")
        self.ctx = ctx
        self.interval = interval
        self.runs = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="liveroom-scheduler")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def run_once(self) -> dict[str, int]:
        report = await settle_all(self.ctx.writer, self.ctx.clock())
        self.runs += 1
        if report["settled"] or report["stuck"]:
            log.info("settled %d commission lines, %d parcels newly stuck",
                     report["settled"], report["stuck"])
        return report

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("scheduled settlement failed; trying again in %s s", self.interval)
