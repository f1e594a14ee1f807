"""Delay notices on the screens (issue 13): a notice ops posts appears on an open tracking page without a reload, on
the leader's order row as a badge, and in the ops exceptions feed; withdrawn, it leaves the page and the row."""

from __future__ import annotations

from typing import Any

from browser import PHONE, WALL, open_screen, screenshot
from live import LiveServer
from live import place_order as place
from playwright.async_api import expect

WAIT = 5_000  # ms: a frame is rendered within a hub tick; the page must show it well inside this


async def open_page(browser: Any, live: LiveServer, path: str, role: str, subject: str, *,
                    lang: str | None = None, viewport: dict[str, int] = PHONE) -> Any:
    page = await open_screen(browser, live, path, live.token(role, subject), viewport=viewport, lang=lang)
    await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    return page


async def same_document(page: Any) -> bool:
    return bool(await page.evaluate("window.__sameDocument === true"))


async def post_notice(live: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    response = await live.http.post("/api/v1/notices", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_notice_appears_on_an_open_tracking_page_without_a_reload_and_leaves_when_withdrawn(
    browser: Any, live: LiveServer
) -> None:
    await place(live, "o-rain", [("mango", 1)])  # a Guangzhou buyer
    page = await open_page(browser, live, "/track/o-rain", "order", "o-rain")
    en = await open_page(browser, live, "/track/o-rain", "order", "o-rain", lang="en")
    assert await page.locator(".tk-notice").count() == 0

    text = "受暴雨影响，广东地区包裹预计顺延 1-2 天送达，给您带来不便敬请谅解。"
    posted = await post_notice(live, {"text": text, "province": "广东省"})
    assert posted["orders"] == 1
    banner = page.locator(f".tk-history .tk-notice[data-notice='{posted['notice']}']")
    await expect(banner).to_be_visible(timeout=WAIT)
    assert "延误通知" in await banner.inner_text() and text in await banner.inner_text()
    await expect(en.locator(".tk-notice")).to_contain_text("Delay notice", timeout=WAIT)
    await page.wait_for_timeout(500)
    await screenshot(page, "track-notice")
    await screenshot(en, "track-notice-en")

    withdrawn = await live.http.delete(f"/api/v1/notices/{posted['notice']}")
    assert withdrawn.status_code == 200
    await expect(page.locator(".tk-notice")).to_have_count(0, timeout=WAIT)
    await expect(en.locator(".tk-notice")).to_have_count(0, timeout=WAIT)
    assert await same_document(page) and await same_document(en)


async def test_a_tracking_page_shows_only_the_notices_that_concern_its_order(
    browser: Any, live: LiveServer
) -> None:
    placed = await place(live, "o-gz", [("mango", 1)])
    carrier = placed["shipments"][0]["carrier"]
    page = await open_page(browser, live, "/track/o-gz", "order", "o-gz")
    await post_notice(live, {"text": "上海仓盘点，发货顺延", "warehouse": "SH"})
    other = "EMS" if carrier != "EMS" else "SF"
    await post_notice(live, {"text": "别家快递顺延", "room": "room-1", "carrier": other})
    mine = await post_notice(live, {"text": "本场广州仓顺延", "room": "room-1", "warehouse": "GZ", "carrier": carrier})
    await expect(page.locator(f".tk-notice[data-notice='{mine['notice']}']")).to_be_visible(timeout=WAIT)
    assert await page.locator(".tk-notice").count() == 1  # the two posted before it concern other parcels


async def test_the_leaders_phone_marks_orders_with_a_notice_and_ops_sees_it_in_the_feed(
    browser: Any, live: LiveServer
) -> None:
    await place(live, "o-a1", [("mango", 1)])
    await place(live, "o-a2", [("tea", 1)], buyer={"name": "李四", "phone": "13900139000", "province": "上海",
                                                   "city": "上海", "district": "浦东新区", "address": "世纪大道100号"})
    leader = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a")
    ops = await open_page(browser, live, "/ops", "ops", "-", viewport=WALL)
    text = "广东暴雨，顺延 1 天"
    posted = await post_notice(live, {"text": text, "province": "广东"})
    row = leader.locator("[data-order='o-a1']")
    badge = row.locator(".order-notice summary")
    await expect(badge).to_have_text("延误通知", timeout=WAIT)
    assert await leader.locator("[data-order='o-a2'] .order-notice").count() == 0
    await badge.click()
    await expect(row.locator(".order-notice-text")).to_have_text(text)
    await screenshot(leader, "leader-notice")
    item = ops.locator("#ops-exceptions .exc-notice_posted")
    await expect(item.locator(".exc-title")).to_have_text("已发布延误通知：广东暴雨，顺…（1 单）", timeout=WAIT)
    await expect(item.locator(".exc-detail")).to_contain_text(text)
    await screenshot(ops, "ops-notice")
    assert await ops.evaluate("document.documentElement.scrollHeight") <= 1080

    assert (await live.http.delete(f"/api/v1/notices/{posted['notice']}")).status_code == 200
    await expect(row.locator(".order-notice")).to_have_count(0, timeout=WAIT)
    await expect(ops.locator("#ops-exceptions .exc-notice_withdrawn .exc-title")).to_have_text(
        f"已撤回延误通知：{text}", timeout=WAIT)
    assert await same_document(leader) and await same_document(ops)
