"""The bench's live room, loaded through the public API, and the orders its buyers place.

Five warehouses, a dozen SKUs across snacks, fresh fruit and beauty, a few hundred leaders (some with uplines,
some with pickup points), one room with rates, GMV tiers and a community deal, and a share link per leader.
Orders are a realistic mix: most come through a share code (a few leaders bring most of them), one to three
SKUs, buyers across real cities, now and then a pickup order at the leader's pickup point.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

ROOM = "room-1"
WAREHOUSES = {
    "SH": {"name": "上海仓", "province": "上海", "city": "上海市"},
    "GZ": {"name": "广州仓", "province": "广东省", "city": "广州市"},
    "BJ": {"name": "北京仓", "province": "北京", "city": "北京"},
    "CD": {"name": "成都仓", "province": "四川省", "city": "成都市"},
    "WH": {"name": "武汉仓", "province": "湖北省", "city": "武汉市"},
}
SKUS = {
    "tea": ("明前龙井 250g", 12_800, "snacks"),
    "nuts": ("每日坚果 30袋", 8_990, "snacks"),
    "jerky": ("手撕牛肉干 500g", 6_800, "snacks"),
    "mooncake": ("流心奶黄月饼礼盒", 15_800, "snacks"),
    "mango": ("贵妃芒 5斤", 5_990, "fresh"),
    "cherry": ("智利车厘子 2斤", 13_900, "fresh"),
    "lychee": ("妃子笑荔枝 3斤", 7_990, "fresh"),
    "kiwi": ("徐香猕猴桃 24枚", 4_990, "fresh"),
    "serum": ("修护精华 30ml", 25_900, "beauty"),
    "mask": ("补水面膜 10片", 9_900, "beauty"),
    "lipstick": ("丝绒唇膏 3.5g", 19_900, "beauty"),
    "cream": ("修护面霜 50g", 32_900, "beauty"),
}
STOCKED_IN = ("SH", "GZ", "BJ", "CD", "WH")
CITIES = [  # province, city, district, street
    ("广东", "广州", "天河区", "天河路385号太古汇1座"),
    ("广东省", "深圳市", "南山区", "科技园南区高新南一道9号"),
    ("上海", "上海市", "浦东新区", "世纪大道100号环球金融中心"),
    ("北京", "北京", "朝阳区", "建国路87号华贸中心3号楼"),
    ("四川省", "成都市", "武侯区", "人民南路四段27号"),
    ("湖北", "武汉", "洪山区", "珞喻路1037号"),
    ("浙江省", "杭州市", "西湖区", "文三路478号华星时代广场"),
    ("江苏", "南京", "鼓楼区", "中山路18号德基广场"),
    ("湖南省", "长沙市", "岳麓区", "麓山南路932号"),
    ("陕西", "西安", "雁塔区", "长安南路199号"),
]
NAMES = ["张伟", "王芳", "李娜", "刘洋", "陈静", "杨帆", "赵磊", "黄丽", "周杰", "吴敏", "徐强", "孙悦"]


def leader_id(i: int) -> str:
    return f"L{i:04d}"


@dataclass
class Catalog:
    """What order makers need to know about the seeded room (picklable: it travels to client processes)."""

    room: str
    skus: list[str]
    codes: list[str]  # share codes, most active leaders first
    pickup_codes: set[str] = field(default_factory=set)
    leaders: list[str] = field(default_factory=list)
    # More rooms (bench/scaleout.py --rooms): room -> its share codes; orders are dealt over them evenly.
    room_codes: dict[str, list[str]] = field(default_factory=dict)
    room_skus: dict[str, list[str]] = field(default_factory=dict)  # room -> the SKUs it sells (default: skus)


def room_body(skus: list[str]) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "title": "双十二预热专场 (bench)",
        "starts_at": (now - timedelta(minutes=30)).isoformat(),
        "ends_at": (now + timedelta(days=1)).isoformat(),
        "skus": skus,
        "base_rate_bp": 1000,
        "live_rate_bp": 1500,
        "first_hour_bonus_bp": 200,
        "team_rate_bp": 300,
        "gmv_tiers": [{"gmv_cents": 1_000_000, "bonus_bp": 100}, {"gmv_cents": 5_000_000, "bonus_bp": 200}],
        "after_sale_days": 7,
        "binding": {"mode": "first_touch", "protection_days": 7},
    }


def leader_body(i: int) -> dict[str, Any]:
    province, city, district, street = CITIES[i % len(CITIES)]
    body: dict[str, Any] = {"name": f"团长{i:04d}", "community": f"{city}{district}第{i % 37 + 1}社区"}
    if i >= 10 and i % 4 == 0:
        body["upline"] = leader_id(i % 10)
    if i % 7 == 3:
        body["pickup_point"] = {"name": f"{district}驿站{i}", "province": province, "city": city,
                                "district": district, "address": street}
    return body


async def _ok(response: httpx.Response) -> httpx.Response:
    if response.status_code not in (200, 201):
        raise RuntimeError(f"{response.request.method} {response.request.url.path}: "
                           f"{response.status_code} {response.text[:300]}")
    return response


async def seed(client: httpx.AsyncClient, *, leaders: int = 300, linked: int = 300, units: int = 10_000_000,
               extra_skus: dict[str, tuple[str, int, dict[str, int]]] | None = None, rooms: int = 1) -> Catalog:
    """Load the room through the API. `extra_skus`: sku -> (name, price, {warehouse: units}), presale off."""
    gate = asyncio.Semaphore(16)

    async def put(path: str, body: dict[str, Any]) -> None:
        async with gate:
            await _ok(await client.put(path, json=body))

    await asyncio.gather(*(put(f"/api/v1/warehouses/{code}", body) for code, body in WAREHOUSES.items()))
    await asyncio.gather(*(put(f"/api/v1/skus/{sku}", {"name": name, "price_cents": price, "category": category,
                                                        "low_stock_units": 50})
                           for sku, (name, price, category) in SKUS.items()))
    await asyncio.gather(*(put(f"/api/v1/skus/{sku}/stock/{warehouse}", {"on_hand": units})
                           for sku in SKUS for warehouse in STOCKED_IN))
    for sku, (name, price, stock) in (extra_skus or {}).items():
        await put(f"/api/v1/skus/{sku}", {"name": name, "price_cents": price, "category": "beauty",
                                          "presale_when_sold_out": False})
        for warehouse, on_hand in stock.items():
            await put(f"/api/v1/skus/{sku}/stock/{warehouse}", {"on_hand": on_hand})
    ids = [leader_id(i) for i in range(leaders)]
    uplines = min(10, leaders)  # L0000..L0009 exist before the leaders that name them
    await asyncio.gather(*(put(f"/api/v1/leaders/{ids[i]}", leader_body(i)) for i in range(uplines)))
    await asyncio.gather(*(put(f"/api/v1/leaders/{ids[i]}", leader_body(i)) for i in range(uplines, leaders)))
    skus = [*SKUS, *(extra_skus or {})]
    await _ok(await client.put(f"/api/v1/rooms/{ROOM}", json=room_body(skus)))
    await _ok(await client.post(f"/api/v1/rooms/{ROOM}/deals", json={
        "sku": "mango", "leader": ids[0], "price_cents": 4_990, "quota": units // 10}))

    async def link(leader: str, room: str = ROOM) -> str:
        async with gate:
            response = await _ok(await client.post(f"/api/v1/rooms/{room}/links",
                                                   json={"leader": leader, "kind": "live"}))
            return str(response.json()["code"])

    chosen = ids[: min(linked, leaders)]
    codes = list(await asyncio.gather(*(link(leader) for leader in chosen)))
    pickup = {code for code, i in zip(codes, range(len(chosen)), strict=True) if "pickup_point" in leader_body(i)}
    room_codes: dict[str, list[str]] = {ROOM: codes} if rooms > 1 else {}
    room_skus: dict[str, list[str]] = {}
    for r in range(2, rooms + 1):
        # Another room of the brand, live at the same time: its own line of products (the same dozen, as SKUs of
        # its own with the same stock), its own deal and share codes (the first 50 leaders: leaders, buyers,
        # warehouses and carriers are shared with every room).
        room = f"room-{r}"
        own = {f"{sku}-r{r}": sku for sku in SKUS}
        await asyncio.gather(*(put(f"/api/v1/skus/{mine}", {
            "name": f"{SKUS[sku][0]} ({r})", "price_cents": SKUS[sku][1], "category": SKUS[sku][2],
            "low_stock_units": 50}) for mine, sku in own.items()))
        await asyncio.gather(*(put(f"/api/v1/skus/{mine}/stock/{warehouse}", {"on_hand": units})
                               for mine in own for warehouse in STOCKED_IN))
        room_skus[room] = list(own)
        await _ok(await client.put(f"/api/v1/rooms/{room}", json=room_body(room_skus[room])))
        await _ok(await client.post(f"/api/v1/rooms/{room}/deals", json={
            "sku": f"mango-r{r}", "leader": ids[0], "price_cents": 4_990, "quota": units // 10}))
        room_codes[room] = list(await asyncio.gather(*(link(leader, room) for leader in chosen[:50])))
        pickup |= {code for code, i in zip(room_codes[room], range(50), strict=False)
                   if "pickup_point" in leader_body(i)}
    return Catalog(ROOM, list(SKUS), codes, pickup, ids, room_codes, room_skus)


class OrderMaker:
    """Order bodies with unique ids `{prefix}-{n}` and the room's realistic mix; deterministic per seed."""

    def __init__(self, catalog: Catalog, prefix: str, seed: int = 1, visitors: int = 50_000) -> None:
        self.catalog = catalog
        self.prefix = prefix
        self.rng = random.Random(seed)
        self.visitors = visitors
        self.n = 0

    def next_id(self) -> str:
        self.n += 1
        return f"{self.prefix}-{self.n}"

    def body(self, order: str | None = None) -> dict[str, Any]:
        rng = self.rng
        order = order or self.next_id()
        catalog = self.catalog
        code = None
        room, codes = catalog.room, catalog.codes
        if catalog.room_codes:
            room = rng.choice(sorted(catalog.room_codes))
            codes = catalog.room_codes[room]
        if codes and rng.random() < 0.85:
            code = codes[int(len(codes) * rng.random() ** 3)]  # power law: a few bring most
        lines = 1 if rng.random() < 0.6 else 2 if rng.random() < 0.75 else 3
        offered = catalog.room_skus.get(room, catalog.skus)
        skus = rng.sample(offered, min(lines, len(offered)))
        province, city, district, street = rng.choice(CITIES)
        body: dict[str, Any] = {
            "order": order,
            "room": room,
            "visitor": f"v{rng.randrange(self.visitors)}",
            "buyer": {"name": rng.choice(NAMES), "phone": f"13{rng.randrange(10**9):09d}", "province": province,
                      "city": city, "district": district, "address": street},
            "items": [{"sku": sku, "qty": 1 if rng.random() < 0.7 else rng.randint(2, 3)} for sku in skus],
            "delivery": "express",
        }
        if code in catalog.pickup_codes and rng.random() < 0.5:
            # A first-time buyer: bound to this leader, whose pickup point it is (a returning visitor may be bound
            # to a leader without one, and the API rightly refuses the order).
            body["delivery"] = "pickup"
            body["visitor"] = f"{self.prefix}-new-{self.n}"
        if code is not None:
            body["code"] = code
        return body

    def encoded(self, order: str | None = None) -> bytes:
        return orjson.dumps(self.body(order))


async def place_orders(client: httpx.AsyncClient, catalog: Catalog, count: int, prefix: str,
                       concurrency: int = 16) -> int:
    """Place `count` orders through the API (to give the screens something to show); returns how many got 201."""
    maker = OrderMaker(catalog, prefix, seed=7)
    gate = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> bool:
        async with gate:
            return (await client.post("/api/v1/orders", json=body)).status_code == 201

    return sum(await asyncio.gather(*(one(maker.body()) for _ in range(count))))
