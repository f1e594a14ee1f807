"""No frame sent to a page carries another leader's or another buyer's data: the test reads every WebSocket frame a
real browser receives while other people's orders (with unmistakable names, phones and streets) are placed, held
and shipped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from browser import PHONE
from live import LiveServer, SeedClient
from live import place_order as place
from playwright.async_api import expect
from seed import GUANGZHOU_BUYER, share_code

WAIT = 5_000

# Other people: each string must never reach a page that is not theirs.
STRANGER = {
    "name": "欧阳保密",
    "phone": "13912345678",
    "province": "广东",
    "city": "广州",
    "district": "海珠区",
    "address": "新港中路保密花园17栋2单元",
}
STRANGER_HELD = {
    "name": "诸葛隐私",
    "phone": "02088886666",
    "province": "广东",
    "city": "广州",
    "district": "越秀区",
    "address": "中山五路隐私大厦9楼",
}
NEIGHBOUR = {
    "name": "司马邻居",
    "phone": "13711112222",
    "province": "广东",
    "city": "广州",
    "district": "天河区",
    "address": "体育西路邻居公寓3座",
}
# The page's own people.
MINE_HELD = {
    "name": "张自己",
    "phone": "0201234567",
    "province": "广东",
    "city": "广州",
    "district": "天河区",
    "address": "天河路自己家园1号",
}


def secrets(*buyers: dict[str, str]) -> list[str]:
    return [buyer[field] for buyer in buyers for field in ("name", "phone", "address")]


async def open_recording(browser: Any, live: LiveServer, path: str, token: str) -> tuple[Any, list[str]]:
    """Open a screen from its private link and keep every WebSocket frame it receives, from the first one."""
    context = await browser.new_context(viewport=PHONE, locale="zh-CN")
    page = await context.new_page()
    frames: list[str] = []

    def follow(ws: Any) -> None:
        ws.on(
            "framereceived",
            lambda payload: frames.append(
                payload if isinstance(payload, str) else payload.decode("utf-8", "replace")
            ),
        )

    page.on("websocket", follow)
    await page.goto(f"{live.url}{path}?token={token}")
    await page.wait_for_selector("#conn.conn-live", timeout=10_000)
    return page, frames


def leaked(frames: list[str], needles: list[str]) -> dict[str, int]:
    return {needle: n for needle in needles if (n := sum(needle in frame for frame in frames))}


async def test_a_leader_page_never_receives_other_leaders_or_their_buyers_data(
    browser: Any, live: LiveServer
) -> None:
    await place(live, "o-mine-1", [("tea", 1)], "lead-a", GUANGZHOU_BUYER)
    await share_code(SeedClient(live.http), "lead-b")
    page, frames = await open_recording(browser, live, "/leader/lead-a", live.token("leader", "lead-a"))

    others = {
        "o-theirs-1": await place(live, "o-theirs-1", [("tea", 2)], "lead-b", STRANGER),
        "o-theirs-held": await place(live, "o-theirs-held", [("mango", 1)], "lead-b", STRANGER_HELD),
        "o-nobody": await place(live, "o-nobody", [("tea", 1)], None, NEIGHBOUR),
    }
    assert others["o-theirs-held"]["status"] == "held"
    waybills = [s["waybill"] for answer in others.values() for s in answer["shipments"] if s["waybill"]]
    for answer in others.values():
        for parcel in answer["shipments"]:
            if parcel["waybill"]:
                await live.http.post(
                    "/api/v1/tracking",
                    json={
                        "carrier": parcel["carrier"],
                        "waybill": parcel["waybill"],
                        "state": "in_transit",
                        "at": datetime.now(UTC).isoformat(),
                        "station": "广州转运中心",
                    },
                )
    # lead-b fixes the held order with the buyer: the fixed address must not travel either.
    fixed = {"phone": "13600001111", "address": "中山五路隐私大厦9楼南座"}
    assert (await live.http.post("/api/v1/orders/o-theirs-held/verify", json=fixed)).status_code == 200

    # Then the page's own held order: everything before it has been framed once it shows.
    assert (await place(live, "o-mine-held", [("tea", 1)], "lead-a", MINE_HELD))["status"] == "held"
    await expect(page.locator("form.held-order")).to_be_visible(timeout=WAIT)
    await expect(
        page.locator('.board-row[data-leader="lead-b"]')
    ).to_be_visible()  # the board itself is shared
    await page.wait_for_timeout(500)

    assert any(MINE_HELD["phone"] in frame for frame in frames), (
        "the capture must see the page's own held order"
    )
    needles = [*secrets(STRANGER, STRANGER_HELD, NEIGHBOUR), *fixed.values(), *others, *waybills]
    assert leaked(frames, needles) == {}
    assert leaked([await page.content()], needles) == {}


async def test_a_tracking_page_never_receives_another_orders_data(browser: Any, live: LiveServer) -> None:
    mine = await place(live, "o-track-mine", [("tea", 1)], "lead-a", GUANGZHOU_BUYER)
    page, frames = await open_recording(
        browser, live, "/track/o-track-mine", live.token("order", "o-track-mine")
    )

    # Same leader, same room, same carrier: only the order id tells them apart.
    others = {
        "o-track-same-leader": await place(live, "o-track-same-leader", [("tea", 1)], "lead-a", STRANGER),
        "o-track-held": await place(live, "o-track-held", [("mango", 1)], "lead-a", STRANGER_HELD),
        "o-track-nobody": await place(live, "o-track-nobody", [("tea", 2)], None, NEIGHBOUR),
    }
    waybills = [s["waybill"] for answer in others.values() for s in answer["shipments"] if s["waybill"]]
    now = datetime.now(UTC)
    for answer in others.values():
        for parcel in answer["shipments"]:
            if parcel["waybill"]:
                await live.http.post(
                    "/api/v1/tracking",
                    json={
                        "carrier": parcel["carrier"],
                        "waybill": parcel["waybill"],
                        "state": "out_for_delivery",
                        "at": now.isoformat(),
                        "station": "派件员 陈保密 正在派送 体育西路邻居公寓",
                    },
                )

    own = mine["shipments"][0]
    response = await live.http.post(
        "/api/v1/tracking",
        json={
            "carrier": own["carrier"],
            "waybill": own["waybill"],
            "state": "collected",
            "at": now.isoformat(),
            "station": "【广州市】已揽收 自家的快件",
        },
    )
    assert response.status_code == 200, response.text
    await page.wait_for_function("document.body.innerText.includes('自家的快件')", timeout=WAIT)
    await page.wait_for_timeout(500)

    assert any("自家的快件" in frame for frame in frames), "the capture must see the page's own parcel events"
    needles = [*secrets(STRANGER, STRANGER_HELD, NEIGHBOUR), *others, *waybills, "陈保密"]
    assert leaked(frames, needles) == {}
    assert leaked([await page.content()], needles) == {}
