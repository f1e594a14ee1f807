"""The catalog through the HTTP API: idempotent upserts, stock counts, every refusal writing nothing (#3)."""

from __future__ import annotations

from typing import Any

import pytest
from seed import ROOM, order_body, seed_catalog, share_code
from sqlalchemy import select

from store import models


async def outbox_kinds(svc: Any) -> list[str]:
    async with svc.ctx.engine.connect() as conn:
        rows = await conn.execute(select(models.outbox.c.kind).order_by(models.outbox.c.seq))
        return [r.kind for r in rows]


async def refused(
    svc: Any, method: str, path: str, body: Any, status: int, field: str | None, code: str | None = None
) -> dict[str, Any]:
    """Send a request that must be refused; nothing may be written."""
    before = await svc.counts()
    response = await svc.client.request(method, path, json=body)
    assert response.status_code == status, response.text
    error = dict(response.json())
    assert error.get("field") == field and error["detail"]
    if code is not None:
        assert error["error"] == code
    assert await svc.counts() == before
    return error


# --- warehouses ----------------------------------------------------------------------------------------


async def test_warehouse_is_created_then_updated_and_keeps_the_canonical_province_name(service: Any) -> None:
    created = await service.put(
        "/api/v1/warehouses/HZ", {"name": "杭州仓", "province": "浙江", "city": "杭州"}
    )
    assert created.status_code == 201, created.text
    assert created.json() == {
        "warehouse": "HZ",
        "name": "杭州仓",
        "province": "浙江省",
        "city": "杭州",
        "active": True,
        "contact": None,
        "mobile": None,
        "district": None,
        "address": None,
    }
    renamed = await service.put(
        "/api/v1/warehouses/HZ", {"name": "杭州萧山仓", "province": "浙江省", "city": "杭州"}
    )
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "杭州萧山仓"
    assert await outbox_kinds(service) == ["catalog_changed", "catalog_changed"]


async def test_replayed_upsert_answers_the_same_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    await share_code(service, "lead-a")
    writes = [
        ("/api/v1/warehouses/GZ", {"name": "广州仓", "province": "广东省", "city": "广州市"}),
        ("/api/v1/skus/tea", {"name": "明前龙井 250g", "price_cents": 12_800, "category": "snacks"}),
        ("/api/v1/leaders/lead-b", {"name": "李店长", "community": "浦东一号", "upline": "lead-a"}),
        ("/api/v1/rooms/room-1", ROOM),
        ("/api/v1/skus/tea/stock/SH", {"on_hand": 100}),
    ]
    first = [(await service.put(path, body)).json() for path, body in writes]
    before, kinds = await service.counts(), await outbox_kinds(service)
    for (path, body), answer in zip(writes, first, strict=True):
        replay = await service.put(path, body)
        assert replay.status_code == 200 and replay.json() == answer
    link = await service.post("/api/v1/rooms/room-1/links", {"leader": "lead-a", "kind": "live"})
    assert link.status_code == 200
    assert await service.counts() == before and await outbox_kinds(service) == kinds


async def test_warehouse_in_an_unknown_province_or_a_city_of_another_province_is_refused(
    service: Any,
) -> None:
    mars = {"name": "火星仓", "province": "火星", "city": "奥林匹斯"}
    await refused(service, "PUT", "/api/v1/warehouses/X1", mars, 422, "province", "unknown_province")
    hangzhou_in_guangdong = {"name": "错仓", "province": "广东", "city": "杭州"}
    await refused(
        service, "PUT", "/api/v1/warehouses/X1", hangzhou_in_guangdong, 422, "city", "city_not_in_province"
    )
    await refused(
        service,
        "PUT",
        "/api/v1/warehouses/X1",
        {"name": "仓", "province": "广东", "city": "广州", "active": "yes"},
        422,
        "active",
        "invalid_field",
    )


