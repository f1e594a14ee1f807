"""The ops war room (/ops) in a real Chromium: what operations sees change on the wall without a reload."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from browser import WALL, open_screen, screenshot
from live import LiveServer, SeedClient, live_server
from seed import GUANGZHOU_BUYER, ROOM, order_body, seed_catalog, share_code

SHANGHAI_BUYER = {
    "name": "王五",
    "phone": "13900139000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "address": "世纪大道100号环球金融中心",
}
BEIJING_BUYER = {
    "name": "赵六",
    "phone": "13700137000",
    "province": "北京",
    "city": "北京",
    "district": "朝阳区",
    "address": "建国路88号SOHO现代城",
}
BUYERS = [  # tier-1 cities go next-day (SF); elsewhere the express carriers share; the far west goes by post
    GUANGZHOU_BUYER,
    SHANGHAI_BUYER,
    BEIJING_BUYER,
    {
        "name": "孙七",
        "phone": "13600136000",
        "province": "浙江",
        "city": "杭州",
        "district": "西湖区",
        "address": "文三路90号东部软件园",
    },
    {
        "name": "周八",
        "phone": "13500135000",
        "province": "四川",
        "city": "成都",
        "district": "武侯区",
        "address": "人民南路四段12号",
    },
    {
        "name": "吴九",
        "phone": "13300133000",
        "province": "湖北",
        "city": "武汉",
        "district": "洪山区",
        "address": "珞喻路1037号",
    },
    {
        "name": "郑十",
        "phone": "13200132000",
        "province": "湖南",
        "city": "长沙",
        "district": "岳麓区",
        "address": "麓山南路932号",
    },
    {
        "name": "冯一",
        "phone": "13100131000",
        "province": "新疆",
        "city": "乌鲁木齐",
        "district": "天山区",
        "address": "解放北路88号",
    },
]
BAD_PHONE_BUYER = {**GUANGZHOU_BUYER, "name": "李四", "phone": "123"}
# What must never be cut off on the wall (a line of detail in the feed may end in an ellipsis).
CLIP_CHECKED = (
    ".kpi-value, .kpi-label, .kpi-sub, .exc-title, .stage-name, .stage-count, .wh-table td, "
    ".carrier-table td, .panel h2, .funnel-foot, .gremind"
)
SEE = 5_000  # ms: what a person watching the wall would call "at once"


def now_iso(minutes_ago: float = 0) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat()


async def ops_page(browser: Any, live: LiveServer, lang: str | None = None) -> Any:
    return await open_screen(browser, live, "/ops", live.token("ops", "-"), viewport=WALL, lang=lang)


async def place(live: LiveServer, order: str, items: list[tuple[str, int]], **kwargs: Any) -> dict[str, Any]:
    response = await live.http.post("/api/v1/orders", json=order_body(order, f"v-{order}", items, **kwargs))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def track(
    live: LiveServer, shipment: dict[str, Any], state: str, station: str = "", at: str | None = None
) -> None:
    response = await live.http.post(
        "/api/v1/tracking",
        json={
            "carrier": shipment["carrier"],
            "waybill": shipment["waybill"],
            "state": state,
            "at": at or now_iso(),
            "station": station,
        },
    )
    assert response.status_code == 200, response.text


async def text(page: Any, selector: str) -> str:
    return str(await page.locator(selector).first.inner_text()).strip()


async def wait_text(page: Any, selector: str, expected: str) -> None:
    await page.wait_for_function(
        "([sel, want]) => { const el = document.querySelector(sel); return el && el.textContent.trim() === want; }",
        arg=[selector, expected],
        timeout=SEE,
    )


async def test_an_order_moves_orders_per_minute_and_gmv_in_place(browser: Any, live: LiveServer) -> None:
    page = await ops_page(browser, live)
    assert await text(page, "#kpi-hour-orders") == "0"
    assert await text(page, "#kpi-gmv") == "¥0"
    # The chart is drawn once; frames feed it. Mark its canvas to prove it is never re-created.
    await page.evaluate("document.querySelector('#ops-chart canvas').dataset.mark = 'first'")

    code = await share_code(SeedClient(live.http), "lead-a")
    await place(live, "ops-o1", [("tea", 2)], code=code)  # ¥256.00

    await wait_text(page, "#kpi-hour-orders", "1")
    await wait_text(page, "#kpi-gmv", "¥256")
    orders, gmv = await page.evaluate(
        "() => { const d = window.liveroomOps.chartData(); return [d[1].reduce((a, b) => a + b, 0),"
        " d[2].reduce((a, b) => a + b, 0)]; }"
    )
    assert (orders, gmv) == (1, 25_600)
    assert await page.evaluate("document.querySelector('#ops-chart canvas').dataset.mark") == "first"
    assert await page.locator("#ops-chart canvas").count() == 1

    await place(live, "ops-o2", [("mango", 1)], code=code)  # ¥59.90
    await wait_text(page, "#kpi-hour-orders", "2")
    await wait_text(page, "#kpi-gmv", "¥315")
    assert await page.evaluate("document.querySelector('#ops-chart canvas').dataset.mark") == "first"
    assert int(await text(page, "#kpi-minute-orders")) in (1, 2)  # 1 only if a minute turned between the two


async def test_a_tracking_push_moves_the_parcel_funnel(browser: Any, live: LiveServer) -> None:
    answer = await place(live, "ops-t1", [("mango", 1)])
    page = await ops_page(browser, live)
    shipment = answer["shipments"][0]
    row = f"tr[data-warehouse='{shipment['warehouse']}']"
    assert await text(page, "[data-stage='created']") == "1"
    assert await text(page, "[data-stage='in_transit'] .stage-count") == "0"
    assert await text(page, f"{row} .wh-backlog") == "1"

    await track(live, shipment, "in_transit", "广州转运中心")

    await wait_text(page, "[data-stage='in_transit'] .stage-count", "1")
    assert await text(page, "[data-stage='created']") == "0"
    assert await text(page, f"{row} .wh-backlog") == "0"  # it left the warehouse

    await track(live, shipment, "signed", "天河区菜鸟驿站")
    await wait_text(page, "[data-stage='signed'] .stage-count", "1")
    assert await text(page, "[data-stage='in_transit'] .stage-count") == "0"


async def test_a_held_order_appears_in_the_exceptions_feed(browser: Any, live: LiveServer) -> None:
    page = await ops_page(browser, live)
    assert await page.locator("#ops-exceptions [data-kind]").count() == 0

    answer = await place(
        live,
        "ops-held-1",
        [("tea", 1)],
        buyer=BAD_PHONE_BUYER,
        code=await share_code(SeedClient(live.http), "lead-a"),
    )
    assert answer["status"] == "held"

    item = page.locator("#ops-exceptions [data-kind='order_held']", has_text="ops-held-1")
    await item.wait_for(timeout=SEE)
    assert "手机号无效" in await item.inner_text()
    assert await page.locator("#ops-exceptions .arrive").count() == 1  # it flashes in as new


async def test_a_problem_parcel_counts_against_its_carrier_and_enters_the_feed(
    browser: Any, live: LiveServer
) -> None:
    answer = await place(live, "ops-p1", [("tea", 1)])
    shipment = answer["shipments"][0]
    page = await ops_page(browser, live)

    await track(live, shipment, "problem", "广州转运中心 地址不详")

    item = page.locator("#ops-exceptions [data-kind='parcel_problem']", has_text=shipment["waybill"])
    await item.wait_for(timeout=SEE)
    await wait_text(page, "#kpi-exceptions", "1")
    carrier = page.locator(f"tr[data-carrier='{shipment['carrier']}'] td.bad")
    assert await carrier.locator(".exc-n").inner_text() == "1"
    assert await carrier.locator(".exc-rate").inner_text() == "100.0%"  # its one parcel: the live exception rate


async def test_marking_a_warehouse_down_from_the_page_shows_it_down_and_an_outage(
    browser: Any, live: LiveServer
) -> None:
    page = await ops_page(browser, live)
    row = page.locator("tr[data-warehouse='GZ']")
    assert await row.locator(".pill").inner_text() == "运行中"

    await row.get_by_role("button", name="标记停用").click()
    # The button asks once more; the second click within seconds sends it.
    await row.get_by_role("button", name="确认停用广州仓？").click()

    await page.locator("tr.wh-down[data-warehouse='GZ']").wait_for(timeout=SEE)
    assert await row.locator(".pill").inner_text() == "已停用"
    outage = page.locator("#ops-exceptions [data-kind='warehouse_down']", has_text="广州仓")
    await outage.wait_for(timeout=SEE)
    assert "待发货" in await text(page, ".kpi-alert")  # the backlog tile turns red while a warehouse is down
    warehouses = (await live.http.get("/api/v1/skus/mango/stock")).json()["warehouses"]
    assert any(w["warehouse"] == "GZ" for w in warehouses)

    await row.get_by_role("button", name="恢复运行").click()  # bringing one back needs no second click
    await page.locator("#ops-exceptions [data-kind='warehouse_up']", has_text="广州仓").wait_for(timeout=SEE)
    await page.locator("tr.wh:not(.wh-down)[data-warehouse='GZ']").wait_for(timeout=SEE)


async def test_one_click_alone_never_takes_a_warehouse_down(browser: Any, live: LiveServer) -> None:
    page = await ops_page(browser, live, lang="en")
    row = page.locator("tr[data-warehouse='SH']")
    await row.get_by_role("button", name="Mark down").click()
    await row.get_by_role("button", name="Confirm: 上海仓 down?").wait_for(timeout=SEE)
    await asyncio.sleep(0.6)
    assert await row.locator(".pill").inner_text() == "Running"
    assert await page.locator("#ops-exceptions [data-kind='warehouse_down']").count() == 0
    # Unconfirmed, the button goes back to what it was.
    await row.get_by_role("button", name="Mark down").wait_for(timeout=8_000)


async def test_a_minute_with_no_orders_slides_the_hour_on(browser: Any, tmp_path: Path) -> None:
    ahead = [timedelta(0)]
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'clock.db'}",
                           clock=lambda: datetime.now(UTC) + ahead[0]) as live:
        await seed_catalog(SeedClient(live.http))
        await place(live, "ops-s1", [("tea", 1)])
        page = await ops_page(browser, live)
        await wait_text(page, "#kpi-minute-orders", "1")
        # Two minutes pass with no order: the wall, redrawn by the server as time passes, shows this minute as 0.
        ahead[0] = timedelta(minutes=2)
        await wait_text(page, "#kpi-minute-orders", "0")
        assert await text(page, "#kpi-hour-orders") == "1"  # still inside the last hour
        # The chart's hour moved on too: its last bar is the server's current minute (or the one before, if the
        # minute turned just now).
        minutes = await page.evaluate("() => window.liveroomOps.chartData()[0]")
        now = int((datetime.now(UTC) + ahead[0]).timestamp()) // 60 * 60
        assert len(minutes) == 60 and minutes[-1] in (now, now - 60)


# --- a busy room, for the screenshots ----------------------------------------------------------------------------


async def busy_room(live: LiveServer) -> None:
    """Most of an hour of a live session: orders from across the country peaking mid-way, parcels on the road
    with several carriers, and trouble of every kind the wall reports."""
    seed = SeedClient(live.http)
    codes = [await share_code(seed, leader) for leader in ("lead-a", "lead-b", "lead-c")]
    for carrier, capacity in (("SF", 110), ("ZTO", 70), ("YTO", 400)):  # bars in green, amber and red
        await live.http.put(f"/api/v1/carriers/{carrier}", json={"daily_capacity": capacity})
    for sku, warehouse, units in (
        ("tea", "SH", 600),
        ("tea", "GZ", 600),
        ("tea", "BJ", 600),
        ("mango", "GZ", 400),
    ):
        await live.http.put(f"/api/v1/skus/{sku}/stock/{warehouse}", json={"on_hand": units})
    shipments: list[dict[str, Any]] = []
    n = 0
    for minute in range(55, -1, -1):
        for k in range(1 + round(6 * math.exp(-(((minute - 22) / 11) ** 2))) + (minute * 7) % 3):
            n += 1
            items = [("tea", 1 + k % 2)] if n % 3 else [("mango", 1)]
            answer = await place(
                live,
                f"busy-{n}",
                items,
                code=codes[n % 3],
                buyer=BUYERS[n % len(BUYERS)],
                at=now_iso(minute + k * 0.1),
            )
            shipments.extend(answer["shipments"])
    states = ["in_transit", "collected", "out_for_delivery", "signed", "in_transit", "in_transit", "signed"]
    for i, shipment in enumerate(shipments[: len(shipments) * 4 // 5]):
        state = states[i % len(states)]
        await track(live, shipment, "collected", "揽收网点")
        if state != "collected":
            await track(live, shipment, state, "转运中心")
    await track(live, shipments[-1], "problem", "派件异常：地址不详")
    await track(live, shipments[-2], "returned", "收件人拒收")
    await place(live, "busy-held-1", [("tea", 1)], code=codes[0], buyer=BAD_PHONE_BUYER)
    await place(
        live,
        "busy-held-2",
        [("mango", 1)],
        code=codes[1],
        buyer={**SHANGHAI_BUYER, "district": "", "address": "x"},
    )
    await place(live, "busy-serum", [("serum", 5)], code=codes[2], buyer=SHANGHAI_BUYER)  # SH empties
    response = await live.http.post("/api/v1/warehouses/BJ/status", json={"active": False})
    assert response.status_code == 200, response.text
    await upcoming_room_with_reminders(live)


async def upcoming_room_with_reminders(live: LiveServer) -> None:
    """A second room that started a minute ago, with visitors who clicked before and never came: the funnel panel
    names the room it draws and adds the other room's reminders line (a busy session's tallest funnel panel)."""
    seed = SeedClient(live.http)
    now = datetime.now(UTC)
    body = {**ROOM, "title": "明晚预告场", "starts_at": now_iso(1), "ends_at": (now + timedelta(hours=2)).isoformat()}
    assert (await seed.put("/api/v1/rooms/room-next", body)).status_code in (200, 201)
    code = await share_code(seed, "lead-a", room="room-next")
    for n in range(3):
        answer = await seed.post("/api/v1/visits", {"visitor": f"pre-{n}", "code": code, "at": now_iso(10)})
        assert answer.status_code == 200, answer.text
    listed = await live.http.get("/api/v1/rooms/room-next/reminders")
    assert len(listed.json()["reminders"]) == 3


async def test_the_wall_fits_1920_by_1080_in_chinese_and_english(browser: Any, live: LiveServer) -> None:
    await busy_room(live)
    # A carrier with a big capacity: its raise button reads +20k / +2万, the widest the carriers' rows get.
    await live.http.put("/api/v1/carriers/JTSD", json={"daily_capacity": 100_000})
    for lang, name in ((None, "ops-zh"), ("en", "ops-en")):
        page = await ops_page(browser, live, lang=lang)
        await page.locator("#ops-exceptions [data-kind='warehouse_down']").first.wait_for(timeout=SEE)
        await page.locator(".gfun-other [data-reminders]").wait_for(timeout=SEE)
        await page.wait_for_timeout(400)
        await screenshot(page, name)
        # The chart is drawn (sized, axes and all), not just fed: its money axis needs live.js loaded first.
        assert await page.evaluate("document.querySelector('#ops-chart canvas').hasAttribute('width')")
        size = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
        )
        assert size == [1920, 1080], f"the wall scrolls: {size}"
        clipped = await page.evaluate(
            f"() => [...document.querySelectorAll('{CLIP_CHECKED}')]"
            ".filter(el => el.scrollWidth > el.clientWidth + 1)"
            ".map(el => el.textContent.trim())"
        )
        assert clipped == [], f"cut off: {clipped}"
        overflowing = await page.evaluate(
            "() => [...document.querySelectorAll('.ops-grid > .panel')]"
            ".filter(el => el.scrollHeight > el.clientHeight + 1)"
            ".map(el => [el.className, el.scrollHeight, el.clientHeight])"
        )
        assert overflowing == [], f"a panel's content runs out of it: {overflowing}"
        too_wide = await page.evaluate(
            "() => [...document.querySelectorAll('.ops-grid > .panel')]"
            ".filter(el => el.scrollWidth > el.clientWidth + 1)"
            ".map(el => [el.className, el.scrollWidth, el.clientWidth])"
        )
        assert too_wide == [], f"a panel's content runs out of its side: {too_wide}"
        await page.context.close()


# --- shipping promises -------------------------------------------------------------------------------------------


async def test_parcels_at_risk_and_late_show_per_warehouse_as_time_passes(browser: Any, tmp_path: Path) -> None:
    """Parcels not collected are "at risk" less than LIVEROOM_AT_RISK_HOURS (6) before their ship_by and "late"
    after it; the wall moves them with the server's clock alone, and a collected parcel leaves both."""
    from seed import ROOM

    ahead = [timedelta(0)]
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'promise.db'}",
                           clock=lambda: datetime.now(UTC) + ahead[0]) as live:
        await seed_catalog(SeedClient(live.http))
        rule = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"}]
        room = await live.http.put("/api/v1/rooms/room-1", json={**ROOM, "ship_promise": rule})
        assert room.status_code == 200, room.text
        guangzhou = await place(live, "promise-gz", [("tea", 1)])
        shanghai = await place(live, "promise-sh", [("tea", 1)], buyer=SHANGHAI_BUYER)
        assert {s["warehouse"] for s in guangzhou["shipments"] + shanghai["shipments"]} == {"GZ", "SH"}
        ship_by = datetime.fromisoformat(guangzhou["ship_by"])
        page = await ops_page(browser, live)
        risk, late = "tr[data-warehouse='{}'] [data-at-risk]", "tr[data-warehouse='{}'] [data-late]"
        await wait_text(page, risk.format("GZ"), "0")

        ahead[0] = ship_by - datetime.now(UTC) - timedelta(hours=3)  # three hours before the promise
        await wait_text(page, risk.format("GZ"), "1")
        await wait_text(page, risk.format("SH"), "1")
        await page.wait_for_timeout(300)
        await screenshot(page, "ops-promise-at-risk")

        await track(live, shanghai["shipments"][0], "collected", "揽收网点",
                    at=(datetime.now(UTC) + ahead[0]).isoformat())
        await wait_text(page, risk.format("SH"), "0")
        ahead[0] = ship_by - datetime.now(UTC) + timedelta(hours=1)  # an hour past it
        await wait_text(page, late.format("GZ"), "1")
        assert await text(page, risk.format("GZ")) == "0"
        assert await text(page, late.format("SH")) == "0"
        en = await ops_page(browser, live, lang="en")
        headers = await en.locator(".wh-table th").all_inner_texts()
        assert "At risk" in headers and "Late" in headers
