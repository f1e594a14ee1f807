"""Each screen at its own cadence, and nothing when nothing it shows changed (issue 16): a leader's phone on a data
plan gets about one frame a second with the final figures; a wall two; a JSON feed stays exact."""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from live import LiveServer, place_order, watch

from realtime.hub import Hub


class _Projections:
    def __init__(self) -> None:
        self.applied = 0
        self.view: dict[str, Any] = {"figure": 1}

    def snapshot(self, topic: str) -> dict[str, Any]:
        return dict(self.view)

    def feed_since(self, topic: str, since: int) -> list[dict[str, Any]] | None:
        return []

    def feed_seq(self, topic: str) -> int:
        return 0


class _Screen:
    def __init__(self) -> None:
        self.frames: list[str] = []

    async def send_text(self, data: str) -> None:
        self.frames.append(data)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        pass


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def _html(topic: str, kind: str, data: dict[str, Any], lang: str) -> str:
    return (f'<section id="t-me" hx-swap-oob="true"><b id="t-me-figure">{data["figure"]}</b>'
            f'<i id="t-me-other">{data.get("other", 0)}</i></section>')


async def test_a_leader_phone_gets_no_frame_when_a_change_leaves_what_it_shows_as_it_was() -> None:
    projections = _Projections()
    hub = Hub(projections, html=_html)
    phone = _Screen()
    await hub.attach(phone, ("leader:a",), "html:zh_CN", auth=("leader", "a", 0))
    for seq in range(1, 4):  # events that touched the topic without changing the view (another leader's order)
        projections.applied = seq
        hub.mark_dirty({"leader:a"})
        hub.flush()
        await _settle()
    assert len(phone.frames) == 1  # the snapshot, nothing since

    projections.view = {"figure": 2}  # now something on it changes: it goes at once (the lane was quiet)
    projections.applied = 4
    hub.mark_dirty({"leader:a"})
    hub.flush()
    await _settle()
    assert phone.frames[1:] == ['<b id="t-me-figure">2</b>']  # only the figure that changed
    await hub.stop()


async def test_a_leader_phone_is_sent_a_burst_after_its_second_is_up_and_a_wall_twice_as_often() -> None:
    projections = _Projections()
    hub = Hub(projections, html=_html)
    phone, wall = _Screen(), _Screen()
    await hub.attach(phone, ("leader:a",), "html:zh_CN", auth=("leader", "a", 0))
    await hub.attach(wall, ("leader:a",), "html:zh_CN", auth=("ops", "-", 0))
    started = time.monotonic()
    for figure in range(2, 40):  # a change every 30 ms for ~1.2 s
        projections.view = {"figure": figure}
        hub.mark_dirty({"leader:a"})
        hub.flush()
        await asyncio.sleep(0.03)
    elapsed = time.monotonic() - started
    await asyncio.sleep(1.0)
    hub.flush()  # what was owed goes once its period is up
    await _settle()
    assert 2 <= len(phone.frames) - 1 <= math.ceil(elapsed / 1.0) + 1
    assert len(phone.frames) - 1 < len(wall.frames) - 1 <= math.ceil(elapsed / 0.5) + 1
    assert phone.frames[-1] == wall.frames[-1] == '<b id="t-me-figure">39</b>'  # both end on the final figure
    await hub.stop()



async def test_a_burst_of_orders_reaches_a_leader_phone_as_about_a_frame_a_second_with_the_final_figures(
    live: LiveServer,
) -> None:
    phone = await watch(live.ws_url, ["leader:lead-a"], live.token("leader", "lead-a"))
    feed = await watch(live.ws_url, ["room:room-1:feed"], live.token("host", "room-1"))
    await phone.wait_for(lambda f: f["kind"] == "snapshot")
    started = time.monotonic()
    burst = 12
    for i in range(burst):
        await place_order(live, f"burst-{i}", [("tea", 1)])
    elapsed = time.monotonic() - started
    last = await phone.wait_for(lambda f: len(f["data"]["orders"]) == burst, timeout=5)
    await asyncio.sleep(1.2)  # anything still owed has gone out by now
    live_frames = phone.frames[1:]
    assert len(live_frames) <= math.ceil(elapsed) + 1, (len(live_frames), elapsed)
    assert phone.frames[-1] == last  # nothing after the final figures
    room = last["data"]["rooms"][0]
    assert room["orders"] == burst and room["gmv_cents"] == burst * 12_800
    # The JSON feed (a wall's exact record, replayable with since=) carried every order, each once.
    items = [i["order"] for f in feed.frames[1:] for i in f["data"]["items"]]
    assert sorted(items) == sorted(f"burst-{i}" for i in range(burst))
    await phone.close()
    await feed.close()