async def test_municipality_warehouse_may_name_the_city_as_the_province(service: Any) -> None:
    response = await service.put(
        "/api/v1/warehouses/CQ", {"name": "重庆仓", "province": "重庆", "city": "重庆"}
    )
    assert response.status_code == 201 and response.json()["province"] == "重庆市"


# --- SKUs and stock ------------------------------------------------------------------------------------


async def test_sku_fields_left_out_keep_their_value_and_null_clears_them(service: Any) -> None:
    first = await service.put(
        "/api/v1/skus/serum",
        {
            "name": "精华",
            "price_cents": 25_900,
            "category": "beauty",
            "presale_when_sold_out": True,
            "low_stock_units": 5,
        },
    )
    assert first.status_code == 201
    repriced = await service.put(
        "/api/v1/skus/serum", {"name": "精华", "price_cents": 19_900, "category": None}
    )
    assert repriced.status_code == 200
    assert repriced.json() == {
        "sku": "serum",
        "name": "精华",
        "price_cents": 19_900,
        "category": None,
        "presale_when_sold_out": True,
        "low_stock_units": 5,
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "price_cents": -1}, "price_cents"),
        ({"name": "x", "price_cents": 9.5}, "price_cents"),
        ({"name": "", "price_cents": 1}, "name"),
        ({"name": "x", "price_cents": 1, "low_stock_units": -3}, "low_stock_units"),
    ],
)
async def test_sku_with_an_invalid_field_is_refused(service: Any, body: dict[str, Any], field: str) -> None:
    await refused(service, "PUT", "/api/v1/skus/new-sku", body, 422, field, "invalid_field")


async def test_stock_count_creates_then_sets_on_hand_and_reads_back_per_warehouse(service: Any) -> None:
    await seed_catalog(service)
    created = await service.put("/api/v1/skus/mango/stock/SH", {"on_hand": 7})
    assert created.status_code == 201
    assert created.json() == {
        "sku": "mango",
        "warehouse": "SH",
        "on_hand": 7,
        "reserved": 0,
        "available": 7,
        "backorders_filled": 0,
    }
    recounted = await service.put("/api/v1/skus/mango/stock/SH", {"on_hand": 3})
    assert recounted.status_code == 200 and recounted.json()["on_hand"] == 3
    host = service.ctx.token("host", "room-1")  # the host of a room selling mango reads its stock too
    read = await service.client.get("/api/v1/skus/mango/stock", headers={"Authorization": f"Bearer {host}"})
    assert read.status_code == 200
    assert read.json() == {
        "sku": "mango",
        "available": 53,
        "warehouses": [
            {"warehouse": "GZ", "on_hand": 50, "reserved": 0, "available": 50, "active": True},
            {"warehouse": "SH", "on_hand": 3, "reserved": 0, "available": 3, "active": True},
        ],
    }


async def test_adjust_replenishes_and_shrinks_on_hand_and_announces_the_new_level(service: Any) -> None:
    await seed_catalog(service)
    up = await service.post("/api/v1/skus/tea/stock/SH/adjust", {"delta": 25, "reason": "到货"})
    down = await service.post("/api/v1/skus/tea/stock/SH/adjust", {"delta": -5, "reason": "破损"})
    assert up.status_code == 200 and up.json()["on_hand"] == 125
    assert down.status_code == 200 and down.json()["on_hand"] == 120
    async with service.ctx.engine.connect() as conn:
        payloads = [
            r.payload
            for r in await conn.execute(
                select(models.outbox.c.payload)
                .where(models.outbox.c.kind == "stock_changed")
                .order_by(models.outbox.c.seq.desc())
                .limit(2)
            )
        ]
    assert [(p["sku"], p["warehouse"], p["on_hand"]) for p in payloads] == [
        ("tea", "SH", 120),
        ("tea", "SH", 125),
    ]


