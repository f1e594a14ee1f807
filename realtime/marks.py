"""This process's mark in the database: the outbox seq its follower has applied, written every few seconds so that
pruning (store/retention.py) never removes an event this process still needs.

A process that was away longer than the grace period (stalled, cut off from the database) no longer held pruning
back; when it comes back and finds `pruned_through` above its own seq, it may have missed events, so it reloads its
read models from a snapshot and redraws every screen (the screens then get snapshots, as after a restart).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from store import retention
from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.marks")

INTERVAL_S = 5.0


def process_name() -> str:
    """host:pid:random — new at every start, so a restarted process never inherits a dead one's mark."""
    return f"{socket.gethostname()[:48]}:{os.getpid()}:{secrets.token_hex(4)}"


class ProcessMark:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], applied: Callable[[], int],
                 reload: Callable[[], Awaitable[None]], *, interval: float = INTERVAL_S) -> None:
        self.engine = engine
        self.clock = clock
        self.applied = applied  # the follower's applied seq
        self.reload = reload  # coroutine function: load a snapshot, redraw every screen
        self.interval = interval
        self.process = process_name()
        self.reloads = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.beat()  # at once: a fresh process holds pruning back from its snapshot's seq on
        self._task = asyncio.get_running_loop().create_task(self._loop(), name="liveroom-process-mark")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        try:  # a process that stops cleanly holds nothing back
            async with self.engine.begin() as conn:
                await retention.drop_mark(conn, self.process)
        except Exception:
            log.warning("could not remove the process mark %s (it expires by itself)", self.process)

    async def beat(self) -> None:
        try:
            async with self.engine.connect() as conn:
                through = await retention.pruned_through(conn)
            if through > self.applied():
                log.warning("events up to seq %d were pruned while this process was at %d: reloading",
                            through, self.applied())
                await self.reload()
                self.reloads += 1
            async with self.engine.begin() as conn:
                await retention.write_mark(conn, self.process, self.applied(), self.clock())
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("could not write the process mark (tried again in %s s)", self.interval)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self.beat()