# --- carrier capacity (issue 13) ----------------------------------------------------------------------------------


async def test_the_carrier_bar_turns_amber_without_a_reload_when_orders_pass_80_percent(
    browser: Any, live: LiveServer
) -> None:
    assert (await live.http.put("/api/v1/carriers/SF", json={"daily_capacity": 5})).status_code == 200
    page = await ops_page(browser, live)
    row = page.locator("tr[data-carrier='SF']")
    await row.wait_for(timeout=SEE)
    assert await row.get_attribute("data-load") == "ok"
    for i in range(3):  # 3 of 5: 60%, still green
        await place(live, f"cap-{i}", [("tea", 1)])  # Guangzhou buyers go next-day: SF
    await page.locator("tr[data-carrier='SF'] .cap-used", has_text="3").wait_for(timeout=SEE)
    assert await row.get_attribute("data-load") == "ok"
    await place(live, "cap-3", [("tea", 1)])  # 4 of 5: 80%
    await page.locator("tr[data-carrier='SF'][data-load='amber'] .cap-amber").wait_for(timeout=SEE)
    # Drawn amber (--low, the wall's amber) once its colour has eased in.
    await page.wait_for_function(
        "getComputedStyle(document.querySelector(\"tr[data-carrier='SF'] .cap-bar i\")).backgroundColor"
        " === 'rgb(242, 162, 58)'", timeout=SEE)