async def test_an_adjustment_retried_with_its_id_adds_the_units_once(service: Any) -> None:
    await seed_catalog(service)
    body = {"delta": 25, "reason": "到货", "adjustment": "adj-0001"}
    first = await service.post("/api/v1/skus/tea/stock/SH/adjust", body)
    before_retry = await service.counts()
    retry = await service.post("/api/v1/skus/tea/stock/SH/adjust", body)
    assert first.status_code == 200 and first.json()["on_hand"] == 125
    assert retry.status_code == 200 and retry.json() == first.json()
    assert await service.counts() == before_retry  # the retry wrote nothing, not even an outbox event
    stock = await service.client.get("/api/v1/skus/tea/stock")
    assert next(w for w in stock.json()["warehouses"] if w["warehouse"] == "SH")["on_hand"] == 125
    another = {"delta": 25, "reason": "到货", "adjustment": "adj-0002"}  # a new id is a new delivery
    assert (await service.post("/api/v1/skus/tea/stock/SH/adjust", another)).json()["on_hand"] == 150


async def test_an_adjustment_id_reused_for_another_change_is_refused_and_changes_nothing(
    service: Any,
) -> None:
    await seed_catalog(service)
    made = await service.post(
        "/api/v1/skus/tea/stock/SH/adjust", {"delta": 5, "reason": "到货", "adjustment": "a-1"}
    )
    assert made.status_code == 200, made.text
    for path, delta in (("/api/v1/skus/tea/stock/SH/adjust", 6), ("/api/v1/skus/tea/stock/GZ/adjust", 5)):
        await refused(
            service,
            "POST",
            path,
            {"delta": delta, "reason": "到货", "adjustment": "a-1"},
            409,
            "adjustment",
            "idempotency_conflict",
        )


