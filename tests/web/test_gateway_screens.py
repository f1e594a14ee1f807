"""What people see of the carrier gateways (issue 14), in a real Chromium: the buyer's tracking page and the leader's
phone show 等待面单 until the waybill comes and then the number, live; the ops wall gains a waybill gateway panel
once a waybill is asked of a gateway, with the count awaiting and each carrier's circuit.

The worker that talks to the gateways is driven elsewhere: here its rows and events are written the way it writes
them (tests/support/gateway_writes.py), through the server's own writer, so the screens learn of them as of any
committed event (outbox → bus → hub → WebSocket frame).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser import PHONE, WALL, open_page, open_screen, same_document
from gateway_writes import circuit, issue, refuse, request
from live import LiveServer
from live import place_order as place

SEE = 5_000  # ms: what a person watching would call "at once"
SHOTS = Path("/tmp/gw-shots")


async def wait_for(page: Any, script: str, arg: Any = None) -> None:
    await page.wait_for_function(script, arg=arg, timeout=SEE)


async def text(page: Any, selector: str) -> str:
    return " ".join(str(await page.locator(selector).first.inner_text()).split())


async def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.wait_for_timeout(700)  # bars settle
    await page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


async def test_the_tracking_page_shows_awaiting_waybill_then_the_number_without_a_reload(
    browser: Any, live: LiveServer
) -> None:
    answer = await place(live, "o-gw", [("tea", 1)])
    first = answer["shipments"][0]["carrier"]
    await request(live, answer)
    page = await open_page(browser, live, "/track/o-gw", "order", "o-gw", PHONE)
    en = await open_page(browser, live, "/track/o-gw", "order", "o-gw", PHONE, lang="en")
    assert await text(page, ".tk-parcel .tk-waybill") == "运单号 等待面单"
    assert await text(en, ".tk-parcel .tk-waybill") == "Waybill Awaiting waybill"
    assert await text(page, ".tk-hero-title") == "待发货"  # still being prepared: nothing has gone wrong
    assert await page.locator(".tk-copy").count() == 0
    leader = await open_page(browser, live, "/leader/lead-a", "leader", "lead-a", PHONE)
    parcel = leader.locator(".parcel[data-shipment='o-gw-1']")
    assert "等待面单" in await parcel.inner_text()

    # The carrier refuses the address: the parcel goes with the next carrier, still awaiting its waybill.
    other = "ZTO" if first != "ZTO" else "YTO"
    await refuse(live, answer, "收件地址超区", other)
    names = {"ZTO": "中通快递", "YTO": "圆通速递"}
    await wait_for(page, "want => document.querySelector('.tk-carrier').textContent.includes(want)", names[other])
    assert await text(page, ".tk-parcel .tk-waybill") == "运单号 等待面单"

    await issue(live, answer, "ZT7700123456")
    await wait_for(page, "() => document.querySelector('.tk-waybill').dataset.waybill === 'ZT7700123456'")
    assert await text(page, ".tk-parcel .tk-waybill") == "运单号 ZT7700123456 复制"
    await wait_for(en, "() => document.querySelector('.tk-waybill').dataset.waybill === 'ZT7700123456'")
    await wait_for(leader, "() => document.querySelector(\".parcel[data-shipment='o-gw-1']\").textContent"
                           ".includes('ZT7700123456')")
    assert "等待面单" not in await parcel.inner_text()
    assert await same_document(page) and await same_document(en) and await same_document(leader)


async def test_the_ops_wall_shows_the_gateway_once_a_waybill_is_asked_and_a_circuit_opening(
    browser: Any, live: LiveServer
) -> None:
    answers = [await place(live, f"o-w{n}", [("tea", 1)]) for n in range(3)]
    page = await open_screen(browser, live, "/ops", live.token("ops", "-"), viewport=WALL)
    await page.evaluate("window.__sameDocument = true")
    assert await page.locator("#ops-gateway").count() == 0  # sandbox: nothing was ever asked of a gateway

    for answer in answers:
        await request(live, answer)
    await wait_for(page, "() => document.querySelector('#gw-awaiting')?.textContent.trim() === '3'")
    assert await text(page, "#ops-gateway h2") == "面单网关"
    carrier = answers[0]["shipments"][0]["carrier"]
    chip = page.locator(f"#ops-gateway [data-carrier='{carrier}']")
    assert await chip.get_attribute("data-circuit") == "closed"

    await issue(live, answers[0], "SF5500000001")
    await wait_for(page, "() => document.querySelector('#gw-awaiting').textContent.trim() === '2'")
    assert await text(page, "#gw-issued") == "1"

    await circuit(live, carrier, "open", 2, 5)
    await wait_for(page, "c => document.querySelector(`#ops-gateway [data-carrier='${c}']`).dataset.circuit === 'open'",
                   carrier)
    assert "熔断" in await text(page, f"#ops-gateway [data-carrier='{carrier}']")
    assert "至" in await text(page, f"#ops-gateway [data-carrier='{carrier}'] .gw-cb-until")
    assert await page.evaluate("window.__sameDocument === true")


async def test_screenshots_of_the_gateway_on_the_wall_and_the_phone_in_chinese_and_english(
    browser: Any, live: LiveServer
) -> None:
    from tests.web.test_ops import CLIP_CHECKED, busy_room

    await busy_room(live)
    waiting = [await place(live, f"o-s{n}", [("tea", 1)]) for n in range(5)]
    for answer in waiting:
        await request(live, answer)
    await issue(live, waiting[0], "SF5500000001")
    await refuse(live, waiting[1], "收件地址超区，无法派送", "ZTO")
    await refuse(live, waiting[2], "收件地址超区，无法派送", None)
    await circuit(live, "YTO", "open", 3, 5)
    await circuit(live, "ZTO", "half_open", None, 5)
    for lang, suffix in ((None, "zh"), ("en", "en")):
        wall = await open_screen(browser, live, "/ops", live.token("ops", "-"), viewport=WALL, lang=lang)
        await wall.locator("#ops-gateway").wait_for(timeout=SEE)
        await shot(wall, f"ops-{suffix}")
        size = await wall.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        assert size == [1920, 1080], f"the wall scrolls: {size}"
        overflowing = await wall.evaluate(
            "() => [...document.querySelectorAll('.ops-grid > .panel')]"
            ".filter(el => el.scrollHeight > el.clientHeight + 1).map(el => el.className)"
        )
        assert overflowing == [], f"a panel's content runs out of it: {overflowing}"
        clipped = await wall.evaluate(
            f"() => [...document.querySelectorAll('{CLIP_CHECKED}, .gw-label, .gw-big, .gw-cb')]"
            ".filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.textContent.trim())"
        )
        assert clipped == [], f"cut off: {clipped}"
        await wall.context.close()
        for order, name in (("o-s3", "track-awaiting"), ("o-s0", "track-issued"), ("o-s1", "track-moved")):
            phone = await open_screen(browser, live, f"/track/{order}", live.token("order", order), viewport=PHONE,
                                      lang=lang)
            await shot(phone, f"{name}-{suffix}")
            await phone.context.close()
        leader = await open_screen(browser, live, "/leader/lead-a", live.token("leader", "lead-a"), viewport=PHONE,
                                   lang=lang)
        await leader.locator(".parcel[data-shipment='o-s3-1']").scroll_into_view_if_needed()
        await shot(leader, f"leader-{suffix}")
        # The order no carrier would take waits on the phone with the carrier's own words and the address form.
        held = leader.locator("form.held-order[data-order='o-s2']")
        await held.scroll_into_view_if_needed()
        said = "快递回复：收件地址超区，无法派送" if lang is None else "Carrier says: 收件地址超区，无法派送"
        await held.locator(".carrier-reason", has_text=said).wait_for(timeout=SEE)
        await held.locator("[data-flag='carrier_refused']").wait_for(timeout=SEE)
        await shot(leader, f"leader-held-{suffix}")
        await leader.context.close()
