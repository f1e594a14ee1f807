"""The catalog a simulated session sells from, and loading it through the public API (idempotent PUTs).

Five warehouses (Shanghai, Guangzhou, Beijing, Chengdu, Wuhan), a dozen SKUs across snacks, fresh fruit and
beauty — one scarce enough to sell out (presale off), one that turns to presale when it runs out — the
leaders, one room with its rates, GMV tiers and community deals, and a share link per leader.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from simulator.client import Api, answer_of
from simulator.people import Leader, make_leaders


@dataclass(frozen=True)
class Warehouse:
    code: str
    name: str
    province: str
    city: str
    # The sender block a carrier gateway prints on the waybill (Kdniao 1007 Sender).
    contact: str
    mobile: str
    district: str
    address: str

    def body(self) -> dict[str, Any]:
        return {"name": self.name, "province": self.province, "city": self.city, "active": True,
                "contact": self.contact, "mobile": self.mobile, "district": self.district, "address": self.address}


WAREHOUSES: tuple[Warehouse, ...] = (
    Warehouse("SH", "华东仓·上海嘉定", "上海市", "上海市", "周仓管", "13800210001", "嘉定区", "马陆镇宝安公路2999号"),
    Warehouse("GZ", "华南仓·广州白云", "广东省", "广州市", "黄仓管", "13800200002", "白云区", "太和镇永兴村物流园8号"),
    Warehouse("BJ", "华北仓·北京大兴", "北京市", "北京市", "赵仓管", "13800100003", "大兴区", "采育镇经济开发区6号库"),
    Warehouse("CD", "西南仓·成都双流", "四川省", "成都市", "何仓管", "13800280004", "双流区", "西航港大道中四段"),
    Warehouse("WH", "华中仓·武汉东西湖", "湖北省", "武汉市", "胡仓管", "13800270005", "东西湖区", "走马岭革新大道"),
)
WAREHOUSE_CITIES = {w.city: w.code for w in WAREHOUSES}
OUTAGE_WAREHOUSE = "WH"  # goes down for a while mid-session; its unshipped parcels are re-routed


@dataclass(frozen=True)
class Sku:
    sku: str
    name: str
    price_cents: int
    category: str
    warehouses: tuple[str, ...]
    popularity: float  # relative share of the calm baseline's order lines
    presale: bool = False
    scarce: bool = False
    low_stock_units: int = 20

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "price_cents": self.price_cents,
            "category": self.category,
            "presale_when_sold_out": self.presale,
            "low_stock_units": self.low_stock_units,
        }


SKUS: tuple[Sku, ...] = (
    Sku("nut-gift", "每日坚果礼盒 750g（30袋）", 12_900, "snacks", ("SH", "GZ", "BJ", "WH"), 1.2),
    Sku("spicy-strips", "麻辣辣条大礼包 1kg", 2_990, "snacks", ("GZ", "WH", "CD"), 1.3),
    Sku("pork-jerky", "靖江猪肉脯 500g", 5_990, "snacks", ("SH", "BJ", "WH"), 1.0),
    Sku("luosifen", "柳州螺蛳粉 5袋装", 3_990, "snacks", ("GZ", "CD", "WH"), 1.1),
    Sku(
        "shine-grape",
        "阳光玫瑰青提 2斤礼盒",
        8_990,
        "fresh",
        ("SH", "CD"),
        0.7,
        scarce=True,
        low_stock_units=5,
    ),
    Sku("navel-orange", "赣南脐橙 10斤 果径75mm+", 4_990, "fresh", ("GZ", "WH", "CD", "SH"), 1.3),
    Sku("guifei-mango", "海南贵妃芒 5斤", 3_990, "fresh", ("GZ", "CD"), 1.0),
    Sku("cherry", "智利车厘子 JJ级 2斤", 15_900, "fresh", ("SH", "BJ", "GZ"), 0.8),
    Sku(
        "hyaluronic-mask",
        "玻尿酸补水面膜 20片",
        9_900,
        "beauty",
        ("SH", "BJ"),
        0.8,
        presale=True,
        low_stock_units=10,
    ),
    Sku("repair-serum", "修护精华液 30ml", 25_900, "beauty", ("SH", "GZ", "BJ", "CD"), 0.6),
    Sku("sunscreen", "清透防晒乳 SPF50+ 50ml", 12_800, "beauty", ("SH", "GZ", "CD"), 0.7),
    Sku("lip-set", "丝绒口红礼盒 3支", 19_900, "beauty", ("SH", "BJ", "GZ"), 0.5),
)
SKU_BY_ID = {s.sku: s for s in SKUS}
SCARCE = next(s.sku for s in SKUS if s.scarce)
PRESALE = next(s.sku for s in SKUS if s.presale)


def pitch_order(rng: random.Random) -> list[str]:
    """Which SKU the host pitches in each pulse: the scarce one first (it sells out on air), then the presale
    one, then the others in a shuffled order, over and over."""
    rest = [s.sku for s in SKUS if not s.scarce and not s.presale]
    rng.shuffle(rest)
    return [SCARCE, PRESALE, *rest]


def initial_stock(sku: Sku, orders: int) -> int:
    """Units per warehouse, sized on the session: the scarce SKU sells out early in its pitch, the presale one
    runs out during its pitch, the rest last (with a replenishment now and then)."""
    if sku.scarce:
        return max(4, math.ceil(orders * 0.06 / len(sku.warehouses)))
    if sku.presale:
        return max(5, math.ceil(orders * 0.08 / len(sku.warehouses)))
    return max(60, math.ceil(orders * 0.15))


@dataclass
class Catalog:
    room: str
    leaders: list[Leader]
    popularity: list[str]  # leader ids, most popular first (the power law is applied along this list)
    codes: dict[str, str] = field(default_factory=dict)  # leader → share code
    stock: dict[tuple[str, str], int] = field(default_factory=dict)  # (sku, warehouse) → units put on hand
    deals: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # optional room fields the server refused (422)

    @property
    def by_id(self) -> dict[str, Leader]:
        return {leader.leader: leader for leader in self.leaders}


def plan_catalog(rng: random.Random, room: str, leaders: int, orders: int) -> Catalog:
    people = make_leaders(rng, leaders)
    popularity = [leader.leader for leader in people]
    rng.shuffle(popularity)
    catalog = Catalog(room=room, leaders=people, popularity=popularity)
    for sku in SKUS:
        for warehouse in sku.warehouses:
            catalog.stock[(sku.sku, warehouse)] = initial_stock(sku, orders)
    deal_skus = ("navel-orange", "guifei-mango", "spicy-strips")
    for leader, deal_sku in zip(popularity[:3], deal_skus, strict=False):
        price = SKU_BY_ID[deal_sku].price_cents
        catalog.deals.append(
            {
                "sku": deal_sku,
                "leader": leader,
                "price_cents": price * 8 // 10,
                "quota": max(10, orders // 40),
            }
        )
    return catalog


def busiest_leader(seed: int, leaders: int, room: str = "live-1") -> str:
    """The leader whose link brings the most visitors in a session with this seed (for the demo's leader
    screen): the catalog's leaders and their popularity depend on the seed and the count only."""
    return plan_catalog(random.Random(f"{seed}:catalog"), room, leaders, 1).popularity[0]


