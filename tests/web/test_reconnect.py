"""A killed and restarted server is reconnected to: the page says the link dropped, then, with a new server on the
same address and the same database, reconnects by itself and shows the truth again, without a reload."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from browser import PHONE, open_screen, screenshot
from live import LiveServer, SeedClient, live_settings
from realparts import free_port
from seed import API_KEY, order_body, seed_catalog, share_code

from server.app import create_app
from server.clock import system_clock
from server.db.migrate import upgrade


@contextlib.asynccontextmanager
async def server_on(database_url: str, port: int) -> AsyncIterator[LiveServer]:
    """The real app under uvicorn on a port chosen by the test (live.live_server picks a new one each time)."""
    app = create_app(live_settings(database_url, port), clock=system_clock, run_scheduler=False)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        ws_per_message_deflate=False,
        ws_max_size=64 * 1024,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as http:
        try:
            yield LiveServer(url, app, http)
        finally:
            server.should_exit = True
            await task


async def test_a_killed_and_restarted_server_is_reconnected_to(browser: Any, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    upgrade(database_url)
    port = free_port()

    async with server_on(database_url, port) as first:
        await seed_catalog(SeedClient(first.http))
        code = await share_code(SeedClient(first.http), "lead-a")
        placed = await first.http.post(
            "/api/v1/orders", json=order_body("o-restart", "v-restart", [("tea", 1)], code=code)
        )
        assert placed.status_code == 201, placed.text
        parcel = placed.json()["shipments"][0]
        page = await open_screen(
            browser, first, "/track/o-restart", first.token("order", "o-restart"), viewport=PHONE
        )
        await page.evaluate("window.__sameDocument = true")
        assert await page.locator(".tk-hero-title").inner_text() == "待发货"

    # The server is gone: the page says so, and keeps what it last knew on screen.
    await page.wait_for_selector("#conn.conn-lost", timeout=5_000)
    assert await page.locator("#conn").inner_text() == "重新连接中…"
    assert await page.locator(".tk-hero-title").inner_text() == "待发货"
    await screenshot(page, "track-reconnecting-zh")

    async with server_on(database_url, port) as second:
        tracked = await second.http.post(
            "/api/v1/tracking",
            json={
                "carrier": parcel["carrier"],
                "waybill": parcel["waybill"],
                "state": "collected",
                "at": datetime.now(UTC).isoformat(),
                "station": "【广州市】顺丰速运 已收取快件",
            },
        )
        assert tracked.status_code == 200, tracked.text
        await page.wait_for_selector("#conn.conn-live", timeout=15_000)
        await page.wait_for_function(
            "document.querySelector('.tk').dataset.hero === 'collected'", timeout=5_000
        )
        assert await page.locator("#conn").inner_text() == "实时"
        assert "已收取快件" in await page.locator(".tk-latest").inner_text()
        assert await page.evaluate("window.__sameDocument") is True
        await page.context.close()
