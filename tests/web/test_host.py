"""The host's stock-alert screen /host/{room}: a 1920×1080 screen the host keeps open through the whole session.

Orders, stock counts and the presale switch go through the HTTP API (or the page's own buttons); the page must show
each change without a reload.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from babel.messages.extract import extract_from_file
from browser import WALL, open_screen, screenshot
from jinja2.ext import babel_extract
from live import LiveServer
from live import place_order as place
from playwright.async_api import expect
from seed import GUANGZHOU_BUYER, order_body
from seed import ROOM as ROOM_BODY

from web.i18n import catalog
from web.render import TEMPLATES

WAIT = 5_000  # ms: a frame is drawn within a hub tick; the page must show it well inside this
ROOM = "room-1"


async def set_stock(live: LiveServer, sku: str, **on_hand: int) -> None:
    for warehouse, units in on_hand.items():
        response = await live.http.put(f"/api/v1/skus/{sku}/stock/{warehouse}", json={"on_hand": units})
        assert response.status_code in (200, 201), response.text


async def open_host(browser: Any, live: LiveServer, lang: str | None = None) -> Any:
    page = await open_screen(
        browser, live, f"/host/{ROOM}", live.token("host", ROOM), viewport=WALL, lang=lang
    )
    await page.evaluate("window.__sameDocument = true")  # gone if the page ever reloads
    page.errors = []  # a script error while a frame is patched in would leave the board stale: none allowed
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and page.errors.append(message.text))
    return page


def tile(page: Any, sku: str) -> Any:
    return page.locator(f'.tile[data-sku="{sku}"]')


async def wait_level(page: Any, sku: str, level: str) -> None:
    await page.wait_for_function(
        f"document.querySelector('.tile[data-sku=\"{sku}\"]')?.dataset.level === '{level}'", timeout=WAIT
    )


async def units(page: Any, sku: str) -> str:
    return str(await tile(page, sku).locator(".units").inner_text()).strip()


async def assert_no_reload(page: Any) -> None:
    assert await page.evaluate("window.__sameDocument === true")
    assert page.errors == []


# --- stock drains, presale, replenish --------------------------------------------------------------------------


async def test_a_tile_turns_critical_then_sold_out_as_orders_drain_it(browser: Any, live: LiveServer) -> None:
    await set_stock(live, "tea", SH=6, GZ=0, BJ=0)
    page = await open_host(browser, live)
    assert await units(page, "tea") == "6"
    assert await tile(page, "tea").locator(".badge").inner_text() == "库存偏低"  # 6 < 20 units: low

    await place(live, "o-drain-1", [("tea", 5)])  # 5 units in a minute's window: 1 left sells out in a minute
    await wait_level(page, "tea", "critical")
    assert await units(page, "tea") == "1"
    assert await tile(page, "tea").locator(".badge").inner_text() == "告急"
    assert "秒" in await tile(page, "tea").locator(".stat-eta").inner_text()  # under two minutes: in seconds

    await place(live, "o-drain-2", [("tea", 1)])
    await wait_level(page, "tea", "sold_out")
    assert await units(page, "tea") == "0"
    assert await tile(page, "tea").locator(".banner").inner_text() == "已售罄 · 请补货或开启预售"
    assert await page.locator(".chip-sold_out").inner_text() == "1 已售罄"
    await assert_no_reload(page)


async def test_presale_shows_when_a_presale_sku_sells_out_and_the_switch_turns_it_off_and_on(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    serum = tile(page, "serum")
    assert await serum.locator(".switch").get_attribute("aria-checked") == "true"

    await place(live, "o-serum", [("serum", 5)])  # the last five: serum takes presale orders from here
    await wait_level(page, "serum", "presale")
    assert await serum.locator(".banner").inner_text() == "预售中 · 补货后发货"
    assert await serum.locator(".badge").inner_text() == "预售"

    await serum.locator(".switch").click()  # presale off: the page sends PUT /api/v1/skus/serum
    await wait_level(page, "serum", "sold_out")
    assert await serum.locator(".switch").get_attribute("aria-checked") == "false"
    refused = await live.http.post("/api/v1/orders", json=order_body("o-late", "v-late", [("serum", 1)]))
    assert refused.status_code == 409  # no presale: a sold-out SKU refuses the order

    await serum.locator(".switch").click()
    await wait_level(page, "serum", "presale")
    taken = await live.http.post("/api/v1/orders", json=order_body("o-presale", "v-presale", [("serum", 1)]))
    assert taken.status_code == 201 and taken.json().get("presale"), taken.text
    await assert_no_reload(page)


async def test_replenish_from_the_page_raises_the_units_in_the_chosen_warehouse(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    mango = tile(page, "mango")
    await mango.locator('input[name="delta"]').fill("30")
    await mango.locator("button", has_text="补货").click()
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"mango\"] .units').textContent.trim() === '80'", timeout=WAIT
    )
    assert "已补货" in await mango.locator(".replenish [data-status]").inner_text()
    await screenshot(page, "host-zh-replenished")

    tea = tile(page, "tea")
    await tea.locator("select[data-warehouse]").select_option("BJ")
    await tea.locator('input[name="delta"]').fill("25")
    await tea.locator("button", has_text="补货").click()
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"tea\"] .units').textContent.trim() === '325'", timeout=WAIT
    )
    stock = (await live.http.get("/api/v1/skus/tea/stock")).json()
    assert {w["warehouse"]: w["on_hand"] for w in stock["warehouses"]} == {"BJ": 125, "GZ": 100, "SH": 100}
    assert await tea.locator('[data-k="wh-BJ"] .wh-units').inner_text() == "125"
    await assert_no_reload(page)


async def test_a_replenishment_sent_again_after_the_network_failed_adds_the_units_once(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    reached: list[dict[str, Any]] = []

    async def lost_answer(route: Any) -> None:
        """The request reaches the server, but its answer never reaches the page (a dropped connection)."""
        reached.append(route.request.post_data_json)
        await route.fetch()
        await route.abort("connectionreset")

    await page.route("**/skus/mango/replenish*", lost_answer)
    mango = tile(page, "mango")
    await mango.locator('input[name="delta"]').fill("30")
    await mango.locator("button", has_text="补货").click()
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"mango\"] .form-status').classList.contains('error')",
        timeout=WAIT,
    )
    await page.unroute("**/skus/mango/replenish*")
    await mango.locator("button", has_text="补货").click()  # the host tries again
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"mango\"] .form-status').classList.contains('ok')",
        timeout=WAIT,
    )
    stock = (await live.http.get("/api/v1/skus/mango/stock")).json()
    assert {w["warehouse"]: w["on_hand"] for w in stock["warehouses"]} == {"GZ": 80}  # 50 + 30, once
    assert len(reached) == 1 and reached[0]["adjustment"]
    await mango.locator("button", has_text="补货").click()  # answered: a new click is a new delivery
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"mango\"] .units').textContent.trim() === '110'",
        timeout=WAIT,
    )
    # The dropped answer, and only it: the browser's line, and htmx's own report of the failed request.
    page.errors.remove("Failed to load resource: net::ERR_CONNECTION_RESET")
    htmx_reports = [e for e in page.errors if e.startswith(("htmx:sendError", "htmx:afterRequest"))]
    assert len(htmx_reports) <= 2, page.errors
    page.errors = [e for e in page.errors if e not in htmx_reports]
    await assert_no_reload(page)


async def test_a_number_being_typed_survives_the_frames_that_arrive_meanwhile(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    field = tile(page, "tea").locator('input[name="delta"]')
    await field.fill("120")
    await field.focus()
    await place(live, "o-while-typing", [("tea", 3)])
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"tea\"] .units').textContent.trim() === '297'", timeout=WAIT
    )
    await page.wait_for_timeout(1_500)  # a second of clock redraws too
    assert await field.input_value() == "120"
    assert await field.evaluate("el => el === document.activeElement")
    await assert_no_reload(page)


async def test_after_the_socket_drops_the_screen_reconnects_and_shows_what_it_missed(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    dropped = list(live.hub.subscribers[f"room:{ROOM}:stock"])
    assert await page.locator(".feed-row").count() == 0
    for subscriber in dropped:  # the server closes the socket, as it does for a client that cannot keep up
        await live.hub.detach(subscriber)
        await subscriber.connection.close(code=1013)
    await place(live, "o-missed", [("tea", 4)])
    await page.wait_for_function(
        "document.querySelector('.tile[data-sku=\"tea\"] .units').textContent.trim() === '296'",
        timeout=10_000,
    )
    await page.wait_for_selector("#conn.conn-live", timeout=WAIT)
    assert await page.locator(".feed-row").count() == 1
    assert await page.locator(".kpi-orders .kpi-value").inner_text() == "1"
    assert live.hub.connections == 1 and not set(dropped) & live.hub.subscribers[f"room:{ROOM}:stock"]
    await assert_no_reload(page)


# --- the room's figures and the feed ---------------------------------------------------------------------------


async def test_feed_shows_new_orders_with_masked_buyer_names_and_the_room_figures_follow(
    browser: Any, live: LiveServer
) -> None:
    page = await open_host(browser, live)
    assert await page.locator(".feed-row").count() == 0
    await place(live, "o-feed-1", [("tea", 2), ("mango", 1)])
    await page.wait_for_selector(".feed-row", timeout=WAIT)
    first = " ".join((await page.locator(".feed-row").first.inner_text()).split())
    assert "张*" in first and "王团长" in first and "¥315.90" in first
    assert "明前龙井 250g ×2" in first

    other = {**GUANGZHOU_BUYER, "name": "欧阳娜娜", "phone": "13900139000"}
    await place(live, "o-feed-2", [("mango", 2)], leader="lead-b", buyer=other)
    await page.wait_for_function("document.querySelectorAll('.feed-row').length === 2", timeout=WAIT)
    newest = " ".join((await page.locator(".feed-row").first.inner_text()).split())
    assert "欧*" in newest and "李店长" in newest  # newest first

    await page.wait_for_function(
        "document.querySelector('.kpi-orders .kpi-value').textContent.trim() === '2'", timeout=WAIT
    )
    assert await page.locator(".kpi-gmv .kpi-value").inner_text() == "¥435"  # 315.90 + 119.80
    await page.wait_for_function("document.querySelector('.spark-now').textContent === '5'", timeout=WAIT)
    html = await page.content()
    for private in ("张三", "欧阳娜娜", "13800138000", "13900139000", "太古汇"):
        assert private not in html
    await assert_no_reload(page)


async def test_no_frame_the_host_receives_carries_a_buyers_name_phone_or_address(
    browser: Any, live: LiveServer
) -> None:
    context = await browser.new_context(viewport=WALL, locale="zh-CN")
    page = await context.new_page()
    frames: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        ),
    )
    await page.goto(f"{live.url}/host/{ROOM}?token={live.token('host', ROOM)}")
    await page.wait_for_selector("#conn.conn-live", timeout=WAIT)

    shown = {**GUANGZHOU_BUYER, "name": "欧阳保密", "phone": "13912345678", "address": "新港中路保密花园17栋"}
    held = {
        **GUANGZHOU_BUYER,
        "name": "诸葛隐私",
        "phone": "02088886666",
        "address": "中山五路9楼",
    }  # not a mobile
    await place(live, "o-private-1", [("tea", 1)], buyer=shown)
    assert (await place(live, "o-private-2", [("mango", 1)], leader="lead-b", buyer=held))["status"] == "held"
    await page.wait_for_function("document.querySelectorAll('.feed-row').length === 2", timeout=WAIT)
    assert any("欧*" in frame for frame in frames) and any("诸*" in frame for frame in frames)
    for secret in (
        *(shown[f] for f in ("name", "phone", "address")),
        *(held[f] for f in ("name", "phone", "address")),
    ):
        assert not [frame for frame in frames if secret in frame], secret
    await context.close()


async def test_the_sparkline_counts_units_sold_in_each_of_the_last_thirty_minutes(
    browser: Any, live: LiveServer
) -> None:
    now = datetime.now(UTC)
    for order, minutes_ago, qty in (("o-10-ago", 10, 4), ("o-40-ago", 40, 7)):  # 40 minutes ago: off the line
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        body = order_body(order, f"v-{order}", [("tea", qty)], at=at)
        assert (await live.http.post("/api/v1/orders", json=body)).status_code == 201
    page = await open_host(browser, live)
    spark = page.locator(".spark")
    assert await spark.locator("rect").count() == 30
    assert await page.locator(".spark-peak").inner_text() == "4"
    assert await page.locator(".spark-now").inner_text() == "0"

    await place(live, "o-now", [("tea", 2), ("mango", 1)])
    await page.wait_for_function("document.querySelector('.spark-now').textContent === '3'", timeout=WAIT)
    series = [int(n) for n in (await spark.get_attribute("data-series")).split(",")]
    assert len(series) == 30 and series[-1] == 3
    assert sum(series) == 7  # this minute's 3 and the 4 of ten minutes ago; not the 7 of forty minutes ago
    assert 4 in (series[-11], series[-12])  # -12 if a minute boundary passed since the order
    await assert_no_reload(page)


# --- languages and screenshots ---------------------------------------------------------------------------------


async def busy_room(live: LiveServer) -> None:
    """Every alert level at once: tea plenty, mango critical, serum in presale; half an hour of sales before."""
    now = datetime.now(UTC)
    for i, minutes_ago in enumerate((29, 27, 26, 24, 21, 19, 18, 16, 15, 13, 12, 10, 9, 8, 6)):
        at = (now - timedelta(minutes=minutes_ago)).isoformat()
        body = order_body(f"o-early-{i}", f"v-early-{i}", [("tea", 1 + (i * 7) % 5)], at=at)
        assert (await live.http.post("/api/v1/orders", json=body)).status_code == 201
    await set_stock(live, "mango", GZ=12)
    await place(live, "o-shot-1", [("tea", 2), ("mango", 1)])
    await place(
        live,
        "o-shot-2",
        [("mango", 8)],
        leader="lead-b",
        buyer={**GUANGZHOU_BUYER, "name": "欧阳娜娜", "phone": "13900139000"},
    )
    await place(live, "o-shot-3", [("serum", 5)], leader="lead-c")
    await place(
        live,
        "o-shot-4",
        [("serum", 2), ("tea", 1)],
        leader=None,
        buyer={**GUANGZHOU_BUYER, "name": "李四", "phone": "13700137000"},
    )


async def test_the_screen_reads_in_chinese_by_default_and_english_on_request(
    browser: Any, live: LiveServer
) -> None:
    await busy_room(live)
    for lang, name, labels, foreign in (
        (
            None,
            "host-zh",
            ("本场成交额", "告急", "预售中 · 补货后发货", "最新订单"),
            ("Replenish", "Sell rate"),
        ),
        (
            "en",
            "host-en",
            ("Room GMV", "Critical", "PRESALE · ships after restock", "Latest orders"),
            ("补货", "售速"),
        ),
    ):
        page = await open_host(browser, live, lang=lang)
        await wait_level(page, "mango", "critical")
        text = await page.locator("body").inner_text()
        for label in labels:
            assert label in text, (lang, label)
        for label in foreign:
            assert label not in text, (lang, label)
        await page.wait_for_timeout(1_300)  # let the arrival animations finish
        await screenshot(page, name)
        await page.context.close()


MORE_SKUS = {  # sku: (name, price, units per warehouse, presale when sold out)
    "rice": ("五常大米 10kg", 8_990, {"BJ": 0}, False),  # sold out, no presale
    "honey": ("土蜂蜜 500g", 6_800, {"SH": 9, "BJ": 6}, True),  # low
    "nuts": ("每日坚果 30袋", 12_900, {"SH": 1_200, "GZ": 860, "BJ": 45}, False),
    "jerky": ("手撕牛肉干 500g 麻辣味", 6_800, {"SH": 300, "GZ": 200}, False),
    "cherry": ("智利车厘子 JJ级 2斤", 13_900, {"GZ": 1_000_000, "SH": 250_000, "BJ": 80}, False),
    "kiwi": ("徐香猕猴桃 24枚", 4_990, {"SH": 40, "GZ": 40, "BJ": 40}, False),
    "mask": ("补水面膜 10片", 9_900, {"BJ": 700}, False),
    "lipstick": ("丝绒唇膏 3.5g", 19_900, {"SH": 88, "GZ": 12}, False),
    "cream": ("修护面霜 50g", 32_900, {"GZ": 5_000}, False),
}


async def room_with_more_skus(live: LiveServer, count: int) -> None:
    """The seeded room plus `count` more SKUs from MORE_SKUS (every alert level is there from three on)."""
    more = dict(list(MORE_SKUS.items())[:count])
    for sku, (name, price, stock, presale) in more.items():
        body = {"name": name, "price_cents": price, "presale_when_sold_out": presale}
        assert (await live.http.put(f"/api/v1/skus/{sku}", json=body)).status_code in (200, 201)
        await set_stock(live, sku, **stock)
    room = {**ROOM_BODY, "skus": [*ROOM_BODY["skus"], *more]}
    assert (await live.http.put(f"/api/v1/rooms/{ROOM}", json=room)).status_code in (200, 201)
    await busy_room(live)


async def assert_every_tile_on_the_wall(page: Any) -> None:
    """No tile below the screen's edge, nothing cut off inside a tile, no number wider than its place."""
    bottoms = await page.eval_on_selector_all(
        ".tile", "tiles => tiles.map(t => t.getBoundingClientRect().bottom)"
    )
    assert max(bottoms) <= WALL["height"]
    cut = await page.eval_on_selector_all(
        ".tile",
        "tiles => tiles.filter(t => t.scrollHeight > t.clientHeight + 1"
        " || [...t.querySelectorAll('.units, .stat dd, .wh-units')]"
        "    .some(el => el.scrollWidth > el.clientWidth + 1 || el.getBoundingClientRect().right >"
        "               t.getBoundingClientRect().right)"
        " || [...t.querySelectorAll('.units')].some(el => el.getBoundingClientRect().right >"
        "               el.closest('.tile-figures').getBoundingClientRect().right + 1))"
        ".map(t => t.dataset.sku)",
    )
    assert cut == []


