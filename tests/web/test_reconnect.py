"""A killed and restarted server is reconnected to: the page says the link dropped, then, with a new server on the
same address and the same database, reconnects by itself and shows the truth again, without a reload."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from browser import PHONE, open_screen, screenshot
from live import SeedClient, live_server
from realparts import free_port
from seed import order_body, seed_catalog, share_code

from store.migrate import upgrade


async def test_a_killed_and_restarted_server_is_reconnected_to(browser: Any, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    upgrade(database_url)
    port = free_port()

    async with live_server(database_url, port) as first:
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

    async with live_server(database_url, port) as second:
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
