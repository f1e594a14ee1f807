"""The WebSocket hub against a real server on a free port, with real WebSocket clients (issue #4)."""

from __future__ import annotations

import asyncio
import fcntl
import socket
import termios
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from live import LiveServer, SeedClient, live_server, watch
from seed import order_body, seed_catalog, share_code


@pytest.fixture
async def live(tmp_path: Path) -> Any:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as server:
        await seed_catalog(SeedClient(server.http))
        yield server


async def _bound_order(live: LiveServer, order: str, visitor: str, qty: int = 1) -> dict[str, Any]:
    code = await share_code(SeedClient(live.http), "lead-a")
    response = await live.http.post(
        "/api/v1/orders", json=order_body(order, visitor, [("tea", qty)], code=code)
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_an_order_reaches_the_board_leader_ops_and_order_topics(live: LiveServer) -> None:
    board = await watch(live.ws_url, ["room:room-1:board", "room:room-1:stock"], live.token("host", "room-1"))
    leader = await watch(live.ws_url, ["leader:lead-a"], live.token("leader", "lead-a"))
    ops = await watch(live.ws_url, ["ops"], live.token("ops", "-"))
    await board.wait_for(lambda f: f["kind"] == "snapshot" and f["topic"] == "room:room-1:board")

    placed = await _bound_order(live, "o-live-1", "visitor-live-1")
    order = await watch(live.ws_url, ["order:o-live-1"], live.token("order", "o-live-1"))

    await board.wait_for(
        lambda f: (
            f["topic"] == "room:room-1:board" and "lead-a" in str(f["data"]) and "12800" in str(f["data"])
        )
    )
    await board.wait_for(lambda f: f["topic"] == "room:room-1:stock" and f["seq"] > 0)
    await leader.wait_for(lambda f: "o-live-1" in str(f["data"]))
    await ops.wait_for(lambda f: "o-live-1" in str(f["data"]) or f["seq"] > 0)
    first = await order.wait_for(lambda f: f["topic"] == "order:o-live-1")
    assert first["kind"] == "snapshot" and placed["shipments"][0]["waybill"] in str(first["data"])
    for watcher in (board, leader, ops, order):
        await watcher.close()


@pytest.mark.parametrize(
    ("role", "subject", "topic"),
    [
        ("leader", "lead-a", "leader:lead-b"),
        ("leader", "lead-a", "ops"),
        ("host", "room-1", "room:room-2:stock"),
        ("order", "o-x", "order:o-y"),
        ("leader", "lead-a", "room:room-1:stock"),
    ],
)
async def test_a_token_opens_only_its_own_topics(
    live: LiveServer, role: str, subject: str, topic: str
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await watch(live.ws_url, [topic], live.token(role, subject))
    assert refused.value.response.status_code == 403


async def test_a_forged_token_and_a_foreign_origin_are_refused(live: LiveServer) -> None:
    with pytest.raises(websockets.InvalidStatus) as forged:
        await watch(live.ws_url, ["ops"], live.token("ops", "-") + "x")
    assert forged.value.response.status_code == 403
    with pytest.raises(websockets.InvalidStatus) as foreign:
        await watch(live.ws_url, ["ops"], live.token("ops", "-"), origin="https://evil.example")
    assert foreign.value.response.status_code == 403
    own = await watch(live.ws_url, ["ops"], live.token("ops", "-"), origin=live.url)
    assert (await own.wait_for(lambda f: f["kind"] == "snapshot"))["topic"] == "ops"
    await own.close()


async def test_a_burst_of_orders_makes_at_most_one_frame_per_topic_per_tick(live: LiveServer) -> None:
    topics = ["room:room-1:board", "room:room-1:stock", "room:room-1:feed"]
    watcher = await watch(live.ws_url, topics, live.token("host", "room-1"))
    await watcher.wait_for(lambda f: f["topic"] == "room:room-1:feed")
    for warehouse in ("SH", "GZ", "BJ"):
        await live.http.put(f"/api/v1/skus/tea/stock/{warehouse}", json={"on_hand": 2000})
    ticks_before, started = live.hub.ticks, time.monotonic()

    async def buy(i: int) -> None:
        response = await live.http.post(
            "/api/v1/orders", json=order_body(f"burst-{i}", f"bv-{i}", [("tea", 1)])
        )
        assert response.status_code == 201

    for chunk in range(0, 1000, 100):
        await asyncio.gather(*(buy(i) for i in range(chunk, chunk + 100)))
    await watcher.wait_for(lambda f: f["topic"] == "room:room-1:feed" and "burst-999" in str(f["data"]))
    await asyncio.sleep(live.hub.tick * 3)
    ticks = live.hub.ticks - ticks_before + 1
    for topic in topics:
        live_frames = [
            f for f in watcher.of(topic)[1:] if watcher.arrivals[watcher.frames.index(f)] >= started
        ]
        assert len(live_frames) <= ticks, (topic, len(live_frames), ticks)
        # Orders through no leader change no row of the board: it is sent nothing; stock and feed move.
        assert (len(live_frames) > 0) == (topic != "room:room-1:board"), (topic, len(live_frames))
    feed_items = [item["order"] for f in watcher.of("room:room-1:feed")[1:] for item in f["data"]["items"]]
    assert sorted(o for o in feed_items if o.startswith("burst-")) == sorted(
        f"burst-{i}" for i in range(1000)
    )
    await watcher.close()


async def test_a_client_that_stops_reading_does_not_delay_another(live: LiveServer) -> None:
    token = live.token("ops", "-")
    stalled_socket = await _stalled_client(
        live, f"/ws?topic=ops&topic=room:room-1:feed&topic=room:room-1:stock&token={token}"
    )
    healthy = await watch(live.ws_url, ["room:room-1:feed"], token)
    await healthy.wait_for(lambda f: f["kind"] == "snapshot")
    stalled = next(s for subs in live.hub.subscribers.values() for s in subs if "ops" in s.topics)
    for warehouse in ("SH", "GZ", "BJ"):
        await live.http.put(f"/api/v1/skus/tea/stock/{warehouse}", json={"on_hand": 5000})
    delays = []
    for i in range(150):
        posted = time.monotonic()
        response = await live.http.post(
            "/api/v1/orders", json=order_body(f"slow-{i}", f"sv-{i}", [("tea", 1)])
        )
        assert response.status_code == 201
        await healthy.wait_for(lambda f, i=i: f"slow-{i}" in str(f["data"]), timeout=5)
        delays.append(time.monotonic() - posted)
    # The stalled client was sent frames it never read (they wait in its socket) ...
    assert _unread_bytes(stalled_socket) > 0 and stalled.offered > 0
    # ... while the healthy one saw every order promptly.
    assert max(delays) < 2.0
    stalled_socket.close()
    await healthy.close()


def _unread_bytes(sock: socket.socket) -> int:
    return int.from_bytes(fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"), "little")


async def _stalled_client(live: LiveServer, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte (tiny receive window)."""
    host, port = live.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    await asyncio.get_running_loop().sock_sendall(
        sock,
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    deadline = time.monotonic() + 5
    while not any("ops" in s.topics for subs in live.hub.subscribers.values() for s in subs):
        assert time.monotonic() < deadline, "the stalled client's handshake did not complete"
        await asyncio.sleep(0.01)
    return sock


async def test_a_reconnecting_client_gets_the_missed_feed_items_or_a_snapshot_never_a_gap(
    live: LiveServer,
) -> None:
    token = live.token("host", "room-1")
    first = await watch(live.ws_url, ["room:room-1:feed"], token)
    await _bound_order(live, "gap-0", "gv-0")
    last = await first.wait_for(lambda f: "gap-0" in str(f["data"]))
    seen_seq = last["seq"]
    await first.close()

    for i in range(1, 6):
        await _bound_order(live, f"gap-{i}", f"gv-{i}")
    resumed = await watch(live.ws_url, ["room:room-1:feed"], token, since=seen_seq)
    frame = await resumed.wait_for(lambda f: f["topic"] == "room:room-1:feed")
    assert frame["kind"] == "item"
    assert [item["order"] for item in frame["data"]["items"]] == [f"gap-{i}" for i in range(1, 6)]
    await resumed.close()

    stale = await watch(live.ws_url, ["room:room-1:feed"], token, since=0)
    frame = await stale.wait_for(lambda f: f["topic"] == "room:room-1:feed")
    covered = {item["order"] for item in frame["data"].get("items", [])}
    assert frame["kind"] == "snapshot" or {f"gap-{i}" for i in range(6)} <= covered
    await stale.close()
