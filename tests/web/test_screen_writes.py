"""The screens' writes: htmx form posts under each page's path (web/actions.py), answered with HTML fragments whose
refusals name their code and field — and that only the page's own token, sent by htmx, may make."""

from __future__ import annotations

from typing import Any

from browser import PHONE, WALL, open_screen, screenshot
from live import LiveServer
from live import place_order as place
from playwright.async_api import expect
from seed import GUANGZHOU_BUYER

WAIT = 5_000
ROOM = "room-1"
HTMX = {"HX-Request": "true"}


async def stock_of(live: LiveServer, sku: str) -> dict[str, int]:
    stock = (await live.http.get(f"/api/v1/skus/{sku}/stock")).json()
    return {w["warehouse"]: w["on_hand"] for w in stock["warehouses"]}


async def host_post(
    live: LiveServer, token: str, sku: str, form: dict[str, str], headers: dict[str, str] = HTMX
) -> str:
    response = await live.http.post(
        f"/host/{ROOM}/skus/{sku}/replenish",
        data=form,
        headers={**headers, "Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.text
    return response.text


async def test_a_refused_replenishment_names_its_field_and_adds_nothing(
    browser: Any, live: LiveServer
) -> None:
    page = await open_screen(browser, live, f"/host/{ROOM}", live.token("host", ROOM), viewport=WALL)
    mango = page.locator('.tile[data-sku="mango"]')
    before = await stock_of(live, "mango")
    # Zero units gets past no browser check once the page's own bound is gone; the server refuses it by its rules.
    await mango.locator('input[name="delta"]').evaluate(
        "el => { el.removeAttribute('min'); el.value = '0'; }"
    )
    await mango.locator("button", has_text="补货").click()
    status = mango.locator(".replenish [data-status]")
    await expect(status).to_have_attribute("data-error-field", "delta", timeout=WAIT)
    await expect(status).to_have_attribute("data-error", "invalid_field")
    await expect(status).to_have_class("form-status error")
    await expect(status).to_have_text("补货数量须为大于零的整数")
    assert await stock_of(live, "mango") == before
    await screenshot(page, "host-zh-replenish-refused")


async def test_the_host_screen_may_replenish_only_its_own_room_and_only_through_htmx(
    live: LiveServer,
) -> None:
    before = await stock_of(live, "mango")
    form = {"delta": "5", "warehouse": "GZ", "reason": "test", "adjustment": "a-1"}
    other_room = await host_post(live, live.token("host", "room-2"), "mango", form)
    assert 'data-error="forbidden"' in other_room
    ops = await host_post(live, live.token("ops", "-"), "mango", form)
    assert 'data-error="forbidden"' in ops
    cross_site = await host_post(live, live.token("host", ROOM), "mango", form, headers={})
    assert 'data-error="forbidden"' in cross_site  # a plain form from another site cannot send HX-Request
    assert await stock_of(live, "mango") == before

    answered = await host_post(live, live.token("host", ROOM), "mango", form)
    assert 'class="form-status ok"' in answered and 'name="adjustment"' in answered
    again = await host_post(live, live.token("host", ROOM), "mango", form)  # the same id: added once
    assert 'class="form-status ok"' in again
    assert await stock_of(live, "mango") == {w: n + (5 if w == "GZ" else 0) for w, n in before.items()}


async def test_a_fix_still_refused_flags_exactly_the_fields_still_wrong(
    browser: Any, live: LiveServer
) -> None:
    page = await open_screen(browser, live, "/leader/lead-a", live.token("leader", "lead-a"), viewport=PHONE)
    bad = {**GUANGZHOU_BUYER, "name": "李四", "phone": "123", "address": "x"}
    assert (await place(live, "o-held", [("tea", 1)], buyer=bad))["status"] == "held"
    form = page.locator("form.held-order")
    await expect(form).to_be_visible(timeout=WAIT)

    await form.locator('input[name="phone"]').fill("13800138000")
    await form.locator("button").click()
    status = form.locator("[data-status]")
    await expect(status).to_have_attribute("data-error", "still_held", timeout=WAIT)
    await expect(form.locator('[data-field="address"]')).to_have_class("fld flagged")
    await expect(form.locator('[data-field="phone"]')).to_have_class("fld")  # fixed: no longer flagged
    assert await form.locator('input[name="phone"]').input_value() == "13800138000"  # what was typed stays
    await screenshot(page, "leader-zh-fix-refused")


async def test_marking_a_warehouse_down_takes_two_clicks_and_the_second_sends_it(
    browser: Any, live: LiveServer
) -> None:
    page = await open_screen(browser, live, "/ops", live.token("ops", "-"), viewport=WALL, lang="en")
    posts: list[str] = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    row = page.locator("tr[data-warehouse='SH']")
    await row.get_by_role("button", name="Mark down").click()
    await row.get_by_role("button", name="Confirm: 上海仓 down?").wait_for(timeout=WAIT)
    assert posts == []  # the first click only arms the button
    await screenshot(page, "ops-en-confirm-armed")
    await row.get_by_role("button", name="Confirm: 上海仓 down?").click()
    await page.locator("tr.wh-down[data-warehouse='SH']").wait_for(timeout=WAIT)
    assert [url.split("?")[0].removeprefix(live.url) for url in posts] == ["/ops/warehouses/SH/status"]