async def test_raising_a_carriers_capacity_and_marking_it_down_from_the_wall(browser: Any, live: LiveServer) -> None:
    assert (await live.http.put("/api/v1/carriers/ZTO", json={"daily_capacity": 100})).status_code == 200
    page = await ops_page(browser, live, lang="en")
    row = page.locator("tr[data-carrier='ZTO']")
    await row.get_by_role("button", name="+20").click()
    await page.locator("tr[data-carrier='ZTO'] .cap-of", has_text="/120").wait_for(timeout=SEE)
    await row.get_by_role("button", name="Down").click()
    await row.get_by_role("button", name="Confirm: ZTO Express down?").click()
    await page.locator("tr.cr-down[data-carrier='ZTO']").wait_for(timeout=SEE)
    listed = {c["carrier"]: c for c in (await live.http.get("/api/v1/carriers")).json()}
    assert (listed["ZTO"]["daily_capacity"], listed["ZTO"]["active"]) == (120, False)
    await row.get_by_role("button", name="Up").click()
    await page.locator("tr[data-carrier='ZTO']:not(.cr-down)").wait_for(timeout=SEE)


def test_one_tap_raises_a_carriers_capacity_by_about_a_fifth_on_one_significant_digit() -> None:
    from web.render import compact, nice_step

    assert [nice_step(c) for c in (None, 20, 100, 365, 1_000, 100_000)] == [10, 10, 20, 70, 200, 20_000]
    assert (compact(100_000), compact(100_000, "en"), compact(9_999)) == ("10万", "100k", "9,999")
