"""A warehouse outage re-routes unshipped parcels, and replenishment ships presale orders first in first out
(issue #3; routing: "An outage re-plans unshipped orders"; stock: presale ships on replenishment)."""

from __future__ import annotations

from typing import Any

from seed import GUANGZHOU_BUYER, order_body, seed_catalog
from sqlalchemy import select

from server.services import shipping
from store import models
from store.uow import Tx


async def place(svc: Any, order: str, items: list[tuple[str, int]], **kwargs: Any) -> dict[str, Any]:
    response = await svc.post("/api/v1/orders", order_body(order, f"visitor-{order}", items, **kwargs))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def parcels(svc: Any, order: str) -> dict[str, tuple[str, list[list[Any]], str | None]]:
    """The order's parcels as shipment → (warehouse, items, waybill)."""
    response = await svc.client.get(f"/api/v1/orders/{order}")
    assert response.status_code == 200, response.text
    return {
        s["shipment"]: (s["warehouse"], [[i["sku"], i["qty"]] for i in s["items"]], s["waybill"])
        for s in response.json()["shipments"]
        if s["state"] != "cancelled"
    }


async def held_units(svc: Any, sku: str) -> dict[str, tuple[int, int]]:
    """(on_hand, reserved) per warehouse."""
    stock = (await svc.client.get(f"/api/v1/skus/{sku}/stock")).json()
    return {w["warehouse"]: (w["on_hand"], w["reserved"]) for w in stock["warehouses"]}


async def outbox(svc: Any, kind: str) -> list[dict[str, Any]]:
    async with svc.ctx.engine.connect() as conn:
        o = models.outbox
        rows = await conn.execute(select(o.c.payload).where(o.c.kind == kind).order_by(o.c.seq))
        return [r.payload for r in rows]


async def outage(svc: Any, warehouse: str) -> dict[str, Any]:
    response = await svc.post(f"/api/v1/warehouses/{warehouse}/status", {"active": False})
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- outage --------------------------------------------------------------------------------------------


async def test_outage_moves_an_unshipped_order_to_the_next_nearest_warehouse_and_its_stock_with_it(
    service: Any,
) -> None:
    await seed_catalog(service)
    placed = await place(service, "o-1", [("tea", 2)])
    old_waybill = placed["shipments"][0]["waybill"]
    assert placed["shipments"][0]["warehouse"] == "GZ"

    answer = await outage(service, "GZ")

    assert answer == {"warehouse": "GZ", "active": False, "rerouted": 1, "stranded": 0}
    # Shanghai is nearer to Guangzhou than Beijing: the parcel keeps its id and gets a new waybill.
    [(shipment, (warehouse, items, waybill))] = (await parcels(service, "o-1")).items()
    assert (shipment, warehouse, items) == ("o-1-1", "SH", [["tea", 2]])
    assert waybill and waybill != old_waybill
    tea = await held_units(service, "tea")
    assert tea["GZ"] == (100, 0) and tea["SH"] == (100, 2)
    status_events = await outbox(service, "warehouse_status_changed")
    assert [(e["warehouse"], e["active"], e["rerouted_orders"]) for e in status_events] == [("GZ", False, 1)]
    assert (await outbox(service, "shipment_planned"))[-1]["warehouse"] == "SH"


async def test_outage_splits_a_parcel_when_no_single_other_warehouse_can_take_it(service: Any) -> None:
    await seed_catalog(service)
    for warehouse in ("SH", "BJ"):
        assert (await service.put(f"/api/v1/skus/tea/stock/{warehouse}", {"on_hand": 40})).status_code == 200
    await place(service, "o-big", [("tea", 60)])

    answer = await outage(service, "GZ")

    assert (answer["rerouted"], answer["stranded"]) == (1, 0)
    moved = await parcels(service, "o-big")
    assert {s: (w, items) for s, (w, items, _) in moved.items()} == {
        "o-big-1": ("SH", [["tea", 40]]),
        "o-big-2": ("BJ", [["tea", 20]]),
    }
    assert all(waybill for _, _, waybill in moved.values())
    tea = await held_units(service, "tea")
    assert (tea["GZ"][1], tea["SH"][1], tea["BJ"][1]) == (0, 40, 20)


