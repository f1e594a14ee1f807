"""The host's stock board carries the pre-stock tier of each SKU and fires a new product's follow-up trigger when it
sells faster than its first batch planned (issue 13, tiered stocking), in Chinese and English frames.

room-1 has no past session and no leader with history: every SKU is new. The room expects 1000 visitors at 1%:
10 orders / 3 SKUs = 3.33 → a first batch of 4 units, planned over 10 minutes: 0.4 units a minute.
"""

from __future__ import annotations

from typing import Any

from seed import ROOM, order_body, seed_catalog

from realtime.projections import Projections
from web.frames import render_frame

TOPIC = "room:room-1:stock"


def row_of(views: Projections, sku: str) -> dict[str, Any]:
    board = views.snapshot(TOPIC)
    assert board is not None
    return next(row for row in board["skus"] if row["sku"] == sku)


def tile_html(views: Projections, sku: str, lang: str) -> str:
    board = views.snapshot(TOPIC)
    assert board is not None
    html = render_frame(TOPIC, "snapshot", board, lang)
    start = html.index(f'data-sku="{sku}"')
    return html[start: html.index("</article>", start)]


async def test_a_new_products_follow_up_alert_shows_once_its_sell_rate_passes_the_first_batchs_plan(
    recorded_app: Any,
) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    forecast = {"expected_audience": 1000, "conversion_bp": 100, "selling_minutes": 10}
    assert (await app.put("/api/v1/rooms/room-1", {**ROOM, "forecast": forecast})).status_code == 200
    await app.follow(views)
    serum = row_of(views, "serum")
    assert (serum["tier"], serum["follow_up_per_min"], serum["follow_up"]) == ("new", 0.4, False)
    assert "新品" in tile_html(views, "serum", "zh-CN") and "追加补货" not in tile_html(views, "serum", "zh-CN")

    # 1 unit in the 5-minute window: 0.2 a minute, under the plan.
    assert (await app.post("/api/v1/orders", order_body("s-1", "v-1", [("serum", 1)]))).status_code == 201
    await app.follow(views)
    assert (row_of(views, "serum")["rate_per_min"], row_of(views, "serum")["follow_up"]) == (0.2, False)

    # 3 units: 0.6 a minute, above 0.4: the trigger fires, on the tile, in both languages.
    assert (await app.post("/api/v1/orders", order_body("s-2", "v-2", [("serum", 2)]))).status_code == 201
    await app.follow(views)
    assert (row_of(views, "serum")["rate_per_min"], row_of(views, "serum")["follow_up"]) == (0.6, True)
    zh, en = tile_html(views, "serum", "zh-CN"), tile_html(views, "serum", "en")
    assert 'data-follow-up="true"' in zh and "追加补货" in zh and "新品" in zh
    assert "REORDER NOW" in en and ">New<" in en
    assert "追加补货" not in tile_html(views, "tea", "zh-CN")  # not selling: no alert on another new product

    app.clock.advance(minutes=5)  # the sales leave the window: the alert goes away by itself
    assert row_of(views, "serum")["follow_up"] is False


async def test_a_core_hit_has_no_new_badge_and_no_follow_up_trigger(recorded_app: Any) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    # room-1 is the past session: it sells tea, then ends; the promo starts after it.
    assert (await app.post("/api/v1/orders", order_body("t-1", "v-1", [("tea", 5)]))).status_code == 201
    promo = {**ROOM, "starts_at": "2026-11-24T12:00:00+00:00", "ends_at": None,
             "forecast": {"core_units": 5}}
    assert (await app.put("/api/v1/rooms/promo", promo)).status_code == 201
    await app.follow(views)
    board = views.snapshot("room:promo:stock")
    assert board is not None
    tiers = {row["sku"]: (row["tier"], row["follow_up_per_min"]) for row in board["skus"]}
    assert tiers["tea"] == ("core", None)
    assert tiers["mango"][0] == "new" and tiers["mango"][1] is not None
    html = render_frame("room:promo:stock", "snapshot", board, "zh-CN")
    tea = html[html.index('data-sku="tea"'):]
    assert 'data-tier="core"' in tea[:400] and "新品" not in tea[: tea.index("</header>")]