def room_body(starts_at: datetime, hours: float) -> dict[str, Any]:
    return {
        "title": "双十二预热 · 原产地直供直播专场",
        "starts_at": starts_at.isoformat(),
        "ends_at": (starts_at + timedelta(hours=hours)).isoformat(),
        "skus": [s.sku for s in SKUS],
        "base_rate_bp": 800,
        "live_rate_bp": 1200,
        "first_hour_bonus_bp": 200,
        "team_rate_bp": 300,
        "gmv_tiers": [
            {"gmv_cents": 200_000, "bonus_bp": 100},
            {"gmv_cents": 1_000_000, "bonus_bp": 200},
            {"gmv_cents": 5_000_000, "bonus_bp": 300},
        ],
        "after_sale_days": 7,
        "binding": {"mode": "first_touch", "protection_days": 7},
    }


class CatalogError(RuntimeError):
    pass


OPTIONAL_ROOM_FIELDS = ("forecast", "ship_promise")  # dropped from the room's PUT if the server refuses them


def refused_field(body: dict[str, Any], status: int, answer: dict[str, Any]) -> str | None:
    """The optional room field a 422 names (`forecast`, `ship_promise[0].paid_before` → `ship_promise`), when the
    body carries it: the room is PUT again without it. None for any other answer."""
    if status != 422:
        return None
    named = str(answer.get("field") or "")
    head = named.split(".")[0].split("[")[0]
    return head if head in OPTIONAL_ROOM_FIELDS and head in body else None