async def test_six_skus_fit_the_wall_in_two_rows(browser: Any, live: LiveServer) -> None:
    """A bigger room: every alert level at once, six tiles on one 1920×1080 screen, nothing scrolled away."""
    await room_with_more_skus(live, 3)
    page = await open_host(browser, live)
    await page.wait_for_function("document.querySelectorAll('.tile').length === 6", timeout=WAIT)
    levels = await page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.level)")
    assert sorted(levels) == ["critical", "low", "ok", "ok", "presale", "sold_out"]
    await page.wait_for_timeout(1_300)
    await screenshot(page, "host-zh-six")
    await assert_every_tile_on_the_wall(page)


async def test_a_dozen_skus_fit_the_wall_in_three_rows_in_both_languages(
    browser: Any, live: LiveServer
) -> None:
    """The simulated room's dozen SKUs: four across, three rows, every tile whole — nothing scrolls on a wall."""
    await room_with_more_skus(live, 9)
    for lang, name in ((None, "host-zh-twelve"), ("en", "host-en-twelve")):
        page = await open_host(browser, live, lang=lang)
        await page.wait_for_function("document.querySelectorAll('.tile').length === 12", timeout=WAIT)
        levels = set(await page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.level)"))
        assert {"critical", "low", "ok", "presale", "sold_out"} <= levels
        await page.wait_for_timeout(1_300)
        await screenshot(page, name)
        await assert_every_tile_on_the_wall(page)
        await expect(page.locator('.tile[data-sku="cream"] .replenish button')).to_be_visible()
        await assert_no_reload(page)
        await page.context.close()


def test_every_string_on_the_screen_has_its_chinese() -> None:
    chinese = catalog("zh_CN")
    options = {
        "extensions": "jinja2.ext.i18n",
        "trim_blocks": "true",
        "lstrip_blocks": "true",
        "newstyle_gettext": "true",
    }
    missing = []
    for name in ("host.html", "frames/stock.html", "frames/feed.html"):
        for _, message, _, _ in extract_from_file(babel_extract, TEMPLATES / name, options=options):
            if not (chinese.get(message) and chinese.get(message).string):
                missing.append((name, message))
    assert missing == []
