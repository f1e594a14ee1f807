"""Shipping promises through the API (API.md, "After the pulse"): a room's `ship_promise`, each order's `ship_by` in
its answer and in `GET /api/v1/orders/{order}`, a presale order's ship_by following its stock, and refused promises
writing nothing. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from seed import ROOM, order_body, seed_catalog
from sqlalchemy import select

from domain.china_time import CHINA
from store import models

TOMORROW_18 = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"}]


def china(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA)


async def promise_room(svc: Any, rules: list[dict[str, Any]] | None) -> dict[str, Any]:
    response = await svc.put("/api/v1/rooms/room-1", {**ROOM, "ship_promise": rules})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def place(svc: Any, order: str, items: list[tuple[str, int]], at: datetime | None = None) -> dict[str, Any]:
    body = order_body(order, f"visitor-{order}", items, at=at.isoformat() if at else None)
    response = await svc.post("/api/v1/orders", body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def read(svc: Any, order: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/orders/{order}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def when(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


async def test_a_room_keeps_its_promise_sorted_and_answers_it(service: Any) -> None:
    await seed_catalog(service)
    rules = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"},
             {"paid_before": "12:00", "ship_by_days": 0, "ship_by_time": "18:00"}]
    room = await promise_room(service, rules)
    assert [r["paid_before"] for r in room["ship_promise"]] == ["12:00", "20:00"]
    again = await service.put("/api/v1/rooms/room-1", {**ROOM})  # left out: kept
    assert again.json()["ship_promise"] == room["ship_promise"]
    assert (await promise_room(service, None))["ship_promise"] is None  # null: no promise


async def test_an_order_paid_before_the_cutoff_ships_by_tomorrow_in_its_answer_and_its_read(service: Any) -> None:
    await seed_catalog(service)
    await promise_room(service, TOMORROW_18)
    placed = await place(service, "o-early", [("tea", 1)], at=china(23, 19, 30))
    assert when(placed["ship_by"]) == china(24, 18)
    assert placed["ship_by"].endswith("+00:00")  # UTC, as every time the house writes
    assert when((await read(service, "o-early"))["ship_by"]) == china(24, 18)


async def test_an_order_paid_after_the_last_cutoff_ships_the_day_after(service: Any) -> None:
    await seed_catalog(service)
    await promise_room(service, TOMORROW_18)
    placed = await place(service, "o-late", [("tea", 1)], at=china(23, 21))
    assert when(placed["ship_by"]) == china(25, 18)


async def test_an_order_in_a_room_without_a_promise_has_a_null_ship_by(service: Any) -> None:
    await seed_catalog(service)
    placed = await place(service, "o-1", [("tea", 1)])
    assert placed["ship_by"] is None
    assert (await read(service, "o-1"))["ship_by"] is None


async def test_a_presale_order_ships_by_the_promise_read_again_when_its_stock_arrives(service: Any) -> None:
    await seed_catalog(service)
    await promise_room(service, TOMORROW_18)
    await place(service, "o-first", [("serum", 5)], at=china(23, 19))
    waiting = await place(service, "o-wait", [("serum", 1)], at=china(23, 19, 10))
    assert waiting["presale"] == [{"sku": "serum", "qty": 1}]
    assert when(waiting["ship_by"]) == china(24, 18)
    service.clock.set(china(26, 21))  # the stock arrives three days later, after the cut-off
    adjusted = await service.post("/api/v1/skus/serum/stock/SH/adjust", {"delta": 3, "reason": "到货"})
    assert adjusted.json()["backorders_filled"] == 1
    assert when((await read(service, "o-wait"))["ship_by"]) == china(28, 18)
    async with service.ctx.engine.connect() as conn:
        o = models.outbox
        kinds = [r.kind for r in await conn.execute(select(o.c.kind).order_by(o.c.seq))]
        changed = [r.payload for r in await conn.execute(
            select(o.c.payload).where(o.c.kind == "order_ship_by_changed"))]
    assert [(c["order"], when(c["ship_by"])) for c in changed] == [("o-wait", china(28, 18))]
    last = len(kinds) - 1 - kinds[::-1].index("order_ship_by_changed")
    assert "shipment_planned" in kinds[last:]  # announced before the parcel it ships in


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        ([{"paid_before": "25:00", "ship_by_days": 1, "ship_by_time": "18:00"}], "ship_promise[0].paid_before"),
        ([{"paid_before": "20:00", "ship_by_days": 31, "ship_by_time": "18:00"}], "ship_promise[0].ship_by_days"),
        ([{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "6pm"}], "ship_promise[0].ship_by_time"),
        ([{"paid_before": "20:00", "ship_by_days": 1}], "ship_promise[0].ship_by_time"),
        (TOMORROW_18 * 11, "ship_promise"),
        ([{"paid_before": "20:00", "ship_by_days": 0, "ship_by_time": "10:00"}], "ship_promise[0].ship_by_time"),
        ([{"paid_before": "12:00", "ship_by_days": 3, "ship_by_time": "18:00"}, *TOMORROW_18],
         "ship_promise[1].ship_by_time"),
    ],
)
async def test_a_promise_that_cannot_be_kept_is_refused_naming_its_field_and_writes_nothing(
    service: Any, rules: list[dict[str, Any]], field: str
) -> None:
    await seed_catalog(service)
    before = await service.counts()
    async with service.ctx.engine.connect() as conn:
        stored = (await conn.execute(select(models.rooms.c.ship_promise))).scalar_one()
    response = await service.put("/api/v1/rooms/room-1", {**ROOM, "title": "changed", "ship_promise": rules})
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field
    assert await service.counts() == before
    async with service.ctx.engine.connect() as conn:
        row = (await conn.execute(select(models.rooms.c.title, models.rooms.c.ship_promise))).one()
    assert (row.title, row.ship_promise) == (ROOM["title"], stored)
