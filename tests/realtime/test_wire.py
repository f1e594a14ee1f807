"""The hub's fast path writes each frame's bytes once encoded to every socket, and they are the same frames.

realtime/wire.py encodes a frame once per tick and writes the bytes straight to uvicorn's transport, instead of
`send_text` per client. These tests hold it to being indistinguishable from `send_text`: real clients (the
`websockets` library validates every frame it parses) get the frames, in order; and a screen
that cannot take more is switched to the ordinary send, which waits for room, rather than written to blindly.
"""

from __future__ import annotations

import asyncio

import pytest
from live import LiveServer, place_order, watch
from websockets.frames import Opcode
from wsframes import parse_frames

from realtime.wire import Wire, encode_text


@pytest.mark.parametrize("text", ["", "ok", "库存 ¥12.80 " * 10, "x" * 70_000])
def test_an_encoded_frame_is_one_final_unmasked_text_frame_of_the_same_text(text: str) -> None:
    (frame,) = parse_frames(encode_text(text))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data.decode() == text


async def test_real_clients_get_every_frame_through_the_fast_path_in_order(live: LiveServer) -> None:
    token = live.token("host", "room-1")
    watchers = [await watch(live.ws_url, ["room:room-1:stock", "room:room-1:feed"], token) for _ in range(3)]
    hub = live.app.state.realtime.hub
    subscribers = {s for subs in hub.subscribers.values() for s in subs}
    assert len(subscribers) == 3 and all(s.wire is not None for s in subscribers)
    for i in range(5):
        await place_order(live, f"o-wire-{i}", [("tea", 1)])
    for watcher in watchers:
        last = await watcher.wait_for(
            lambda f: f["topic"] == "room:room-1:feed" and "o-wire-4" in str(f["data"])
        )
        feed = [str(f["data"]) for f in watcher.of("room:room-1:feed")]
        seen = [next(i for i, text in enumerate(feed) if f"o-wire-{n}" in text) for n in range(5)]
        assert seen == sorted(seen) and last["kind"] == "item"
        # The stock frame of the same ticks went out in the same write as the feed frame, and parses on its own.
        await watcher.wait_for(
            lambda f, after=last["seq"]: f["topic"] == "room:room-1:stock" and f["seq"] >= after
        )
    assert sum(s.sent for s in subscribers) >= 3 * 2  # frames went out after the snapshots
    for watcher in watchers:
        await watcher.close()


async def test_a_socket_that_asks_to_pause_gets_the_ordinary_send_which_waits(live: LiveServer) -> None:
    watcher = await watch(live.ws_url, ["room:room-1:stock"], live.token("host", "room-1"))
    before = (await watcher.wait_for(lambda f: f["kind"] == "snapshot"))["seq"]
    hub = live.app.state.realtime.hub
    (subscriber,) = {s for subs in hub.subscribers.values() for s in subs}
    assert isinstance(subscriber.wire, Wire)
    protocol = subscriber.wire._protocol
    protocol.pause_writing()  # what asyncio does when the socket's buffer is full
    assert subscriber.wire.ready() is False
    await place_order(live, "o-paused", [("tea", 1)])
    for _ in range(250):  # the next tick offers the frame; with the socket paused it waits in a sender task
        if subscriber.task is not None:
            break
        await asyncio.sleep(0.02)
    assert subscriber.task is not None
    sent, ticks = subscriber.sent, hub.ticks
    while (
        hub.ticks < ticks + 3
    ):  # and stays there, however many ticks go by: nothing is written past the pause
        await asyncio.sleep(hub.tick)
    assert subscriber.task is not None and subscriber.sent == sent
    protocol.resume_writing()
    assert not [f for f in watcher.frames if f["seq"] > before]
    await watcher.wait_for(lambda f: f["seq"] > before)
    for _ in range(250):
        if subscriber.task is None:
            break
        await asyncio.sleep(0.02)
    assert subscriber.task is None  # the waiting send went out once there was room, and its task ended
    await watcher.close()
