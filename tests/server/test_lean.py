"""server/lean.py: the queue and event an idle WebSocket holds behave as asyncio's do where uvicorn relies on them.

uvicorn's WebSocket protocol gets its received messages from the queue (`receive`) and waits on the event before
each send (`writable`, cleared while the socket's buffer is full). A message must never be lost or reordered, a
sender must wake when the socket drains, and a cancelled receive must leave its message for the next one.
"""

from __future__ import annotations

import asyncio

import pytest

from server.lean import LeanEvent, LeanQueue


async def test_messages_come_out_in_the_order_they_were_put_whether_or_not_someone_was_waiting() -> None:
    queue = LeanQueue()
    waiting = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("connect")
    queue.put_nowait("text")
    assert await waiting == "connect"
    assert queue.qsize() == 1 and not queue.empty()
    assert await queue.get() == "text"
    assert queue.empty()


async def test_a_receive_cancelled_after_its_message_arrived_leaves_the_message_for_the_next_receive() -> (
    None
):
    queue = LeanQueue()
    first = asyncio.create_task(queue.get())
    second = asyncio.create_task(queue.get())
    await asyncio.sleep(0)
    queue.put_nowait("disconnect")
    first.cancel()  # woken, but cancelled before it ran: the message stays queued
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await asyncio.wait_for(second, 1) == "disconnect"
    assert queue.empty()


async def test_a_sender_waiting_for_room_wakes_when_the_socket_drains() -> None:
    writable = LeanEvent(set_=True)
    assert writable.is_set() and await writable.wait()
    writable.clear()
    senders = [asyncio.create_task(writable.wait()) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(s.done() for s in senders)
    writable.set()
    assert await asyncio.wait_for(asyncio.gather(*senders), 1) == [True, True, True]


async def test_a_sender_that_gives_up_waiting_leaves_nothing_behind() -> None:
    writable = LeanEvent()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(writable.wait(), 0.01)
    writable.set()
    assert await writable.wait()
