"""Stock never oversells: concurrent buyers racing for the last units (issue #3)."""

from __future__ import annotations

import asyncio
from typing import Any

from seed import order_body, seed_catalog
from sqlalchemy import select

from store import models


async def test_two_hundred_concurrent_orders_for_the_last_fifty_units_accept_exactly_fifty(
    service: Any,
) -> None:
    await seed_catalog(service)
    for warehouse in ("SH", "GZ", "BJ"):
        on_hand = 50 if warehouse == "GZ" else 0
        assert (
            await service.put(f"/api/v1/skus/tea/stock/{warehouse}", {"on_hand": on_hand})
        ).status_code == 200

    async def buy(i: int) -> int:
        response = await service.post("/api/v1/orders", order_body(f"race-{i}", f"visitor-{i}", [("tea", 1)]))
        return response.status_code

    statuses = await asyncio.gather(*(buy(i) for i in range(200)))
    assert statuses.count(201) == 50
    assert statuses.count(409) == 150
    stock = (await service.client.get("/api/v1/skus/tea/stock")).json()
    assert stock["available"] == 0
    gz = next(w for w in stock["warehouses"] if w["warehouse"] == "GZ")
    assert (gz["on_hand"], gz["reserved"], gz["available"]) == (50, 50, 0)
    counts = await service.counts()
    assert counts["orders"] == 50 and counts["shipments"] == 50


async def test_concurrent_orders_share_transactions_and_each_answer_follows_its_commit(service: Any) -> None:
    await seed_catalog(service)
    writer = service.ctx.writer
    batches_before = writer.batches

    async def buy(i: int) -> dict[str, Any]:
        response = await service.post(
            "/api/v1/orders", order_body(f"burst-{i}", f"burst-visitor-{i}", [("tea", 1)])
        )
        assert response.status_code == 201, response.text
        return dict(response.json())

    answers = await asyncio.gather(*(buy(i) for i in range(60)))
    batches = writer.batches - batches_before
    assert batches < 60  # group commit: the burst shared transactions
    async with service.ctx.engine.connect() as conn:  # every answered order is committed and visible
        stored = {row.order for row in await conn.execute(select(models.orders.c.order))}
    assert {a["order"] for a in answers} <= stored
