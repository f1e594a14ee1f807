"""The host screen flags a new product and raises its follow-up alert live when it sells faster than its first
batch planned (issue 13, tiered stocking): Chromium, no reload, Chinese by default and English on request.

room-1 has no past session and no leader history: every SKU is new. It expects 1000 visitors at 1%: 10 orders over
3 SKUs → a first batch of 4 units each, planned over 10 minutes: follow up above 0.4 units a minute.
"""

from __future__ import annotations

from typing import Any

from browser import WALL, open_page, same_document, screenshot
from live import LiveServer
from live import place_order as place
from seed import ROOM

WAIT = 5_000  # ms


def tile(page: Any, sku: str) -> Any:
    return page.locator(f'.tile[data-sku="{sku}"]')


async def test_a_new_products_tile_shows_reorder_now_once_it_sells_faster_than_its_first_batch_plan(
    browser: Any, live: LiveServer
) -> None:
    forecast = {"expected_audience": 1000, "conversion_bp": 100, "selling_minutes": 10}
    assert (await live.http.put("/api/v1/rooms/room-1", json={**ROOM, "forecast": forecast})).status_code == 200
    page = await open_page(browser, live, "/host/room-1", "host", "room-1", WALL)
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"serum\"]')?.dataset.tier === 'new'", timeout=WAIT)
    assert await tile(page, "serum").locator(".tier-new").inner_text() == "新品"
    assert await tile(page, "serum").locator(".banner-follow_up").count() == 0

    await place(live, "o-new-1", [("serum", 1)], leader=None)  # 0.2 units/min: under the plan
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"serum\"] .units')?.textContent === '4'", timeout=WAIT)
    assert await tile(page, "serum").get_attribute("data-follow-up") == "false"

    await place(live, "o-new-2", [("serum", 2)], leader=None)  # 0.6 units/min: above 0.4
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"serum\"]')?.dataset.followUp === 'true'", timeout=WAIT)
    banner = tile(page, "serum").locator(".banner-follow_up")
    assert (await banner.inner_text()).startswith("追加补货")
    assert await tile(page, "tea").locator(".banner-follow_up").count() == 0
    assert await same_document(page)
    await page.wait_for_timeout(1_300)
    await screenshot(page, "host-zh-follow-up")

    english = await open_page(browser, live, "/host/room-1", "host", "room-1", WALL, lang="en")
    await english.wait_for_function(
        "document.querySelector('.tile[data-sku=\"serum\"]')?.dataset.followUp === 'true'", timeout=WAIT)
    assert await tile(english, "serum").locator(".tier-new").inner_text() == "New"
    assert (await tile(english, "serum").locator(".banner-follow_up").inner_text()).startswith("REORDER NOW")
    await english.wait_for_timeout(1_300)
    await screenshot(english, "host-en-follow-up")
