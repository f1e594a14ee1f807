"""Privacy on the WebSocket (issue #10): expired and revoked tokens are refused at the handshake (403), an open
socket whose token is revoked is closed with 4401 — in every server process — and the Origin is compared whole."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from live import LiveServer, SeedClient, Watcher, live_server, serve_process, watch
from seed import API_KEY, SECRET, seed_catalog

from domain import tokens


@pytest.fixture
async def live(tmp_path: Path) -> Any:
    async with live_server(
        f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", allowed_origins=("https://screens.example",)
    ) as server:
        await seed_catalog(SeedClient(server.http))
        yield server


async def refused_status(ws_url: str, topics: list[str], token: str, origin: str | None = None) -> int:
    with pytest.raises(websockets.InvalidStatus) as refused:
        await watch(ws_url, topics, token, origin=origin)
    return int(refused.value.response.status_code)


async def closed_with(watcher: Watcher, timeout: float = 10.0) -> int | None:
    """Wait for the server to close the socket; its close code."""
    assert watcher.task is not None
    await asyncio.wait_for(asyncio.shield(watcher.task), timeout)
    return watcher.connection.close_code  # type: ignore[no-any-return]


async def revoke(http: httpx.AsyncClient, role: str, subject: str) -> dict[str, Any]:
    response = await http.post("/api/v1/admin/tokens/revoke", json={"role": role, "subject": subject})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_an_expired_token_is_refused_at_the_handshake(live: LiveServer) -> None:
    now = datetime.now(UTC)
    expired = tokens.mint(
        SECRET, "ops", "-", now=now - timedelta(days=31), expires=now - timedelta(seconds=1)
    )
    assert await refused_status(live.ws_url, ["ops"], expired) == 403
    fresh = await watch(live.ws_url, ["ops"], tokens.mint(SECRET, "ops", "-", ttl=timedelta(days=1)))
    await fresh.wait_for(lambda f: f["kind"] == "snapshot")
    await fresh.close()


async def test_after_a_revoke_the_handshake_is_403_and_an_open_socket_is_closed_with_4401(
    live: LiveServer,
) -> None:
    old = live.token("host", "room-1")
    other = live.token("leader", "lead-a")
    host = await watch(live.ws_url, ["room:room-1:stock"], old)
    leader = await watch(live.ws_url, ["leader:lead-a"], other)
    await host.wait_for(lambda f: f["kind"] == "snapshot")
    await leader.wait_for(lambda f: f["kind"] == "snapshot")
    await revoke(live.http, "host", "room-1")
    assert await refused_status(live.ws_url, ["room:room-1:stock"], old) == 403
    assert await closed_with(host) == 4401
    assert host.connection.close_reason == "token revoked"
    assert not leader.task.done()  # another subject's screen stays open
    # a token minted right after the call opens again
    again = await watch(live.ws_url, ["room:room-1:stock"], live.token("host", "room-1"))
    await again.wait_for(lambda f: f["kind"] == "snapshot")
    for watcher in (again, leader):
        await watcher.close()


async def test_an_https_origin_is_refused_by_an_http_server_on_the_same_host_and_port(
    live: LiveServer,
) -> None:
    token = live.token("ops", "-")
    https_twin = live.url.replace("http://", "https://")
    assert await refused_status(live.ws_url, ["ops"], token, origin=https_twin) == 403
    assert (
        await refused_status(live.ws_url, ["ops"], token, origin=live.url.replace("127.0.0.1", "localhost"))
        == 403
    )
    assert await refused_status(live.ws_url, ["ops"], token, origin="null") == 403
    for allowed in (live.url, "https://screens.example", "https://screens.example:443", None):
        own = await watch(live.ws_url, ["ops"], token, origin=allowed)
        await own.wait_for(lambda f: f["kind"] == "snapshot")
        await own.close()


async def test_a_revoke_on_one_process_stops_the_token_on_another_at_once_and_closes_its_socket(
    tmp_path: Path, redis_url: str
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = {"LIVEROOM_REDIS_URL": redis_url}
    with serve_process(database, env) as process_a, serve_process(database, env) as process_b:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx.AsyncClient(base_url=process_a, headers=headers, timeout=30) as a,
            httpx.AsyncClient(base_url=process_b, timeout=30) as b,
        ):
            await seed_catalog(SeedClient(a))
            ws_b = process_b.replace("http://", "ws://") + "/ws"
            old = tokens.mint(SECRET, "leader", "lead-a")
            screen = await watch(ws_b, ["leader:lead-a"], old)
            await screen.wait_for(lambda f: f["kind"] == "snapshot")
            commission = "/api/v1/leaders/lead-a/commission"
            assert (await b.get(commission, params={"token": old})).status_code == 200
            await revoke(a, "leader", "lead-a")
            # At once: no waiting for the event to travel to process B.
            assert (await b.get(commission, params={"token": old})).status_code == 401
            assert await refused_status(ws_b, ["leader:lead-a"], old) == 403
            assert await closed_with(screen) == 4401
            fresh = tokens.mint(SECRET, "leader", "lead-a")
            assert (await b.get(commission, params={"token": fresh})).status_code == 200
            again = await watch(ws_b, ["leader:lead-a"], fresh)
            await again.wait_for(lambda f: f["kind"] == "snapshot")
            await again.close()