async def test_parcel_no_other_warehouse_can_serve_stays_where_it_is_and_is_counted_stranded(
    service: Any,
) -> None:
    await seed_catalog(service)  # mango is only in Guangzhou
    await place(service, "o-mango", [("mango", 3)])
    before = await parcels(service, "o-mango")

    answer = await outage(service, "GZ")

    assert (answer["rerouted"], answer["stranded"]) == (0, 1)
    assert await parcels(service, "o-mango") == before
    assert (await held_units(service, "mango"))["GZ"] == (50, 3)


async def test_held_order_is_rerouted_without_a_waybill(service: Any) -> None:
    await seed_catalog(service)
    placed = await place(service, "o-held", [("tea", 1)], buyer={**GUANGZHOU_BUYER, "phone": "12345"})
    assert placed["status"] == "held"

    await outage(service, "GZ")

    [(warehouse, _, waybill)] = (await parcels(service, "o-held")).values()
    assert (warehouse, waybill) == ("SH", None)


async def test_outage_called_again_moves_nothing_more(service: Any) -> None:
    await seed_catalog(service)
    await place(service, "o-1", [("tea", 2)])
    await outage(service, "GZ")
    before, tea = await service.counts(), await held_units(service, "tea")

    again = await outage(service, "GZ")

    assert (again["rerouted"], again["stranded"]) == (0, 0)
    assert await service.counts() == before and await held_units(service, "tea") == tea


async def test_shipped_parcel_is_not_rerouted(service: Any) -> None:
    await seed_catalog(service)
    placed = await place(service, "o-gone", [("tea", 1)])
    shipment = placed["shipments"][0]
    service.clock.advance(hours=1)  # collected an hour after the order, reported as it happens
    collected = await service.post(
        "/api/v1/tracking",
        {
            "carrier": shipment["carrier"],
            "waybill": shipment["waybill"],
            "state": "collected",
            "at": "2026-11-23T13:00:00+00:00",
        },
    )
    assert collected.status_code == 200, collected.text

    answer = await outage(service, "GZ")

    assert (answer["rerouted"], answer["stranded"]) == (0, 0)
    assert [w for w, _, _ in (await parcels(service, "o-gone")).values()] == ["GZ"]


async def test_warehouse_back_up_ships_again(service: Any) -> None:
    await seed_catalog(service)
    await outage(service, "GZ")
    assert (await place(service, "o-during", [("tea", 1)]))["shipments"][0]["warehouse"] == "SH"

    back = await service.post("/api/v1/warehouses/GZ/status", {"active": True})

    assert back.json() == {"warehouse": "GZ", "active": True, "rerouted": 0, "stranded": 0}
    assert (await place(service, "o-after", [("tea", 1)]))["shipments"][0]["warehouse"] == "GZ"
    assert [e["active"] for e in await outbox(service, "warehouse_status_changed")] == [False, True]


async def test_turning_a_warehouse_off_through_its_upsert_is_an_outage_too(service: Any) -> None:
    await seed_catalog(service)
    await place(service, "o-1", [("tea", 2)])

    body = {"name": "广州仓", "province": "广东", "city": "广州", "active": False}
    response = await service.put("/api/v1/warehouses/GZ", body)

    assert response.status_code == 200 and response.json()["active"] is False
    assert [w for w, _, _ in (await parcels(service, "o-1")).values()] == ["SH"]


async def test_status_of_an_unknown_warehouse_is_not_found_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    before = await service.counts()
    response = await service.post("/api/v1/warehouses/NOPE/status", {"active": False})
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert await service.counts() == before


# --- presale -------------------------------------------------------------------------------------------


