"""Tiered stocking before the pulse through the API (issue 13), on SQLite and PostgreSQL.

A past session (room-1, ended before the promo starts) sold tea 200 units in 10 orders of 20 and mango 10 units in
10 orders of 1. The promo sells tea, mango, serum and jelly; nobody is linked to it, so the forecast falls back to
the room's expected audience: 1000 visitors × 1% = 10 orders.
- tea: core (200 ≥ 150); the forecast, 10 orders × half of them with tea × 20 units × 1.2 = 120, is under
  1.5 × 200 = 300: 300 units, 100 per warehouse (nothing known of the buyers: evenly).
- mango: long tail (10 < 150); forecast 10 × 0.5 × 1 × 1.2 = 6, under the base level 20: 20 units.
- serum, jelly: new; first batch 1000 × 1% / 4 SKUs = 2.5 units, a unit per warehouse: 3, planned over 60 minutes:
  follow up above 0.05 units/min.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from seed import ROOM, START, order_body, seed_catalog

PROMO_START = START + timedelta(days=1)
PROMO = {**ROOM, "title": "双十二大促", "starts_at": PROMO_START.isoformat(), "ends_at": None,
         "skus": ["tea", "mango", "serum", "jelly"],
         "forecast": {"core_units": 150, "expected_audience": 1000, "conversion_bp": 100, "selling_minutes": 60}}


async def _past_session(svc: Any) -> None:
    await seed_catalog(svc)
    assert (await svc.put("/api/v1/skus/jelly", {"name": "椰果果冻", "price_cents": 990,
                                                 "category": "snacks"})).status_code == 201
    for i in range(10):
        for order, items in ((f"t-{i}", [("tea", 20)]), (f"m-{i}", [("mango", 1)])):
            response = await svc.post("/api/v1/orders", order_body(order, f"v-{order}", items))
            assert response.status_code == 201, response.text


async def refused(svc: Any, body: dict[str, Any], field: str) -> None:
    """A room body that must be refused (422 naming the field); nothing may be written."""
    before = await svc.counts()
    response = await svc.client.put("/api/v1/rooms/room-1", json=body)
    assert response.status_code == 422, response.text
    assert response.json().get("field") == field
    assert await svc.counts() == before


def _by_sku(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["sku"]: s for s in answer["skus"]}


async def test_the_promo_forecast_tiers_core_hits_new_products_and_the_long_tail(service: Any) -> None:
    await _past_session(service)
    put = await service.put("/api/v1/rooms/promo", PROMO)
    assert put.status_code == 201, put.text
    assert put.json()["forecast"] == {"core_units": 150, "expected_audience": 1000, "conversion_bp": 100,
                                      "base_units": 20, "selling_minutes": 60}
    answer = (await service.client.get("/api/v1/rooms/promo/forecast")).json()
    assert (answer["leaders"], answer["audience"], answer["audience_source"]) == (0, 1000, "room")
    skus = _by_sku(answer)
    assert skus["tea"]["tier"] == "core" and skus["tea"]["units"] == 300 >= 1.5 * skus["tea"]["peak_units"]
    assert skus["tea"]["reason"] == {"code": "core_peak_x1.5", "peak_units": 200, "floor_units": 300,
                                     "forecast_units": 120}
    assert (skus["mango"]["tier"], skus["mango"]["units"], skus["mango"]["reason"]["code"]) == (
        "long_tail", 20, "long_tail_base")
    for new in ("serum", "jelly"):
        assert (skus[new]["tier"], skus[new]["units"], skus[new]["follow_up_per_min"]) == ("new", 3, 0.05)
        assert skus[new]["reason"]["code"] == "new_first_batch"
    rows = {(r["sku"], r["warehouse"]): r for r in answer["recommendations"]}
    assert {w: rows[("tea", w)]["units"] for w in ("BJ", "GZ", "SH")} == {"BJ": 100, "GZ": 100, "SH": 100}
    assert rows[("jelly", "GZ")]["tier"] == "new" and rows[("jelly", "GZ")]["follow_up_per_min"] == 0.05
    assert rows[("tea", "GZ")]["follow_up_per_min"] is None


async def test_sales_in_a_room_that_has_not_ended_before_the_promo_do_not_make_a_core_hit(service: Any) -> None:
    await _past_session(service)
    # The promo starts before room-1 ends (16:00): room-1 is not a past session, every SKU is new.
    early = {**PROMO, "starts_at": (START + timedelta(hours=1)).isoformat()}
    assert (await service.put("/api/v1/rooms/promo", early)).status_code == 201
    skus = _by_sku((await service.client.get("/api/v1/rooms/promo/forecast")).json())
    assert {s["tier"] for s in skus.values()} == {"new"}


async def test_leaders_without_history_still_get_a_recommendation_from_the_default_audience(service: Any) -> None:
    await seed_catalog(service)  # no order anywhere yet; room-1's leaders have no history
    assert (await service.post("/api/v1/rooms/room-1/links", {"leader": "lead-a", "kind": "live"})).status_code == 201
    answer = (await service.client.get("/api/v1/rooms/room-1/forecast")).json()
    assert answer["recommendations"] != []
    assert (answer["audience"], answer["audience_source"]) == (1000, "room")
    # 1000 × 2% / 3 SKUs = 6.67: 7 units, 3 + 2 + 2 over three warehouses; 240 minutes planned (the room's length).
    assert {s["sku"]: (s["tier"], s["units"]) for s in answer["skus"]} == {
        "tea": ("new", 7), "mango": ("new", 7), "serum": ("new", 7)}
    assert [(r["warehouse"], r["units"]) for r in answer["recommendations"] if r["sku"] == "tea"] == [
        ("BJ", 3), ("GZ", 2), ("SH", 2)]
    assert answer["selling_minutes"] == 240
    assert answer["skus"][0]["follow_up_per_min"] == round(7 / 240, 2)


async def test_forecast_settings_left_out_keep_their_value_and_null_restores_the_defaults(service: Any) -> None:
    await seed_catalog(service)
    set_ = await service.put("/api/v1/rooms/room-1", {**ROOM, "forecast": {"core_units": 50}})
    assert set_.json()["forecast"]["core_units"] == 50
    kept = await service.put("/api/v1/rooms/room-1", {**ROOM, "title": "改个名"})
    assert kept.json()["forecast"]["core_units"] == 50
    cleared = await service.put("/api/v1/rooms/room-1", {**ROOM, "forecast": None})
    assert cleared.json()["forecast"] == {"core_units": 200, "expected_audience": 1000, "conversion_bp": 200,
                                          "base_units": 20, "selling_minutes": None}


async def test_forecast_settings_out_of_range_are_refused_naming_the_field(service: Any) -> None:
    await seed_catalog(service)
    for forecast, field in (({"core_units": 0}, "forecast.core_units"),
                            ({"conversion_bp": 10_001}, "forecast.conversion_bp"),
                            ({"expected_audience": -5}, "forecast.expected_audience"),
                            ({"selling_minutes": 0}, "forecast.selling_minutes"),
                            ({"core_units": "many"}, "forecast.core_units")):
        await refused(service, {**ROOM, "forecast": forecast}, field)
