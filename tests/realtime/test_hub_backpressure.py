"""The hub never waits for a slow screen: state frames coalesce to the newest, feeds overflow into a 1013 close.

These tests drive the Hub with connections whose send blocks until released, the way a phone on a bad network
behaves; the live-server test in test_hub.py shows the same over real sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

from wsframes import parse_frames

from realtime.hub import Hub


class _Projections:
    """Read models with one state topic and one feed, changed by the test."""

    def __init__(self) -> None:
        self.applied = 0
        self.state = 0
        self.items: list[dict[str, Any]] = []

    def snapshot(self, topic: str) -> dict[str, Any]:
        return {"value": self.state} if topic == "ops" else {"items": self.items[-50:]}

    def feed_since(self, topic: str, since: int) -> list[dict[str, Any]] | None:
        return [i for i in self.items if i["seq"] > since]

    def feed_seq(self, topic: str) -> int:
        return self.items[-1]["seq"] if self.items else 0


class _Screen:
    """A connection whose sends can be held back (a stalled network) and released."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.frames: list[str] = []
        self.flowing = asyncio.Event()
        if not stalled:
            self.flowing.set()
        self.closed_with: int | None = None

    async def send_text(self, data: str) -> None:
        await self.flowing.wait()
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed_with = code


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_stalled_screen_does_not_hold_back_the_others_and_gets_only_the_newest_state() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    quick, stalled = _Screen(), _Screen()
    await hub.attach(quick, ("ops",), "json")
    stalled_sub = await hub.attach(stalled, ("ops",), "json")
    stalled.flowing.clear()
    for value in range(1, 21):
        projections.state = value
        projections.applied = value
        hub.mark_dirty({"ops"})
        hub.flush()
        await _settle()
    assert len(quick.frames) == 21 and '"value":20' in quick.frames[-1]
    assert len(stalled.frames) == 1  # only its snapshot went out; the rest waits, coalesced
    stalled.flowing.set()
    await _settle()
    # It skipped straight to the newest state: at most the one frame in flight plus the newest.
    assert len(stalled.frames) <= 3 and '"value":20' in stalled.frames[-1]
    assert stalled_sub.offered == 20
    await hub.stop()


async def test_a_screen_that_lets_feed_frames_pile_up_is_told_to_reconnect() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000, max_feed_backlog=5)
    stalled = _Screen()
    subscriber = await hub.attach(stalled, ("room:r:feed",), "json")
    stalled.flowing.clear()
    for seq in range(1, 12):
        projections.items.append({"seq": seq, "order": f"o{seq}"})
        hub.mark_dirty({"room:r:feed"})
        hub.flush()
        await _settle()
    assert stalled.closed_with == 1013
    assert subscriber.closed and hub.connections == 0
    await hub.stop()


async def test_a_burst_between_two_ticks_is_one_frame_per_topic() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    screen = _Screen()
    await hub.attach(screen, ("ops", "room:r:feed"), "json")
    for seq in range(1, 1001):
        projections.items.append({"seq": seq, "order": f"o{seq}"})
        projections.state = seq
        hub.mark_dirty({"ops", "room:r:feed"})
    hub.flush()
    await _settle()
    assert len(screen.frames) == 2 + 2  # two snapshots on attach, then one frame per topic for the burst
    assert '"o1000"' in screen.frames[-1] or '"o1000"' in screen.frames[-2]
    await hub.stop()


class _BrokenScreen(_Screen):
    """A connection whose network stalls and then drops: the waiting send fails."""

    def __init__(self) -> None:
        super().__init__(stalled=True)
        self.unwound = False

    async def send_text(self, data: str) -> None:
        try:
            await self.flowing.wait()
        finally:
            self.unwound = True
        raise ConnectionResetError("peer went away")


async def test_a_screen_whose_network_drops_mid_send_is_closed_and_the_others_keep_their_frames() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    quick, broken = _Screen(), _BrokenScreen()
    await hub.attach(quick, ("ops",), "json")
    broken.flowing.set()
    broken_sub = await hub.attach(_Screen(), ("ops",), "json")  # a healthy one first ...
    broken_sub.connection = broken  # ... whose network then stalls and drops
    broken.flowing.clear()
    projections.state = projections.applied = 1
    hub.mark_dirty({"ops"})
    hub.flush()
    await _settle()
    assert broken_sub.task is not None and not broken_sub.closed  # its send is waiting on the network
    broken.flowing.set()
    await _settle()
    assert broken_sub.closed and broken_sub.task is None and broken.unwound
    projections.state = projections.applied = 2
    hub.mark_dirty({"ops"})
    hub.flush()
    await _settle()
    assert '"value":2' in quick.frames[-1] and len(quick.frames) == 3
    await hub.stop()


async def test_detaching_a_screen_with_a_send_in_flight_unwinds_that_send() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    stalled = _BrokenScreen()
    stalled.flowing.set()
    subscriber = await hub.attach(_Screen(), ("ops",), "json")
    subscriber.connection = stalled
    stalled.flowing.clear()
    projections.state = 1  # a change: a screen is sent nothing when what it shows did not change
    hub.mark_dirty({"ops"})
    hub.flush()
    await _settle()
    assert subscriber.task is not None and not stalled.unwound
    await hub.detach(subscriber)
    assert stalled.unwound and subscriber.task is None and hub.connections == 0
    await hub.stop()


async def test_screens_connecting_together_share_one_rendered_snapshot_until_the_topic_changes() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    screens = [_Screen() for _ in range(50)]
    for screen in screens[:25]:
        await hub.attach(screen, ("ops",), "json")
    assert hub.frames_rendered == 1
    projections.state = 7  # a clock-driven change: no event, only the topic marked dirty
    hub.mark_dirty({"ops"})
    for screen in screens[25:]:
        await hub.attach(screen, ("ops",), "json")
    assert hub.frames_rendered == 2
    assert '"value":0' in screens[0].frames[0] and '"value":7' in screens[-1].frames[0]
    projections.applied = 1  # an applied event changes the seq: the next screen gets a fresh snapshot
    projections.state = 8
    late = _Screen()
    await hub.attach(late, ("ops",), "json")
    assert '"value":8' in late.frames[0]
    await hub.stop()


class _Wire:
    """A socket with room: records what the hub writes to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def ready(self) -> bool:
        return True

    def write(self, data: bytes) -> None:
        self.writes.append(data)


async def test_a_ticks_frames_for_one_screen_go_out_in_one_write_and_each_parses_whole() -> None:
    projections = _Projections()
    hub = Hub(projections, tick_ms=1000)
    wire = _Wire()
    await hub.attach(_Screen(), ("ops", "room:r:feed"), "json", wire=wire)  # type: ignore[arg-type]
    projections.items.append({"seq": 1, "order": "o1"})
    projections.state = projections.applied = 1
    hub.mark_dirty({"ops", "room:r:feed"})
    hub.flush()
    assert len(wire.writes) == 1
    texts = [frame.data.decode() for frame in parse_frames(wire.writes[0])]
    assert len(texts) == 2  # two whole frames, nothing left over
    assert any('"o1"' in t for t in texts) and any('"value":1' in t for t in texts)
    await hub.stop()
