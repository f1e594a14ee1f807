"""A crash loses nothing it acknowledged (issue #10): `liveroom serve` killed with SIGKILL in the middle of an order
burst from 16 clients, then started again on the same database, still has every order it answered 201, and the
stock it holds reserved is exactly the units of the orders that exist. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
from live import SeedClient, served_process
from seed import API_KEY, order_body, seed_catalog

CLIENTS = 16
ORDERS_PER_CLIENT = 30  # at most 480 orders: the kill comes long before
KILL_AFTER = 120  # acknowledged orders
SKUS = ("tea", "mango")  # neither is sold as presale: an order either reserves its units or is refused


def _http(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=20)


async def test_kill_9_mid_burst_loses_no_acknowledged_order_and_reserved_stock_equals_existing_orders(
    database_url: str,
) -> None:
    sent: dict[str, list[tuple[str, int]]] = {}  # every order a client started to send, answered or not
    acknowledged: set[str] = set()
    refused: Counter[int] = Counter()
    killed = asyncio.Event()
    with served_process(database_url) as first:
        async with _http(first.url) as http:
            await seed_catalog(SeedClient(http))

        async def client(number: int) -> None:
            rng = random.Random(number)
            async with _http(first.url) as http:
                for k in range(ORDERS_PER_CLIENT):
                    if killed.is_set():
                        return
                    order = f"crash-{number}-{k}"
                    items = [(rng.choice(SKUS), rng.randint(1, 2))]
                    if rng.random() < 0.3:
                        items.append(("tea", 1))  # the same SKU contended by many, sometimes twice per order
                    sent[order] = items
                    try:
                        response = await http.post(
                            "/api/v1/orders", json=order_body(order, f"visitor-{order}", items)
                        )
                    except httpx.TransportError:
                        return  # the server is gone: this answer never came
                    if response.status_code == 201:
                        acknowledged.add(order)
                    else:
                        assert response.status_code == 409, response.text  # sold out, nothing else
                        refused[response.status_code] += 1

        async def killer() -> None:
            while len(acknowledged) < KILL_AFTER:
                await asyncio.sleep(0.005)
            first.process.kill()  # SIGKILL: no shutdown, no flush, mid-burst
            killed.set()

        clients = asyncio.gather(*(client(n) for n in range(CLIENTS)))
        await asyncio.wait_for(asyncio.gather(clients, killer()), timeout=120)
        assert first.process.wait(timeout=10) == -9

    with served_process(database_url) as second:
        async with _http(second.url) as http:
            existing: set[str] = set()
            for order in sent:
                response = await http.get(f"/api/v1/orders/{order}")
                assert response.status_code in (200, 404), response.text
                if response.status_code == 200:
                    existing.add(order)
            assert acknowledged <= existing  # nothing answered 201 was lost
            units: Counter[str] = Counter()
            for order in existing:
                for sku, qty in sent[order]:
                    units[sku] += qty
            for sku in SKUS:
                stock = (await http.get(f"/api/v1/skus/{sku}/stock")).json()
                assert sum(w["reserved"] for w in stock["warehouses"]) == units[sku], sku
    assert len(acknowledged) >= KILL_AFTER and len(sent) < CLIENTS * ORDERS_PER_CLIENT  # killed mid-burst
