"""Stopping the long-lived tasks of a process (writer, scheduler, hub ticker, bus readers) the same safe way."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel `task` and wait until it has ended.

    Cancels again while it runs on: on Python 3.11, `asyncio.wait_for` (used inside redis-py and the database
    drivers) swallows a cancellation that lands just as the awaited operation completes, and the task would go on
    for ever.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    with contextlib.suppress(asyncio.CancelledError):
        task.result()
