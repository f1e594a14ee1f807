"""Carrier capacity through the API (issue 13; API.md "After the pulse"): PUT/GET /api/v1/carriers, allocation
within capacity, a carrier marked down, and capacity as a shared counter under concurrency — on SQLite and
PostgreSQL, in one process and in two."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import SeedClient, serve_process
from seed import API_KEY, order_body, seed_catalog
from sqlalchemy import select

from domain.china_time import china_day
from server.services.order_writes import add_carrier_days
from server.services.stock_rows import StockGuardTripped
from store import models
from store.migrate import upgrade

# Guangzhou buyers go next-day (SF) first: SF's capacity is the one raced for; full, its parcels go express.
RACE_ORDERS = 2_000
RACE_CAPACITY = 500
CONCURRENCY = 64


async def carriers(service: Any) -> dict[str, dict[str, Any]]:
    response = await service.client.get("/api/v1/carriers")
    assert response.status_code == 200, response.text
    return {c["carrier"]: c for c in response.json()}


async def carrier_events(service: Any) -> list[dict[str, Any]]:
    async with service.ctx.engine.connect() as conn:
        rows = await conn.execute(select(models.outbox.c.payload).where(models.outbox.c.kind == "carrier_changed"))
        return [dict(r.payload) for r in rows]


async def test_a_carriers_daily_capacity_is_set_and_read_back_with_todays_use(service: Any) -> None:
    await seed_catalog(service)
    put = await service.put("/api/v1/carriers/sf", {"daily_capacity": 3, "cost_cents": 1_200,
                                                     "provinces": ["广东省", "北京"]})
    assert put.status_code == 200, put.text
    assert put.json() == {"carrier": "SF", "daily_capacity": 3, "used_today": 0, "active": True,
                          "exception_rate": 0.0, "cost_cents": 1_200, "provinces": ["广东", "北京"],
                          "load": "ok"}
    for i in range(3):
        assert (await service.post("/api/v1/orders", order_body(f"o-{i}", f"v-{i}", [("tea", 1)]))).status_code == 201
    listed = await carriers(service)
    assert (listed["SF"]["used_today"], listed["SF"]["load"]) == (3, "red")
    assert {"SF", "ZTO", "YTO", "JTSD", "EMS"} <= set(listed)
    assert all(set(c) >= {"carrier", "daily_capacity", "used_today", "active", "exception_rate"}
               for c in listed.values())


async def test_no_carrier_is_given_more_than_its_remaining_capacity_and_the_overflow_goes_elsewhere(
    service: Any,
) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/carriers/SF", {"daily_capacity": 2})).status_code == 200
    placed = [await service.post("/api/v1/orders", order_body(f"o-{i}", f"v-{i}", [("tea", 1)])) for i in range(6)]
    chosen = [r.json()["shipments"][0]["carrier"] for r in placed]
    assert chosen[:2] == ["SF", "SF"] and "SF" not in chosen[2:]
    assert chosen[2:] == ["ZTO", "YTO", "ZTO", "JTSD"]  # the express shares take the overflow


async def test_a_carrier_marked_down_gets_nothing_until_it_is_up(service: Any) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/carriers/SF", {"daily_capacity": None, "active": False})).status_code == 200
    down = await service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)]))
    assert down.json()["shipments"][0]["carrier"] != "SF"
    assert (await carriers(service))["SF"]["active"] is False
    assert (await service.put("/api/v1/carriers/SF", {"daily_capacity": None, "active": True})).status_code == 200
    up = await service.post("/api/v1/orders", order_body("o-2", "v-2", [("tea", 1)]))
    assert up.json()["shipments"][0]["carrier"] == "SF"


async def test_the_same_carrier_settings_again_change_nothing(service: Any) -> None:
    body = {"daily_capacity": 40, "provinces": ["浙江"]}
    for _ in range(3):
        assert (await service.put("/api/v1/carriers/ZTO", body)).status_code == 200
    events = await carrier_events(service)
    assert [(e["carrier"], e["daily_capacity"], e["provinces"]) for e in events] == [("ZTO", 40, ["浙江"])]
    # Left out, a field keeps what is stored.
    assert (await service.put("/api/v1/carriers/ZTO", {"daily_capacity": 50})).json()["provinces"] == ["浙江"]


async def test_carrier_settings_are_refused_naming_the_field_and_nothing_is_written(service: Any) -> None:
    before = await service.counts()
    for path, body, status, field in (
        ("/api/v1/carriers/NOPE", {"daily_capacity": 5}, 404, "carrier"),
        ("/api/v1/carriers/ZTO", {"daily_capacity": -1}, 422, "daily_capacity"),
        ("/api/v1/carriers/ZTO", {"daily_capacity": 2.5}, 422, "daily_capacity"),
        ("/api/v1/carriers/ZTO", {}, 422, "daily_capacity"),
        ("/api/v1/carriers/ZTO", {"daily_capacity": 5, "provinces": ["浙江", "Lilliput"]}, 422, "provinces[1]"),
        ("/api/v1/carriers/ZTO", {"daily_capacity": 5, "cost_cents": -3}, 422, "cost_cents"),
        ("/api/v1/carriers/ZTO", {"daily_capacity": 5, "active": "no"}, 422, "active"),
    ):
        response = await service.put(path, body)
        assert response.status_code == status, (body, response.text)
        assert response.json().get("field") == field, (body, response.text)
    assert await service.counts() == before


async def test_reading_carriers_needs_the_api_key_or_an_ops_token(service: Any) -> None:
    bare = await service.client.get("/api/v1/carriers", headers={"Authorization": ""})
    assert bare.status_code == 401
    host = service.ctx.token("host", "room-1")
    as_host = await service.client.get("/api/v1/carriers", headers={"Authorization": f"Bearer {host}"})
    assert as_host.status_code == 401
    ops = service.ctx.token("ops", "-")
    as_ops = await service.client.get(f"/api/v1/carriers?token={ops}", headers={"Authorization": ""})
    assert as_ops.status_code == 200


# --- capacity is a shared counter ------------------------------------------------------------------------------


async def stock_for_the_race(put: Any, capacity: int = RACE_CAPACITY) -> None:
    assert (await put("/api/v1/skus/tea/stock/GZ", {"on_hand": RACE_ORDERS + 100})).status_code == 200
    assert (await put("/api/v1/carriers/SF", {"daily_capacity": capacity})).status_code == 200


async def race(post: Any, orders: int) -> Counter[str]:
    """`orders` orders, CONCURRENCY at a time; the carriers their parcels were given."""
    gate = asyncio.Semaphore(CONCURRENCY)
    given: Counter[str] = Counter()

    async def buy(i: int) -> None:
        async with gate:
            response = await post(i)
        assert response.status_code == 201, response.text
        given.update(s["carrier"] for s in response.json()["shipments"])

    await asyncio.gather(*(buy(i) for i in range(orders)))
    return given


async def test_two_thousand_concurrent_orders_give_a_carrier_of_capacity_500_at_most_500_parcels(
    service: Any,
) -> None:
    await seed_catalog(service)
    await stock_for_the_race(service.put)
    given = await race(lambda i: service.post("/api/v1/orders", order_body(f"r-{i}", f"v-{i}", [("tea", 1)])),
                       RACE_ORDERS)
    assert given["SF"] == RACE_CAPACITY  # full to the parcel, never past it
    assert sum(given.values()) == RACE_ORDERS
    async with service.ctx.engine.connect() as conn:
        day = china_day(service.clock())
        assigned = (await conn.execute(select(models.carrier_days.c.assigned).where(
            models.carrier_days.c.carrier == "SF", models.carrier_days.c.day == day))).scalar_one()
    assert assigned == RACE_CAPACITY
    assert (await carriers(service))["SF"]["used_today"] == RACE_CAPACITY


async def test_two_thousand_orders_over_two_processes_give_a_carrier_of_capacity_500_exactly_500_parcels(
    database_url: str, tmp_path: Path
) -> None:
    upgrade(database_url)
    with serve_process(database_url) as process_a, serve_process(database_url) as process_b:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx.AsyncClient(base_url=process_a, headers=headers, timeout=120) as a,
            httpx.AsyncClient(base_url=process_b, headers=headers, timeout=120) as b,
        ):
            seed = SeedClient(a)
            await seed_catalog(seed)
            await stock_for_the_race(seed.put)
            given = await race(
                lambda i: (a if i % 2 else b).post("/api/v1/orders", json=order_body(f"r-{i}", f"v-{i}", [("tea", 1)])),
                RACE_ORDERS)
            assert given["SF"] == RACE_CAPACITY  # the two processes' writers share one counter
            assert sum(given.values()) == RACE_ORDERS
            listed = {c["carrier"]: c for c in (await b.get("/api/v1/carriers")).json()}
            assert listed["SF"]["used_today"] == RACE_CAPACITY


async def test_the_database_refuses_a_carrier_count_past_its_capacity_whatever_the_caller_decided(
    service: Any,
) -> None:
    """The guard under the rules: `assigned + n <= capacity` in SQL, so even a writer that decided on stale
    figures cannot take a carrier past its capacity; giving parcels back always works."""
    assert (await service.put("/api/v1/carriers/SF", {"daily_capacity": 3})).status_code == 200
    day = china_day(service.clock())

    async def add(n: int) -> None:
        await service.ctx.writer.call(lambda tx: add_carrier_days(tx, Counter({("SF", day): n})))

    await add(2)
    with pytest.raises(StockGuardTripped):
        await add(2)
    await add(1)
    await add(-1)
    async with service.ctx.engine.connect() as conn:
        assigned = (await conn.execute(select(models.carrier_days.c.assigned).where(
            models.carrier_days.c.carrier == "SF"))).scalar_one()
    assert assigned == 2
