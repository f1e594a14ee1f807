"""The buyer's tracking page /track/{order}: opened from a private link on a phone, it follows the parcel live."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from browser import PHONE, SCREENSHOTS, open_screen, screenshot
from live import LiveServer
from live import place_order as place

WAIT = 5_000  # ms: a frame is rendered within a hub tick; the page must show it well inside this


async def track(live: LiveServer, parcel: dict[str, Any], state: str, station: str, at: datetime) -> None:
    response = await live.http.post(
        "/api/v1/tracking",
        json={
            "carrier": parcel["carrier"],
            "waybill": parcel["waybill"],
            "state": state,
            "at": at.isoformat(),
            "station": station,
        },
    )
    assert response.status_code == 200, response.text


async def open_track(browser: Any, live: LiveServer, order: str, lang: str | None = None) -> Any:
    page = await open_screen(
        browser, live, f"/track/{order}", live.token("order", order), viewport=PHONE, lang=lang
    )
    await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    return page


async def timeline(page: Any) -> list[str]:
    return [" ".join(text.split()) for text in await page.locator(".tk-event").all_inner_texts()]


async def still(page: Any, name: str, *, full: bool = False) -> None:
    """A screenshot once the newest line has finished sliding in; `full` keeps the whole scrolled page too."""
    await page.wait_for_timeout(1_000)
    await screenshot(page, name)
    if full:
        await page.screenshot(path=str(SCREENSHOTS / f"{name}-full.png"), full_page=True)


async def wait_for_events(page: Any, count: int) -> None:
    """`count` parcel events plus the "order placed" line at the bottom."""
    await page.wait_for_function(
        f"document.querySelectorAll('.tk-event').length === {count + 1}", timeout=WAIT
    )


async def test_timeline_grows_newest_first_as_the_carrier_reports_without_a_reload(
    browser: Any, live: LiveServer
) -> None:
    placed = await place(live, "o-track", [("tea", 2), ("mango", 1)])
    parcel = placed["shipments"][0]
    page = await open_track(browser, live, "o-track")
    en = await open_track(browser, live, "o-track", lang="en")
    assert (await page.locator(".tk-hero-title").inner_text()) == "待发货"
    lines = await timeline(page)
    assert len(lines) == 1 and "订单已提交" in lines[0]
    assert "顺丰速运" in await page.locator(".tk-parcel").first.inner_text()
    assert parcel["waybill"] in await page.locator(".tk-parcel").first.inner_text()

    # Reported as they happen: every event lies between the order's placing and now (API.md, "Carriers").
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    await track(live, parcel, "collected", "【广州市】顺丰速运 已收取快件", start)
    await wait_for_events(page, 1)
    assert "已揽收" in await page.locator(".tk-hero-title").inner_text()
    # the new line slides in; the old ones stay put
    assert await page.locator(".tk-latest.arrive").count() == 1
    assert await page.locator(".tk-origin.arrive").count() == 0

    await track(
        live, parcel, "in_transit", "【广州市】快件已到达 广州白云集散中心", start + timedelta(minutes=1)
    )
    await track(
        live,
        parcel,
        "out_for_delivery",
        "【广州市】天河区派件员 陈师傅 正在为您派件",
        start + timedelta(minutes=2),
    )
    await wait_for_events(page, 3)
    lines = await timeline(page)
    assert "派送中" in lines[0] and "陈师傅" in lines[0]
    assert "运输中" in lines[1] and "白云集散中心" in lines[1]
    assert "已揽收" in lines[2] and "已收取快件" in lines[2]
    assert "订单已提交" in lines[3]
    assert await page.locator(".tk-hero-title").inner_text() == "派送中"
    assert await page.locator(".tk-steps li.now").inner_text() == "派送中"
    assert (
        await page.locator(".tk-latest .tk-event-text").inner_text()
        == "【广州市】天河区派件员 陈师傅 正在为您派件"
    )

    await wait_for_events(en, 3)
    assert await en.locator(".tk-hero-title").inner_text() == "Out for delivery"
    assert "SF Express" in await en.locator(".tk-parcel").first.inner_text()
    assert "In transit" in (await timeline(en))[1]
    await still(page, "track-zh", full=True)
    await still(en, "track-en", full=True)

    await track(live, parcel, "signed", "【广州市】已签收，签收人：本人", start + timedelta(minutes=3))
    await page.wait_for_function("document.querySelector('.tk').dataset.hero === 'signed'", timeout=WAIT)
    assert await page.locator(".tk-hero-title").inner_text() == "已签收"
    assert "已签收" in (await timeline(page))[0]
    await still(page, "track-signed-zh")
    assert await page.evaluate("window.__sameDocument") is True
    assert await en.evaluate("window.__sameDocument") is True


async def test_a_trace_line_that_keeps_the_state_still_appears(browser: Any, live: LiveServer) -> None:
    placed = await place(live, "o-hops", [("tea", 1)])
    parcel = placed["shipments"][0]
    page = await open_track(browser, live, "o-hops")
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=4)
    await track(live, parcel, "in_transit", "【广州市】快件已发出", start)
    await wait_for_events(page, 1)
    await track(live, parcel, "in_transit", "【长沙市】快件已到达 长沙转运中心", start + timedelta(minutes=3))
    await wait_for_events(page, 2)
    assert "长沙转运中心" in (await timeline(page))[0]


async def test_leader_line_names_the_leader_who_follows_the_order(browser: Any, live: LiveServer) -> None:
    await place(live, "o-lead", [("tea", 1)], leader="lead-a")
    page = await open_track(browser, live, "o-lead")
    assert await page.locator(".tk-leader-line").inner_text() == "团长 王团长 为您专属跟进"
    en = await open_track(browser, live, "o-lead", lang="en")
    assert (
        await en.locator(".tk-leader-line").inner_text() == "Group leader 王团长 is looking after your order"
    )


async def test_order_without_a_leader_shows_no_leader_line(browser: Any, live: LiveServer) -> None:
    await place(live, "o-alone", [("tea", 1)], leader=None)
    page = await open_track(browser, live, "o-alone")
    assert await page.locator(".tk-leader").count() == 0
    assert await page.locator(".tk-pickup").count() == 0


async def test_pickup_order_shows_the_pickup_point(browser: Any, live: LiveServer) -> None:
    await place(live, "o-pickup", [("tea", 1)], leader="lead-c", delivery="pickup")
    page = await open_track(browser, live, "o-pickup")
    pickup = " ".join((await page.locator(".tk-pickup").inner_text()).split())
    assert "自提点" in pickup and "朝阳里驿站" in pickup and "朝阳区 朝阳里小区3号楼底商" in pickup
    assert await page.locator(".tk-leader-line").inner_text() == "团长 陈主理人 为您专属跟进"
    assert "到店自提" in await page.locator(".tk-facts").inner_text()
    await still(page, "track-pickup-zh", full=True)
    en = await open_track(browser, live, "o-pickup", lang="en")
    assert "Collect at" in await en.locator(".tk-pickup").inner_text()
    await still(en, "track-pickup-en")


async def test_held_order_ships_on_the_page_once_the_leader_fixes_the_address(
    browser: Any, live: LiveServer
) -> None:
    buyer = {
        "name": "李四",
        "phone": "123",
        "province": "广东",
        "city": "广州",
        "district": "天河区",
        "address": "x",
    }
    placed = await place(live, "o-held", [("tea", 1)], buyer=buyer)
    assert placed["status"] == "held"
    page = await open_track(browser, live, "o-held")
    assert await page.locator(".tk-hero-title").inner_text() == "收货信息核实中"
    assert "王团长" in await page.locator(".tk-hero-line").inner_text()
    assert "发货后生成" in await page.locator(".tk-waybill").inner_text()
    await still(page, "track-held-zh")
    fixed = await live.http.post(
        "/api/v1/orders/o-held/verify", json={"phone": "13800138000", "address": "天河路385号太古汇1座"}
    )
    assert fixed.status_code == 200, fixed.text
    await page.wait_for_function("document.querySelector('.tk').dataset.hero === 'created'", timeout=WAIT)
    assert await page.locator(".tk-hero-title").inner_text() == "待发货"
    assert "发货后生成" not in await page.locator(".tk-waybill").inner_text()


async def test_presale_lines_wait_for_stock_in_plain_words(browser: Any, live: LiveServer) -> None:
    await place(live, "o-presale", [("serum", 7)])
    page = await open_track(browser, live, "o-presale")
    assert await page.locator(".tk-hero-title").inner_text() == "预售中 · 到货即发"
    assert "修护精华 30ml ×7" in await page.locator(".tk-waiting").inner_text()
    await still(page, "track-presale-zh")


async def test_split_order_follows_each_parcel_and_counts_the_delivered_ones(
    browser: Any, live: LiveServer
) -> None:
    placed = await place(live, "o-split", [("serum", 1), ("mango", 2)])  # serum only in SH, mango only in GZ
    parcels = {parcel["warehouse"]: parcel for parcel in placed["shipments"]}
    assert set(parcels) == {"SH", "GZ"}
    number = {parcel["warehouse"]: n for n, parcel in enumerate(placed["shipments"], start=1)}
    page = await open_track(browser, live, "o-split")
    assert await page.locator(".tk-parcel").count() == 2
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    await track(live, parcels["GZ"], "signed", "【广州市】已签收，签收人：本人", start)
    await track(live, parcels["SH"], "in_transit", "【上海市】快件已发往 广州", start + timedelta(minutes=5))
    await wait_for_events(page, 2)
    assert await page.locator(".tk-hero-count").inner_text() == "共 2 个包裹，已签收 1 个"
    assert await page.locator(".tk-hero-title").inner_text() == "运输中"
    lines = await timeline(page)
    assert f"包裹{number['SH']}" in lines[0] and f"包裹{number['GZ']}" in lines[1]
    await still(page, "track-split-zh", full=True)
    en = await open_track(browser, live, "o-split", lang="en")
    assert await en.locator(".tk-hero-count").inner_text() == "1 of 2 parcels delivered"
    await still(en, "track-split-en")


REFUSAL = "链接无效"


@pytest.mark.parametrize("who", ["no token", "a wrong token", "another order's token", "a leader's token"])
async def test_page_without_its_own_token_shows_only_the_plain_refusal(
    browser: Any, live: LiveServer, who: str
) -> None:
    await place(live, "o-mine", [("tea", 1)])
    await place(live, "o-theirs", [("mango", 1)], leader="lead-b")
    token = {
        "no token": None,
        "a wrong token": "order.bogus.not-a-signature",
        "another order's token": live.token("order", "o-theirs"),
        "a leader's token": live.token("leader", "lead-a"),
    }[who]
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    response = await page.goto(live.url + "/track/o-mine" + (f"?token={token}" if token else ""))
    assert response is not None and response.status == 403
    await page.wait_for_timeout(300)
    assert await page.locator("h1").inner_text() == REFUSAL
    text = await page.locator("body").inner_text()
    for private in ("o-mine", "o-theirs", "王团长", "李店长", "明前龙井", "贵妃芒", "SF", "¥"):
        assert private not in text
    assert await page.locator("#conn, .tk, [ws-connect]").count() == 0
    assert sockets == []
    await context.close()


# --- the shipping promise ----------------------------------------------------------------------------------------


async def test_the_tracking_page_shows_when_the_order_ships_by(browser: Any, live: LiveServer) -> None:
    from seed import ROOM

    from domain import promise
    from domain.china_time import china_time

    rule = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"}]
    room = await live.http.put("/api/v1/rooms/room-1", json={**ROOM, "ship_promise": rule})
    assert room.status_code == 200, room.text
    placed = await place(live, "o-promise", [("tea", 1)])
    ship_by = datetime.fromisoformat(placed["ship_by"])
    paid = datetime.fromisoformat((await live.http.get("/api/v1/orders/o-promise")).json()["placed_at"])
    assert ship_by == promise.ship_by(promise.parse(rule), paid)
    local = china_time(ship_by)
    page = await open_track(browser, live, "o-promise")
    assert await page.locator(".tk-promise").inner_text() == f"预计 {local.month}月{local.day}日 18:00 前发货"
    en = await open_track(browser, live, "o-promise", lang="en")
    assert await en.locator(".tk-promise").inner_text() == f"Ships by {local.month}/{local.day} 18:00"
    await still(page, "track-promise")

    # Collected: the promise is kept, the line goes (the hero says where the parcel is now).
    await track(live, placed["shipments"][0], "collected", "【广州市】顺丰速运 已收取快件",
                datetime.now(UTC).replace(microsecond=0))
    await wait_for_events(page, 1)
    assert await page.locator(".tk-promise").count() == 0
    assert await page.evaluate("window.__sameDocument") is True
