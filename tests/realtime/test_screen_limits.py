"""What one screen, one token and one address may hold of the hub (README, "Security and limits"): a screen that
stops taking its frames on a busy topic is cut and forgotten; sockets beyond the per-token and per-address caps
and a socket that floods the server with messages are closed with 1008.

Real servers and real sockets: a raw-socket client that does the handshake and never reads a byte.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import pytest
import websockets
from live import LiveServer, SeedClient, live_server, place_order, watch
from seed import seed_catalog


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'screens.db'}"


async def _until(predicate: Any, what: str, within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {within} s: {what}")


async def _closed_with(connection: Any, within: float = 5.0) -> int | None:
    """The close code the server sent, reading (and dropping) whatever frames came before it."""
    with contextlib.suppress(websockets.ConnectionClosed):
        async with asyncio.timeout(within):
            for _ in range(10_000):
                await connection.recv()
    assert connection.close_code is not None, "still open"
    return int(connection.close_code)


def _screens(live: LiveServer, topic: str) -> int:
    return len(live.hub.subscribers.get(topic, ()))


async def _never_reading_client(live: LiveServer, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads a byte (a tiny receive window)."""
    host, port = live.url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, (host, int(port)))
    await loop.sock_sendall(
        sock,
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode(),
    )
    return sock


def _closed_by_server(sock: socket.socket) -> bool:
    """Read what is left in our receive buffer (bounded): True once the server has reset or closed it."""
    for _ in range(10_000):
        try:
            if not sock.recv(65536):
                return True
        except BlockingIOError:
            return False
        except ConnectionResetError:
            return True
    return False


async def test_a_screen_that_takes_no_frames_on_a_busy_topic_is_cut_and_forgotten(database: str) -> None:
    async with live_server(database, ws_stall_s=2.0) as live:
        await seed_catalog(SeedClient(live.http))
        for warehouse in ("SH", "GZ", "BJ"):
            await live.http.put(f"/api/v1/skus/tea/stock/{warehouse}", json={"on_hand": 50_000})
        token = live.token("host", "room-1")
        topics = ["room:room-1:stock", "room:room-1:feed"]
        healthy = await watch(live.ws_url, topics, token)
        await healthy.wait_for(lambda f: f["kind"] == "snapshot")
        # Whole views (JSON, with the ops view: the largest) ten times a second. A wall's HTML gets only what
        # changed, twice a second: it would take minutes of orders to fill the socket buffers; and at every beat
        # its 64 unsent feed frames would have it told to reconnect (1013) before the 2 s that cut it.
        live.hub.cadence_of = lambda role, fmt, topic: 0.1
        stalled = await _never_reading_client(
            live, f"/ws?topic={topics[0]}&topic={topics[1]}&topic=ops&format=json&token={live.token('ops', '-')}"
        )
        await _until(lambda: _screens(live, topics[1]) == 2, "the never-reading screen subscribed")
        # Orders keep both topics busy until the server gives up on the screen that takes nothing.
        for i in range(2_000):
            if _screens(live, topics[1]) < 2:
                break
            await place_order(live, f"busy-{i}", [("tea", 1)])
        assert _screens(live, topics[1]) == 1 and live.hub.cut == 1
        assert live.hub.waiting == set()  # its waiting send and mailbox went with it
        await _until(lambda: _closed_by_server(stalled), "the server closed the never-reading socket")
        await _until(
            lambda: live.gate.websockets == 1 and live.app.state.realtime.sockets.by_token == {token: 1},
            "the cut socket is counted out",
        )
        # The healthy screen still follows.
        await place_order(live, "after-the-cut", [("tea", 1)])
        await healthy.wait_for(lambda f: "after-the-cut" in str(f))
        stalled.close()
        await healthy.close()


async def test_the_twenty_first_socket_with_one_token_is_closed_with_1008(database: str) -> None:
    async with live_server(database) as live:
        token = live.token("ops", "-")
        screens = [await watch(live.ws_url, ["ops"], token) for _ in range(20)]
        extra = await websockets.connect(f"{live.ws_url}?topic=ops&token={token}")
        assert await _closed_with(extra) == 1008
        assert extra.close_reason == "too many connections with this token"
        assert _screens(live, "ops") == 20
        await screens.pop().close()  # one leaves: its place is free again
        await _until(
            lambda: live.app.state.realtime.sockets.by_token[token] == 19, "the closed socket counted out"
        )
        again = await watch(live.ws_url, ["ops"], token)
        await again.wait_for(lambda f: f["kind"] == "snapshot")
        for screen in [*screens, again]:
            await screen.close()
        await _until(lambda: live.app.state.realtime.sockets.by_token == {}, "every socket counted out")


async def test_sockets_beyond_the_per_address_cap_are_closed_with_1008_whatever_their_tokens(
    database: str,
) -> None:
    async with live_server(database, ws_per_address=3) as live:
        tokens = [live.token("ops", "-"), live.token("host", "room-1"), live.token("host", "room-2")]
        screens = [
            await watch(live.ws_url, ["ops" if t == tokens[0] else f"room:{r}:stock"], t)
            for t, r in zip(tokens, ("-", "room-1", "room-2"), strict=True)
        ]
        extra = await websockets.connect(
            f"{live.ws_url}?topic=room:room-3:stock&token={live.token('host', 'room-3')}"
        )
        assert await _closed_with(extra) == 1008
        assert extra.close_reason == "too many connections from this address"
        for screen in screens:
            await screen.close()


async def test_a_socket_that_floods_the_server_with_messages_is_closed_with_1008(database: str) -> None:
    async with live_server(database) as live:
        token = live.token("ops", "-")
        connection = await websockets.connect(f"{live.ws_url}?topic=ops&token={token}")
        for _ in range(50):  # protocol-level pings are not messages: they never count
            await (await connection.ping())
        for i in range(20):  # within the budget of 20 per 10 s
            await connection.send(f"hello {i}")
        await asyncio.sleep(0.2)
        assert _screens(live, "ops") == 1
        with contextlib.suppress(websockets.ConnectionClosed):
            for i in range(1_000):
                await connection.send(f"flood {i}")
        assert await _closed_with(connection) == 1008
        assert connection.close_reason == "screens send no messages"
        await _until(lambda: _screens(live, "ops") == 0, "the flooding screen left the hub")
        await _until(
            lambda: live.app.state.realtime.sockets.by_token == {}, "the flooding socket counted out"
        )
