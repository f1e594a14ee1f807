"""oversold_units: a flash sale — 2,000 buyers at the same instant for 100 units.

`liveroom serve` on a fresh SQLite file; the room gets a scarce SKU, 100 units split over three warehouses
(40 / 30 / 30) and no presale. Two client processes each hold 1,000 open connections, one buyer each; at an agreed
instant every buyer sends one order (most for one unit, some for two or three). Then the units in 201 answers
are added up and the SKU's stock is read back through the API:

    oversold_units = max(accepted units - 100, reserved units - on hand, -lowest available, 0)

It must be 0. The answers must also account for every unit that left stock (sold units == reserved units), and a
refused buyer must get 409 sold_out.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import orjson

from bench.catalog import Catalog, OrderMaker, seed
from bench.common import (
    API_KEY,
    HOST,
    Channel,
    all_recv,
    api,
    broadcast,
    children,
    liveroom_server,
    sleep_until,
)
from bench.httpload import connect, post_request

SKU = "flash"
STOCK = {"SH": 40, "GZ": 30, "BJ": 30}


async def buyers_client(channel: Channel, port: int, catalog: Catalog, buyers: int, index: int) -> dict[str, Any]:
    maker = OrderMaker(catalog, f"flash{index}", seed=500 + index)
    rng = random.Random(index)
    requests: list[tuple[int, bytes]] = []
    for _ in range(buyers):
        body = maker.body()
        units = 1 if rng.random() < 0.8 else rng.randint(2, 3)
        body["items"] = [{"sku": SKU, "qty": units}]
        body["visitor"] = f"fan-{index}-{maker.n}"
        requests.append((units, post_request(HOST, port, "/api/v1/orders", orjson.dumps(body), API_KEY)))
    channel.send(("ready", buyers))
    go = await channel.recv()
    connections = [await connect(HOST, port) for _ in range(buyers)]  # all open before the go
    await sleep_until(go)

    async def buy(connection: Any, units: int, request: bytes) -> tuple[int, int, str]:
        try:
            status, body = await connection.request(request)
        except ConnectionError:
            return 0, units, "connection lost"
        answer = orjson.loads(body) if body else {}
        return status, units, str(answer.get("status") or answer.get("error") or "")

    results = await asyncio.gather(*(buy(c, u, r) for c, (u, r) in zip(connections, requests, strict=True)))
    for connection in connections:
        connection.close()
    return {"results": results}


def run(*, buyers: int = 2_000, client_procs: int = 2) -> dict[str, Any]:
    units = sum(STOCK.values())
    with liveroom_server() as server:
        async def prepare() -> Catalog:
            async with api(server) as client:
                return await seed(client, leaders=50, linked=50,
                                  extra_skus={SKU: ("限量秒杀 口红礼盒", 9_900, STOCK)})

        catalog = asyncio.run(prepare())
        split = [buyers // client_procs + (1 if i < buyers % client_procs else 0) for i in range(client_procs)]
        with children(buyers_client, [(server.port, catalog, n, i) for i, n in enumerate(split)]) as group:
            all_recv(group, timeout=120)
            broadcast(group, time.monotonic() + 1.0 + buyers / 2_000)
            began = time.monotonic()
            results = [r for child in group for r in child.result(timeout=300)["results"]]
            elapsed = time.monotonic() - began
        stock = httpx.get(f"{server.url}/api/v1/skus/{SKU}/stock", timeout=30,
                          headers={"Authorization": f"Bearer {API_KEY}"}).json()
    accepted_units = sum(u for status, u, _ in results if status == 201)
    statuses: dict[str, int] = {}
    for status, _, what in results:
        key = f"{status} {what}".strip()
        statuses[key] = statuses.get(key, 0) + 1
    on_hand = sum(w["on_hand"] for w in stock["warehouses"])
    reserved = sum(w["reserved"] for w in stock["warehouses"])
    lowest = min(w["available"] for w in stock["warehouses"])
    oversold = max(accepted_units - units, reserved - on_hand, -lowest, 0)
    return {
        "oversold_units": oversold,
        "details": {"buyers": len(results), "stock_units": units, "accepted_units": accepted_units,
                    "reserved_units": reserved, "available_after": stock["available"], "statuses": statuses,
                    "answers_match_stock": accepted_units == reserved, "elapsed_s": round(elapsed, 1)},
    }
