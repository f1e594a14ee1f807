"""The session's clocks and its timeline.

Two clocks: the loop's wall time, and the carriers' accelerated clock (the session's start plus the elapsed wall
time times --speed). The timeline runs actions when their wall time falls due; an action that is a coroutine runs
as a task of its own, and one failed action never ends the session.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any


class Timeline:
    def __init__(self, speed: float, on_error: Callable[[str], None]) -> None:
        self.speed = speed
        self.on_error = on_error
        self.t0 = 0.0
        self.start = datetime.now(UTC)
        self.started = False
        self.stop_event = asyncio.Event()
        self.heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- clocks --------------------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def now(self) -> float:
        """The loop's wall time."""
        return self.loop.time()

    def begin(self) -> None:
        """The session starts now: both clocks count from here."""
        self.t0 = self.loop.time()
        self.start = datetime.now(UTC)
        self.started = True

    def elapsed(self) -> float:
        return self.loop.time() - self.t0 if self.started else 0.0

    def sim_now(self) -> datetime:
        """The carriers' clock: the session's start plus the elapsed wall time times --speed."""
        return self.start + timedelta(seconds=self.elapsed() * self.speed)

    def wall_at(self, at: datetime) -> float:
        return self.t0 + (at - self.start).total_seconds() / self.speed

    def reported_at(self, at: datetime) -> datetime:
        """The real time a line planned for `at` (carriers' clock) falls due: what its push reports, since the
        server refuses events dated after their arrival."""
        return self.start + (at - self.start) / self.speed

    def after_sim_minutes(self, minutes: float) -> float:
        return self.loop.time() + minutes * 60.0 / self.speed

    # --- the timeline ----------------------------------------------------------------------------------------

    def schedule(self, when: float, action: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), action, args))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # one failed action must not end the session
            self.on_error(f"{type(error).__name__}: {error}")

    async def run(self) -> None:
        while True:
            now = self.loop.time()
            while self.heap and self.heap[0][0] <= now:
                _, _, action, args = heapq.heappop(self.heap)
                result = action(*args)
                if asyncio.iscoroutine(result):
                    self.spawn(result)
            await asyncio.sleep(0.05)

    def idle(self) -> bool:
        """Nothing scheduled and nothing running."""
        return not self.heap and not self.tasks

    async def cancel_tasks(self, grace: float) -> None:
        """Let the running actions finish for up to `grace` seconds, then cancel the rest."""
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # --- stopping ------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stop_event.set()

    @property
    def stopped(self) -> bool:
        return self.stop_event.is_set()

    async def sleep_until(self, when: float) -> bool:
        """Sleep until the loop time `when`; False when the session was stopped first."""
        delay = when - self.loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
        return not self.stop_event.is_set()

    async def unless_stopped(self, work: Coroutine[Any, Any, Any]) -> Any:
        """`work`'s result, or None when the session is stopped first (the work is then cancelled)."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
        return task.result()