async def test_stock_may_not_be_counted_below_what_unshipped_orders_hold(service: Any) -> None:
    await seed_catalog(service)
    placed = await service.post("/api/v1/orders", order_body("o-1", "v-1", [("mango", 4)]))
    assert placed.status_code == 201, placed.text
    await refused(
        service, "PUT", "/api/v1/skus/mango/stock/GZ", {"on_hand": 3}, 409, "on_hand", "below_reserved"
    )
    shrink = {"delta": -47, "reason": "盘亏"}
    await refused(
        service, "POST", "/api/v1/skus/mango/stock/GZ/adjust", shrink, 409, "delta", "below_reserved"
    )
    exactly = await service.put("/api/v1/skus/mango/stock/GZ", {"on_hand": 4})
    assert exactly.status_code == 200 and exactly.json()["available"] == 0


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "field"),
    [
        ("PUT", "/api/v1/skus/ghost/stock/SH", {"on_hand": 1}, 404, "sku"),
        ("PUT", "/api/v1/skus/tea/stock/NOPE", {"on_hand": 1}, 404, "warehouse"),
        ("POST", "/api/v1/skus/ghost/stock/SH/adjust", {"delta": 1, "reason": "x"}, 404, "sku"),
        ("POST", "/api/v1/skus/tea/stock/SH/adjust", {"delta": 0, "reason": "x"}, 422, "delta"),
        ("POST", "/api/v1/skus/tea/stock/SH/adjust", {"delta": 3, "reason": ""}, 422, "reason"),
        ("POST", "/api/v1/skus/tea/stock/SH/adjust", {"delta": 3, "reason": "x" * 201}, 422, "reason"),
        ("POST", "/api/v1/skus/tea/stock/SH/adjust", {"delta": 3}, 422, "reason"),
    ],
)
async def test_stock_change_with_an_unknown_id_or_a_bad_body_is_refused(
    service: Any, method: str, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    await seed_catalog(service)
    await refused(service, method, path, body, status, field)


async def test_stock_of_an_unknown_sku_is_not_found(service: Any) -> None:
    response = await service.client.get("/api/v1/skus/ghost/stock")
    assert response.status_code == 404 and response.json()["field"] == "sku"


# --- leaders -------------------------------------------------------------------------------------------


async def test_leader_with_a_pickup_point_is_stored_with_the_canonical_province(service: Any) -> None:
    await seed_catalog(service)
    point = {
        "name": "花城驿站",
        "province": "广东",
        "city": "广州市",
        "district": "天河区",
        "address": "花城大道8号",
    }
    body = {"name": "赵团长", "upline": "lead-b", "pickup_point": point}
    created = await service.put("/api/v1/leaders/lead-d", body)
    assert created.status_code == 201, created.text
    assert created.json()["pickup_point"]["province"] == "广东省"
    assert created.json()["upline"] == "lead-b" and created.json()["community"] is None


async def test_leader_upline_must_exist_and_must_not_make_a_loop(service: Any) -> None:
    await seed_catalog(service)  # lead-b's upline is lead-a
    await refused(
        service,
        "PUT",
        "/api/v1/leaders/lead-x",
        {"name": "新人", "upline": "ghost"},
        404,
        "upline",
        "not_found",
    )
    for upline in ("lead-b", "lead-a"):  # a downline, or the leader themselves
        await refused(
            service,
            "PUT",
            "/api/v1/leaders/lead-a",
            {"name": "王团长", "upline": upline},
            422,
            "upline",
            "upline_loop",
        )
    moved = await service.put("/api/v1/leaders/lead-c", {"name": "陈主理人", "upline": "lead-b"})
    assert moved.status_code == 200 and moved.json()["upline"] == "lead-b"


async def test_leader_pickup_point_in_an_unknown_province_is_refused(service: Any) -> None:
    point = {"name": "驿站", "province": "火星", "city": "x", "district": "y", "address": "z"}
    body = {"name": "某团长", "pickup_point": point}
    await refused(service, "PUT", "/api/v1/leaders/lead-z", body, 422, "pickup_point.province")


# --- rooms ---------------------------------------------------------------------------------------------


async def test_room_is_stored_with_its_rates_and_gmv_tiers_in_threshold_order(service: Any) -> None:
    await seed_catalog(service)
    low, high = {"gmv_cents": 100_000, "bonus_bp": 100}, {"gmv_cents": 500_000, "bonus_bp": 200}
    body = {
        **ROOM,
        "skus": ["tea", "mango", "tea"],
        "starts_at": "2026-11-24T20:00:00+08:00",
        "ends_at": None,
        "gmv_tiers": [high, low],
        "binding": {"mode": "last_touch"},
    }
    created = await service.put("/api/v1/rooms/room-2", body)
    assert created.status_code == 201, created.text
    room = created.json()
    assert room["skus"] == ["tea", "mango"]
    assert room["starts_at"] == "2026-11-24T12:00:00+00:00"
    assert room["gmv_tiers"] == [low, high]
    assert room["binding"] == {"mode": "last_touch", "protection_days": 7}
    assert (await service.put("/api/v1/rooms/room-2", body)).json() == room


@pytest.mark.parametrize(
    ("changes", "status", "field"),
    [
        ({"skus": ["tea", "ghost"]}, 404, "skus[1]"),
        ({"ends_at": "2026-11-23T11:00:00+00:00"}, 422, "ends_at"),
        ({"starts_at": "2026-11-23T12:00:00"}, 422, "starts_at"),
        ({"base_rate_bp": 10_001}, 422, "base_rate_bp"),
        ({"team_rate_bp": -1}, 422, "team_rate_bp"),
        (
            {"gmv_tiers": [{"gmv_cents": 100, "bonus_bp": 10}, {"gmv_cents": 100, "bonus_bp": 20}]},
            422,
            "gmv_tiers",
        ),
        ({"binding": {"mode": "forever"}}, 422, "binding.mode"),
        ({"after_sale_days": -1}, 422, "after_sale_days"),
    ],
)
async def test_room_with_an_unknown_sku_or_invalid_terms_is_refused(
    service: Any, changes: dict[str, Any], status: int, field: str
) -> None:
    await seed_catalog(service)
    await refused(service, "PUT", "/api/v1/rooms/room-2", {**ROOM, **changes}, status, field)


# --- deals and links -----------------------------------------------------------------------------------


async def test_deal_keeps_the_units_already_sold_and_its_quota_may_not_drop_below_them(service: Any) -> None:
    await seed_catalog(service)
    created = await service.post(
        "/api/v1/rooms/room-1/deals", {"sku": "tea", "leader": "lead-a", "price_cents": 9_900, "quota": 5}
    )
    assert created.status_code == 201
    assert created.json() == {
        "room": "room-1",
        "sku": "tea",
        "leader": "lead-a",
        "price_cents": 9_900,
        "quota": 5,
        "used": 0,
        "remaining": 5,
    }
    code = await share_code(service, "lead-a")
    placed = await service.post("/api/v1/orders", order_body("o-deal", "v-deal", [("tea", 3)], code=code))
    assert placed.json()["total_cents"] == 3 * 9_900
    await refused(
        service,
        "POST",
        "/api/v1/rooms/room-1/deals",
        {"sku": "tea", "leader": "lead-a", "price_cents": 9_900, "quota": 2},
        409,
        "quota",
        "quota_below_used",
    )
    cheaper = await service.post(
        "/api/v1/rooms/room-1/deals", {"sku": "tea", "leader": "lead-a", "price_cents": 8_800, "quota": 3}
    )
    assert cheaper.status_code == 200
    assert (cheaper.json()["used"], cheaper.json()["remaining"]) == (3, 0)


def deal(sku: str, leader: str) -> dict[str, Any]:
    return {"sku": sku, "leader": leader, "price_cents": 1, "quota": 1}


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/rooms/ghost/deals", deal("tea", "lead-a"), 404, "room"),
        ("/api/v1/rooms/room-1/deals", deal("ghost", "lead-a"), 404, "sku"),
        ("/api/v1/rooms/room-1/deals", deal("tea", "ghost"), 404, "leader"),
        ("/api/v1/rooms/room-2/deals", deal("mango", "lead-a"), 422, "sku"),  # not sold in room-2
        ("/api/v1/rooms/room-1/deals", {**deal("tea", "lead-a"), "price_cents": -1}, 422, "price_cents"),
        ("/api/v1/rooms/room-1/links", {"leader": "ghost", "kind": "live"}, 404, "leader"),
        ("/api/v1/rooms/ghost/links", {"leader": "lead-a", "kind": "live"}, 404, "room"),
        ("/api/v1/rooms/room-1/links", {"leader": "lead-a", "kind": "tv"}, 422, "kind"),
    ],
)
async def test_deal_or_link_naming_an_unknown_id_or_a_bad_value_is_refused(
    service: Any, path: str, body: dict[str, Any], status: int, field: str
) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/rooms/room-2", {**ROOM, "skus": ["tea"]})).status_code == 201
    await refused(service, "POST", path, body, status, field)


async def test_share_link_is_the_same_code_when_asked_again_and_differs_per_kind(service: Any) -> None:
    await seed_catalog(service)
    first = await service.post("/api/v1/rooms/room-1/links", {"leader": "lead-b", "kind": "live"})
    again = await service.post("/api/v1/rooms/room-1/links", {"leader": "lead-b", "kind": "live"})
    replay = await service.post("/api/v1/rooms/room-1/links", {"leader": "lead-b", "kind": "replay"})
    assert (first.status_code, again.status_code, replay.status_code) == (201, 200, 201)
    code = first.json()["code"]
    assert again.json()["code"] == code and replay.json()["code"] != code
    assert first.json()["url"] == f"http://liveroom.test/r/{code}"
    visit = await service.post("/api/v1/visits", {"visitor": "v-link", "code": replay.json()["code"]})
    assert visit.json()["leader"] == "lead-b"  # a replay link attributes like a live one
