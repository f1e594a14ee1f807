"""An idle screen is cheap to hold and still a screen (issue 16: `ws_kib_per_idle_connection`).

A screen's WebSocket goes straight to its endpoint (realtime/ws.py, Screens), which reads its query, headers and
cookie once from the scope; uvicorn's protocol lets the handshake's request and response go once answered and
waits with server/lean.py's queue and event. None of that may change what a screen gets: these tests open screens
the ways the pages do and hold them to the frames they must receive.
"""

from __future__ import annotations

import asyncio

import pytest
import websockets
from live import LiveServer, place_order, watch


async def test_a_screen_left_idle_after_its_snapshot_still_gets_the_next_orders_frames(
    live: LiveServer,
) -> None:
    screen = await watch(live.ws_url, ["room:room-1:feed", "room:room-1:stock"], live.token("host", "room-1"))
    try:
        await screen.wait_for(lambda f: f["topic"] == "room:room-1:feed" and f["kind"] == "snapshot")
        await asyncio.sleep(1.0)  # several ticks with nothing to send: the screen sits in its receive
        await place_order(live, "o-idle-1", [("tea", 1)])
        await screen.wait_for(lambda f: f["topic"] == "room:room-1:feed" and "o-idle-1" in str(f["data"]))
        protocols = [s.wire._protocol for subs in live.hub.subscribers.values() for s in subs if s.wire]
        assert protocols and all("request" not in vars(p) for p in protocols)  # the handshake was let go
    finally:
        await screen.close()


async def test_a_page_screen_with_its_token_in_the_cookie_and_a_topic_asked_twice_gets_one_snapshot_each(
    live: LiveServer,
) -> None:
    """As the host page opens it: the token in the `liveroom_token` cookie, the page's own origin, html frames in
    the page's language; a topic repeated in the query is one subscription."""

    async def snapshots(lang: str) -> list[str]:
        query = (
            f"topic=room:room-1:stock&topic=room:room-1:stock&topic=room:room-1:board&format=html&lang={lang}"
        )
        cookie = f"a=1; liveroom_token={live.token('host', 'room-1')}"
        async with websockets.connect(
            f"{live.ws_url}?{query}",
            additional_headers={"Origin": live.url, "Cookie": cookie},
            compression=None,
            max_size=None,
        ) as connection:
            frames = [str(await asyncio.wait_for(connection.recv(), 5)) for _ in range(2)]
            # one subscription, not one per mention
            assert len(live.hub.subscribers["room:room-1:stock"]) == 1
            return frames

    english, chinese = await snapshots("en"), await snapshots("zh-CN")
    assert all(frame.lstrip().startswith("<") for frame in english + chinese)
    assert english != chinese  # the language asked for in the query was read


async def test_a_screen_from_a_foreign_origin_or_without_a_token_is_refused_before_any_frame(
    live: LiveServer,
) -> None:
    token = live.token("host", "room-1")
    for url, headers in (
        (f"{live.ws_url}?topic=room:room-1:stock&token={token}", {"Origin": "https://evil.example"}),
        (f"{live.ws_url}?topic=room:room-1:stock", {"Origin": live.url}),
        (f"{live.ws_url}?topic=room:room-1:stock&token={token}&since=x", None),
    ):
        with pytest.raises(websockets.InvalidStatus) as refused:
            await websockets.connect(url, additional_headers=headers)
        assert refused.value.response.status_code == 403
