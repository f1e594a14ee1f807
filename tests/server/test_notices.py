"""Delay notices (API.md, "After the pulse"): ops posts a notice for the orders it concerns; every matching order —
placed before or after — shows it until it is withdrawn; on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from seed import API_KEY, GUANGZHOU_BUYER, order_body, seed_catalog
from sqlalchemy import func, select

from store import models

SHANGHAI_BUYER = {**GUANGZHOU_BUYER, "name": "李四", "phone": "13900139000", "province": "上海市", "city": "上海",
                  "district": "浦东新区", "address": "世纪大道100号"}


async def place(service: Any, order: str, items: list[tuple[str, int]], buyer: dict[str, str]) -> dict[str, Any]:
    response = await service.post("/api/v1/orders", order_body(order, f"v-{order}", items, buyer=buyer))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def notices_of(service: Any, order: str) -> list[dict[str, Any]]:
    response = await service.client.get(f"/api/v1/orders/{order}")
    assert response.status_code == 200, response.text
    return list(response.json()["notices"])


async def events(service: Any, kind: str) -> int:
    async with service.ctx.engine.connect() as conn:
        statement = select(func.count()).select_from(models.outbox).where(models.outbox.c.kind == kind)
        return int((await conn.execute(statement)).scalar_one())


async def night(service: Any) -> dict[str, dict[str, Any]]:
    """Two Guangdong orders from GZ (one then cancelled) and one Shanghai order from SH."""
    await seed_catalog(service)
    placed = {
        "o-gz": await place(service, "o-gz", [("mango", 1)], GUANGZHOU_BUYER),
        "o-gz-cancelled": await place(service, "o-gz-cancelled", [("mango", 1)], GUANGZHOU_BUYER),
        "o-sh": await place(service, "o-sh", [("serum", 1)], SHANGHAI_BUYER),
    }
    assert (await service.post("/api/v1/orders/o-gz-cancelled/cancel")).status_code == 200
    assert placed["o-gz"]["shipments"][0]["warehouse"] == "GZ"
    assert placed["o-sh"]["shipments"][0]["warehouse"] == "SH"
    return placed


async def test_a_notice_reaches_the_orders_matching_every_criterion_and_says_how_many(service: Any) -> None:
    placed = await night(service)
    gz_carrier = placed["o-gz"]["shipments"][0]["carrier"]
    by_province = await service.post("/api/v1/notices", {"text": "  广东暴雨，\n顺延 1-2 天 ", "province": "广东"})
    assert by_province.status_code == 201, by_province.text
    body = by_province.json()
    assert (body["orders"], body["text"], body["province"]) == (1, "广东暴雨， 顺延 1-2 天", "广东省")
    assert await notices_of(service, "o-gz") == [
        {"notice": body["notice"], "text": "广东暴雨， 顺延 1-2 天", "at": body["posted_at"]}]
    assert await notices_of(service, "o-sh") == []
    assert await notices_of(service, "o-gz-cancelled") == []  # a cancelled order shows no notice

    service.clock.advance(seconds=1)
    whole_room = await service.post("/api/v1/notices", {"text": "全场延迟发货", "room": "room-1"})
    assert whole_room.json()["orders"] == 2
    service.clock.advance(seconds=1)
    parcel = await service.post("/api/v1/notices", {"text": "广州仓爆仓", "warehouse": "GZ",
                                                    "carrier": gz_carrier.lower(), "room": "room-1"})
    assert (parcel.status_code, parcel.json()["orders"], parcel.json()["carrier"]) == (201, 1, gz_carrier)
    other_carrier = "EMS" if gz_carrier != "EMS" else "SF"
    none = await service.post("/api/v1/notices", {"text": "EMS 广州仓", "warehouse": "GZ", "carrier": other_carrier})
    assert (none.status_code, none.json()["orders"]) == (201, 0)
    assert [n["text"] for n in await notices_of(service, "o-gz")] == [
        "广东暴雨， 顺延 1-2 天", "全场延迟发货", "广州仓爆仓"]
    assert [n["text"] for n in await notices_of(service, "o-sh")] == ["全场延迟发货"]
    assert await events(service, "notice_posted") == 4


async def test_orders_placed_later_that_match_show_the_notice_until_it_is_withdrawn(service: Any) -> None:
    await night(service)
    posted = (await service.post("/api/v1/notices", {"text": "上海仓延迟", "warehouse": "SH"})).json()
    assert posted["orders"] == 1
    await place(service, "o-sh-later", [("serum", 1)], SHANGHAI_BUYER)
    assert [n["notice"] for n in await notices_of(service, "o-sh-later")] == [posted["notice"]]
    withdrawn = await service.client.delete(f"/api/v1/notices/{posted['notice']}")
    assert withdrawn.status_code == 200
    assert withdrawn.json()["withdrawn_at"] is not None
    assert await notices_of(service, "o-sh-later") == []
    assert await notices_of(service, "o-sh") == []
    await place(service, "o-sh-after", [("serum", 1)], SHANGHAI_BUYER)
    assert await notices_of(service, "o-sh-after") == []


async def test_withdrawing_again_answers_the_first_withdrawal_and_an_unknown_notice_is_404(service: Any) -> None:
    await night(service)
    posted = (await service.post("/api/v1/notices", {"text": "延迟", "room": "room-1"})).json()
    first = await service.client.delete(f"/api/v1/notices/{posted['notice']}")
    again = await service.client.delete(f"/api/v1/notices/{posted['notice']}")
    assert (again.status_code, again.json()) == (200, first.json())
    assert await events(service, "notice_withdrawn") == 1
    unknown = await service.client.delete("/api/v1/notices/n-nope")
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    anonymous = await service.client.delete(f"/api/v1/notices/{posted['notice']}",
                                            headers={"Authorization": ""})
    assert anonymous.status_code == 401


async def test_a_notice_posted_again_with_its_own_id_is_posted_once(service: Any) -> None:
    await night(service)
    body = {"text": "延迟", "province": "上海", "notice": "n-mine"}
    assert (await service.post("/api/v1/notices", body)).status_code == 201
    replay = await service.post("/api/v1/notices", {**body, "province": "上海市"})  # the same province
    assert (replay.status_code, replay.json()["notice"], replay.json()["orders"]) == (200, "n-mine", 1)
    other = await service.post("/api/v1/notices", {**body, "text": "别的"})
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_conflict")
    assert await events(service, "notice_posted") == 1


async def test_a_refused_notice_names_its_field_and_writes_nothing(service: Any) -> None:
    await night(service)
    before = await service.counts()
    refused = {
        "room": {"text": "延迟"},  # no criterion at all
        "province": {"text": "延迟", "province": "火星省"},
        "warehouse": {"text": "延迟", "warehouse": "XX"},
        "carrier": {"text": "延迟", "carrier": "S F"},
        "text": {"text": " \n\t ", "room": "room-1"},
    }
    for field, body in refused.items():
        response = await service.post("/api/v1/notices", body)
        assert (response.status_code, response.json().get("field")) == (422, field), (body, response.text)
    unknown_room = await service.post("/api/v1/notices", {"text": "延迟", "room": "room-9"})
    assert (unknown_room.status_code, unknown_room.json()["field"]) == (422, "room")
    too_long = await service.post("/api/v1/notices", {"text": "延" * 501, "room": "room-1"})
    assert (too_long.status_code, too_long.json()["field"]) == (422, "text")
    exactly = {"text": "延" * 500, "room": "room-1"}
    anonymous = await service.client.post("/api/v1/notices", json=exactly, headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong_key = await service.client.post("/api/v1/notices", json=exactly,
                                          headers={"Authorization": f"Bearer {API_KEY}x"})
    assert wrong_key.status_code == 403
    assert await service.counts() == before
    assert (await service.post("/api/v1/notices", exactly)).status_code == 201