async def _put_room(api: Api, catalog: Catalog, body: dict[str, Any]) -> Any:
    """The room's PUT; a newer field the server refuses (422 naming it) is left out and the room PUT again."""
    while True:
        answer = await api.put(f"/api/v1/rooms/{catalog.room}", body)
        key = refused_field(body, answer.status_code, answer_of(answer)) if answer is not None else None
        if key is None:
            return answer
        catalog.refused.append(key)
        body = {k: v for k, v in body.items() if k != key}


async def _all(api: Api, calls: list[Any]) -> list[Any]:
    answers = await asyncio.gather(*calls)
    for answer in answers:
        if answer is None or answer.status_code >= 400:
            detail = "no answer" if answer is None else f"{answer.status_code} {answer.text[:300]}"
            raise CatalogError(f"loading the catalog failed: {detail}")
    return list(answers)


async def _put_stock(api: Api, sku: str, warehouse: str, units: int) -> Any:
    """On hand = what earlier sessions still hold reserved + the units this session starts with, so that a
    second run against the same database starts from the same availability."""
    known = await api.get(f"/api/v1/skus/{sku}/stock")
    reserved = 0
    if known is not None and known.status_code == 200:
        for row in known.json().get("warehouses", []):
            if row.get("warehouse") == warehouse:
                reserved = int(row.get("reserved", 0))
    return await api.put(f"/api/v1/skus/{sku}/stock/{warehouse}", {"on_hand": reserved + units})


async def _post_deal(api: Api, room: str, deal: dict[str, Any]) -> Any:
    """A deal from an earlier session may have sold more than this session's quota: top it up instead."""
    answer = await api.post(f"/api/v1/rooms/{room}/deals", deal)
    if answer is not None and answer.status_code == 409 and "quota_below_used" in answer.text:
        sold = re.match(r"\s*(\d+)", str(answer.json().get("detail", "")))
        if sold:
            answer = await api.post(
                f"/api/v1/rooms/{room}/deals", {**deal, "quota": int(sold[1]) + deal["quota"]}
            )
    return answer


async def load_catalog(
    api: Api, catalog: Catalog, starts_at: datetime, hours: float, room_extra: dict[str, Any] | None = None
) -> Catalog:
    """Everything through PUTs and idempotent POSTs, uplines before the leaders that name them; `room_extra`
    adds to the room's body (its growth settings)."""
    await _all(api, [api.put(f"/api/v1/warehouses/{w.code}", w.body()) for w in WAREHOUSES])
    await _all(api, [api.put(f"/api/v1/skus/{s.sku}", s.body()) for s in SKUS])
    await _all(api, [_put_stock(api, sku, wh, units) for (sku, wh), units in catalog.stock.items()])
    heads = [leader for leader in catalog.leaders if leader.upline is None]
    team = [leader for leader in catalog.leaders if leader.upline is not None]
    for group in (heads, team):
        await _all(api, [api.put(f"/api/v1/leaders/{x.leader}", x.body()) for x in group])
    room = room_body(starts_at, hours) | (room_extra or {})
    await _all(api, [_put_room(api, catalog, room)])
    await _all(api, [_post_deal(api, catalog.room, deal) for deal in catalog.deals])
    links = await _all(
        api,
        [
            api.post(f"/api/v1/rooms/{catalog.room}/links", {"leader": x.leader, "kind": "live"})
            for x in catalog.leaders
        ],
    )
    for leader, answer in zip(catalog.leaders, links, strict=True):
        catalog.codes[leader.leader] = str(answer.json()["code"])
    return catalog
