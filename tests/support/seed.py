"""A small but real catalog, loaded through the public API: three warehouses, a room, leaders with an upline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

API_KEY = "test-api-key"
SECRET = "test-secret"
KDNIAO_APPKEY = "kdniao-test-appkey"
KUAIDI100_SALT = "kuaidi100-test-salt"
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)  # the seeded room goes live at this instant


WAREHOUSES = {
    "SH": {"name": "上海仓", "province": "上海", "city": "上海市"},
    "GZ": {"name": "广州仓", "province": "广东省", "city": "广州市"},
    "BJ": {"name": "北京仓", "province": "北京", "city": "北京"},
}
SKUS = {
    "tea": {"name": "明前龙井 250g", "price_cents": 12_800, "category": "snacks"},
    "mango": {"name": "贵妃芒 5斤", "price_cents": 5_990, "category": "fresh"},
    "serum": {
        "name": "修护精华 30ml",
        "price_cents": 25_900,
        "category": "beauty",
        "presale_when_sold_out": True,
    },
}
LEADERS = {
    "lead-a": {"name": "王团长", "community": "天河花园"},
    "lead-b": {"name": "李店长", "community": "浦东一号", "upline": "lead-a"},
    "lead-c": {
        "name": "陈主理人",
        "community": "朝阳里",
        "pickup_point": {
            "name": "朝阳里驿站",
            "province": "北京",
            "city": "北京",
            "district": "朝阳区",
            "address": "朝阳里小区3号楼底商",
        },
    },
}
ROOM = {
    "title": "双十二预热专场",
    "starts_at": "2026-11-23T12:00:00+00:00",
    "ends_at": "2026-11-23T16:00:00+00:00",
    "skus": list(SKUS),
    "base_rate_bp": 1000,
    "live_rate_bp": 1500,
    "first_hour_bonus_bp": 200,
    "team_rate_bp": 300,
    "gmv_tiers": [{"gmv_cents": 1_000_000, "bonus_bp": 100}],
    "after_sale_days": 7,
    "binding": {"mode": "first_touch", "protection_days": 7},
}
STOCK = {("tea", "SH"): 100, ("tea", "GZ"): 100, ("tea", "BJ"): 100, ("mango", "GZ"): 50, ("serum", "SH"): 5}

GUANGZHOU_BUYER = {
    "name": "张三",
    "phone": "13800138000",
    "province": "广东",
    "city": "广州",
    "district": "天河区",
    "address": "天河路385号太古汇1座",
}


async def seed_catalog(svc: Any) -> None:
    for code, body in WAREHOUSES.items():
        assert (await svc.put(f"/api/v1/warehouses/{code}", body)).status_code in (200, 201)
    for sku, body in SKUS.items():
        assert (await svc.put(f"/api/v1/skus/{sku}", body)).status_code in (200, 201)
    for (sku, warehouse), on_hand in STOCK.items():
        assert (await svc.put(f"/api/v1/skus/{sku}/stock/{warehouse}", {"on_hand": on_hand})).status_code in (
            200,
            201,
        )
    for leader in ("lead-a", "lead-c", "lead-b"):  # an upline exists before its downline names it
        assert (await svc.put(f"/api/v1/leaders/{leader}", LEADERS[leader])).status_code in (200, 201)
    assert (await svc.put("/api/v1/rooms/room-1", ROOM)).status_code in (200, 201)


async def share_code(svc: Any, leader: str, kind: str = "live", room: str = "room-1") -> str:
    response = await svc.post(f"/api/v1/rooms/{room}/links", {"leader": leader, "kind": kind})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["code"])


def order_body(
    order: str,
    visitor: str,
    items: list[tuple[str, int]],
    *,
    code: str | None = None,
    buyer: dict[str, str] | None = None,
    delivery: str = "express",
    at: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "order": order,
        "room": "room-1",
        "visitor": visitor,
        "buyer": buyer or GUANGZHOU_BUYER,
        "items": [{"sku": s, "qty": q} for s, q in items],
        "delivery": delivery,
    }
    if code is not None:
        body["code"] = code
    if at is not None:
        body["at"] = at
    return body
