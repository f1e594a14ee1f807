"""What an idle WebSocket holds, made small: the queue and the event uvicorn's WebSocket protocol keeps per connection.

uvicorn gives every connection an `asyncio.Queue` (its received messages) and an `asyncio.Event` (`writable`).
Each allocates its deques up front — a queue three (items, getters, putters) plus a lock's, an event one — at
~620 bytes a deque: ~3.7 KB per connection before a single message arrives. A screen's socket receives almost
nothing, so these hold their waiters in a list created on first need instead. Only what uvicorn's protocol and
realtime/wire.py call is provided (`put_nowait`, `get`, `empty`, `qsize`; `set`, `clear`, `is_set`, `wait`),
with asyncio's semantics: a getter cancelled while waiting loses no message, a waiter woken by `set` returns
True even if the event was cleared again before it ran (server/serving.py puts them in; bench/memory.py
measures the connection).
"""

from __future__ import annotations

import asyncio
from typing import Any


def _wake(waiters: list[asyncio.Future[None]]) -> None:
    for waiter in waiters:
        if not waiter.done():
            waiter.set_result(None)
    waiters.clear()


class LeanQueue:
    """An unbounded FIFO for one connection's received messages."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        if self._getters:
            _wake(self._getters)

    async def get(self) -> Any:
        while not self._items:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            except BaseException:
                if waiter in self._getters:
                    self._getters.remove(waiter)
                if self._items and self._getters:  # a message this getter was woken for: pass the wake on
                    _wake(self._getters)
                raise
        return self._items.pop(0)

    def empty(self) -> bool:
        return not self._items

    def qsize(self) -> int:
        return len(self._items)


class LeanEvent:
    """asyncio.Event's behaviour without its up-front deque."""

    __slots__ = ("_set", "_waiters")

    def __init__(self, set_: bool = False) -> None:
        self._set = set_
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        if not self._set:
            self._set = True
            if self._waiters:
                _wake(self._waiters)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> bool:
        if self._set:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