async def sell_out_serum_then_take_two_presale_orders(svc: Any) -> None:
    """serum: 5 units in Shanghai, presale on. o-first takes them; o-two (2 units) then o-one (1) wait."""
    await seed_catalog(svc)
    assert (await place(svc, "o-first", [("serum", 5)]))["presale"] == []
    svc.clock.advance(minutes=1)
    two = await place(svc, "o-two", [("serum", 2)])
    assert (two["shipments"], two["presale"]) == ([], [{"sku": "serum", "qty": 2}])
    svc.clock.advance(minutes=1)
    assert (await place(svc, "o-one", [("serum", 1)]))["presale"] == [{"sku": "serum", "qty": 1}]


async def replenish(svc: Any, units: int, warehouse: str = "SH") -> int:
    response = await svc.post(
        f"/api/v1/skus/serum/stock/{warehouse}/adjust", {"delta": units, "reason": "到货"}
    )
    assert response.status_code in (200, 201), response.text
    return int(response.json()["backorders_filled"])


async def test_replenishing_a_presale_sku_ships_the_oldest_presale_order_first(service: Any) -> None:
    await sell_out_serum_then_take_two_presale_orders(service)

    # One unit would fit the later, smaller order, but it may not overtake the older one.
    assert await replenish(service, 1) == 0
    assert await parcels(service, "o-two") == {} and await parcels(service, "o-one") == {}

    assert await replenish(service, 1) == 1
    [(shipment, (warehouse, items, waybill))] = (await parcels(service, "o-two")).items()
    assert (shipment, warehouse, items) == ("o-two-1", "SH", [["serum", 2]]) and waybill
    assert await parcels(service, "o-one") == {}

    assert await replenish(service, 1) == 1
    assert [items for _, items, _ in (await parcels(service, "o-one")).values()] == [[["serum", 1]]]
    assert (await held_units(service, "serum"))["SH"] == (8, 8)
    assert [e["order"] for e in await outbox(service, "shipment_planned")][-2:] == ["o-two", "o-one"]


async def test_cancelled_presale_order_is_not_served_and_the_next_one_is(service: Any) -> None:
    await sell_out_serum_then_take_two_presale_orders(service)
    assert (await service.post("/api/v1/orders/o-two/cancel")).status_code == 200

    assert await replenish(service, 1) == 1

    assert await parcels(service, "o-two") == {}
    assert [w for w, _, _ in (await parcels(service, "o-one")).values()] == ["SH"]


async def test_a_stock_count_in_another_warehouse_serves_presale_orders_from_there(service: Any) -> None:
    await sell_out_serum_then_take_two_presale_orders(service)

    counted = await service.put("/api/v1/skus/serum/stock/BJ", {"on_hand": 3})

    assert counted.status_code == 201 and counted.json()["backorders_filled"] == 2
    assert counted.json()["reserved"] == 3
    assert [w for w, _, _ in (await parcels(service, "o-two")).values()] == ["BJ"]
    assert [w for w, _, _ in (await parcels(service, "o-one")).values()] == ["BJ"]


async def test_issue_waybills_books_a_held_orders_parcels_once_it_is_verified(service: Any) -> None:
    await seed_catalog(service)
    await place(service, "o-held", [("tea", 1)], buyer={**GUANGZHOU_BUYER, "phone": "12345"})

    async def book(tx: Tx) -> list[shipping.Parcel]:
        order = (await tx.conn.execute(select(models.orders).where(models.orders.c.order == "o-held"))).one()
        s = models.shipments
        rows = list(await tx.conn.execute(select(s).where(s.c.order == "o-held")))
        return await shipping.issue_waybills(tx, service.ctx, shipping.Consignee.of(order, held=False), rows)

    [booked] = await service.ctx.writer.call(book)

    assert booked.waybill and booked.carrier == "SF"  # Guangzhou is tier 1: the next-day carrier
    assert list((await parcels(service, "o-held")).values()) == [("GZ", [["tea", 1]], booked.waybill)]
