"""The post-live review page /review/{room} (issue 13): opens in Chromium with the ops token, in Chinese by default
and in English, shows every section with its numbers, draws its charts (uPlot), and its exports download."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from live import LiveServer
from playwright.async_api import expect
from seed import GUANGZHOU_BUYER, order_body, share_code

# In the order a promo team asks: fulfilment, carriers, stocking, exceptions, after-sales, distribution fit (under
# the headline strip).
SECTIONS = ("rv-fulfilment", "rv-carriers", "rv-stock", "rv-exceptions", "rv-after-sales", "rv-skus")
HEADINGS = {
    "zh-CN": ["履约", "快递评分卡", "备货准确度", "异常", "售后", "分销适配度"],
    "en": [
        "Fulfilment",
        "Carrier scorecard",
        "Stocking accuracy",
        "Exceptions",
        "After-sales",
        "Distribution fit",
    ],
}
HEADLINE = {
    "zh-CN": ["订单", "GMV", "准时发货率", "退款率", "超卖件数", "异常"],
    "en": ["Orders", "GMV", "On-time rate", "Refund rate", "Oversold units", "Exceptions"],
}


async def small_night(live: LiveServer) -> None:
    """Two orders through a share code, one collected and signed, one refunded, a held order fixed."""
    http = live.http
    code = await share_code(http_client(live), "lead-b")
    for order, phone, items in (
        ("r1", "13800138001", [("tea", 2)]),
        ("r2", "13800138002", [("mango", 1)]),
        ("r3", "12345", [("tea", 1)]),
    ):
        body = order_body(order, f"v-{order}", items, code=code, buyer={**GUANGZHOU_BUYER, "phone": phone})
        assert (await http.post("/api/v1/orders", json=body)).status_code == 201
    assert (await http.post("/api/v1/orders/r3/verify", json={"phone": "13800138003"})).status_code == 200
    parcel = (await http.get("/api/v1/orders/r1")).json()["shipments"][0]
    now = datetime.now(UTC).isoformat()
    for state in ("collected", "signed"):
        pushed = await http.post(
            "/api/v1/tracking",
            json={"carrier": parcel["carrier"], "waybill": parcel["waybill"], "state": state, "at": now},
        )
        assert pushed.status_code == 200, pushed.text
    opened = await http.post(
        "/api/v1/orders/r2/after-sales", json={"kind": "refund", "amount_cents": 5_990, "reason": "坏果"}
    )
    assert (
        await http.post(f"/api/v1/after-sales/{opened.json()['after_sale']}/resolve", json={"approved": True})
    ).status_code == 200


def http_client(live: LiveServer) -> Any:
    class Client:
        async def post(self, path: str, body: dict[str, Any]) -> Any:
            return await live.http.post(path, json=body)

    return Client()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_review_page_shows_every_section_with_charts_and_exports(
    browser: Any, live: LiveServer, lang: str, tmp_path: Any
) -> None:
    await small_night(live)
    context = await browser.new_context(
        viewport={"width": 1440, "height": 900}, locale=lang, accept_downloads=True
    )
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    query = "?lang=en&token=" if lang == "en" else "?token="
    response = await page.goto(f"{live.url}/review/room-1{query}{live.token('ops', '-')}")
    assert response is not None and response.status == 200
    assert "token=" not in page.url  # the token moved into the page's cookie
    assert "双十二预热专场" in await page.title()  # the room's title, not its id
    sections = await page.locator("main > section").evaluate_all("nodes => nodes.map(n => n.id)")
    assert sections == ["rv-headline", *SECTIONS]
    headings = [await page.locator(f"#{s} h2").inner_text() for s in SECTIONS]
    assert [h.replace("CSV", "").strip() for h in headings] == HEADINGS[lang]
    tiles = await page.locator("#rv-headline > div > span").all_inner_texts()
    assert tiles == HEADLINE[lang]
    assert "¥" in await page.locator("#rv-headline").inner_text()  # GMV as money
    await expect(page.locator("body")).to_have_attribute("data-charts", "drawn", timeout=10_000)
    for chart in ("stages", "scores", "stock"):
        assert await page.locator(f"#rv-chart-{chart} canvas").count() == 1, chart
    carriers = await page.locator("#rv-carriers tbody tr").all_inner_texts()
    sf = "顺丰速运" if lang == "zh-CN" else "SF Express"
    assert any(sf in row and "SF" in row for row in carriers)  # the carrier's name, its code beside it
    tea = page.locator("#rv-stock details.rv-sku", has_text="明前龙井 250g")  # one row per SKU, by name
    assert await tea.count() == 1
    assert not await tea.locator(".rv-sub").first.is_visible()
    await tea.locator("summary").click()  # opens to its warehouses, by name
    warehouses = " ".join(await tea.locator(".rv-sub").all_inner_texts())
    assert "上海仓" in warehouses and "广州仓" in warehouses
    assert "坏果" in await page.locator("#rv-after-sales").inner_text()
    assert "r3" in await page.locator("#rv-exceptions").inner_text()  # the held order and its time to fix
    assert errors == []
    await page.screenshot(path=str(tmp_path / f"review-{lang}.png"), full_page=True)

    async with page.expect_download() as download_info:
        await page.locator("#rv-xlsx").click()
    download = await download_info.value
    saved = tmp_path / "review.xlsx"
    await download.save_as(saved)
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(saved)
    assert book.sheetnames == ["stock", "fulfilment", "exceptions", "after_sales", "carriers", "skus"]
    csv_link = page.locator("#rv-carriers a.rv-export")
    async with page.expect_download() as csv_info:
        await csv_link.click()
    text = (await (await csv_info.value).path()).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("rank,carrier,score")
    await context.close()


async def test_review_page_refuses_a_host_token(browser: Any, live: LiveServer) -> None:
    page = await browser.new_page()
    response = await page.goto(f"{live.url}/review/room-1?token={live.token('host', 'room-1')}")
    assert response is not None and response.status == 403
    assert "备货准确度" not in await page.locator("body").inner_text()
    await page.close()
