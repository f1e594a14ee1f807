"""The background tasks that run the time-based jobs on the process's own clock: settlement and stuck parcels
(every 30 s), pre-live reminders (queued once a room starts and, with `LIVEROOM_NOTIFY_URL`, delivered; every 5 s),
and outbox pruning (every 5 min, with a rule of what rebuilds read: store/retention.py)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from domain import growth
from server.context import AppContext
from server.services import reminders
from server.services.notifier import Notifier
from server.services.settlement import settle_all
from store import retention
from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.scheduler")


class Scheduler:
    """Every `interval` seconds: settle as of `ctx.clock()`; every `reminder_interval` seconds: queue and deliver
    pre-live reminders; every `prune_interval` seconds, with `keep` (what rebuilds read), prune the outbox. A failed
    run is logged; the next one comes."""

    def __init__(self, ctx: AppContext, interval: float = 30.0, *, reminder_interval: float = 5.0,
                 retry_after: Sequence[float] = growth.RETRY_AFTER_S, keep: retention.KeepRule | None = None,
                 prune_interval: float = 300.0) -> None:
        if interval <= 0 or reminder_interval <= 0:
            raise ValueError("the scheduler's interval must be positive")
        self.ctx = ctx
        self.interval = interval
        self.reminder_interval = reminder_interval
        self.retry_after = retry_after
        self.runs = 0
        self.failures = 0
        self.reminder_runs = 0
        self.reminder_failures = 0
        self.keep = keep
        self.prune_interval = prune_interval
        self.prune_runs = 0
        self.prune_failures = 0
        self.notifier = Notifier(ctx.settings.notify_url, ctx.settings.secret) if ctx.settings.notify_url else None
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._loop(self.run_once, self.interval, "settlement"),
                                    name="liveroom-scheduler"),
                asyncio.create_task(self._loop(self.run_reminders, self.reminder_interval, "reminders"),
                                    name="liveroom-reminders"),
            ]
            if self.keep is not None:
                self._tasks.append(asyncio.create_task(self._loop(self.run_pruning, self.prune_interval, "pruning"),
                                                       name="liveroom-outbox-pruning"))

    async def stop(self) -> None:
        for task in self._tasks:
            await cancel_and_wait(task)
        self._tasks = []
        if self.notifier is not None:
            await self.notifier.close()

    async def run_once(self) -> dict[str, int]:
        report = await settle_all(self.ctx.writer, self.ctx.clock())
        self.runs += 1
        if report["settled"] or report["stuck"]:
            log.info("settled %d commission lines, %d parcels newly stuck",
                     report["settled"], report["stuck"])
        return report

    async def run_reminders(self) -> dict[str, int]:
        """Queue the reminders of rooms that have started; with a notify URL, deliver the due ones."""
        report = {"queued": await reminders.queue_due(self.ctx), "sent": 0, "retry": 0, "failed": 0}
        if self.notifier is not None:
            report.update(await reminders.deliver_due(self.ctx.writer, self.notifier, self.ctx.settings.public_url,
                                                      retry_after=self.retry_after))
        self.reminder_runs += 1
        if any(report.values()):
            log.info("reminders: %(queued)d queued, %(sent)d sent, %(retry)d to retry, %(failed)d failed", report)
        return report

    async def run_pruning(self) -> retention.PruneReport:
        """Delete the outbox events older than the retention period that every live process has applied."""
        if self.keep is None:
            return retention.PruneReport()
        report = await retention.prune_outbox(
            self.ctx.writer, now=self.ctx.clock(), keep=self.keep,
            retention=timedelta(days=self.ctx.settings.outbox_retention_days))
        self.prune_runs += 1
        if report.deleted:
            log.info("outbox: pruned %d events below seq %s (%d kept for rebuilds)", report.deleted, report.floor,
                     report.kept)
        return report

    async def _loop(self, job: Callable[[], Awaitable[object]], interval: float, name: str) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception:
                if name == "reminders":
                    self.reminder_failures += 1
                elif name == "pruning":
                    self.prune_failures += 1
                else:
                    self.failures += 1
                log.exception("scheduled %s failed; trying again in %s s", name, interval)
