"""Bad input gets a clear error and changes nothing: every write route, every kind of bad request (issue #3).

Each case counts the rows of every table before and after: a refused request must leave all of them as they were.
"""

from __future__ import annotations

from typing import Any

import pytest
from seed import GUANGZHOU_BUYER, order_body, seed_catalog, share_code

GOOD_ORDER = order_body("o-good", "v-good", [("tea", 1)])
BIG = "x" * (70 * 1024)


def with_(body: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**body, **changes}


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


# (method, path, body or raw bytes, expected status, expected error code, expected field or None)
CASES: list[tuple[str, str, Any, int, str, str | None]] = [
    # orders
    ("POST", "/api/v1/orders", b"{not json", 400, "malformed_json", None),
    ("POST", "/api/v1/orders", b"[1, 2]", 400, "malformed_json", None),
    ("POST", "/api/v1/orders", without(GOOD_ORDER, "visitor"), 422, "missing_field", "visitor"),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, items=[{"sku": "tea", "qty": "2"}]),
        422,
        "invalid_field",
        "items[0].qty",
    ),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, items=[{"sku": "tea", "qty": -1}]),
        422,
        "invalid_field",
        "items[0].qty",
    ),
    ("POST", "/api/v1/orders", with_(GOOD_ORDER, items=[]), 422, "invalid_field", "items"),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, items=[{"sku": "tea", "qty": 1}, {"sku": "nope", "qty": 1}]),
        404,
        "not_found",
        "items[1].sku",
    ),
    ("POST", "/api/v1/orders", with_(GOOD_ORDER, room="no-room"), 404, "not_found", "room"),
    ("POST", "/api/v1/orders", with_(GOOD_ORDER, code="nosuchcode"), 404, "not_found", "code"),
    ("POST", "/api/v1/orders", with_(GOOD_ORDER, delivery="drone"), 422, "invalid_field", "delivery"),
    ("POST", "/api/v1/orders", with_(GOOD_ORDER, at="2026-11-23T12:00:00"), 422, "invalid_field", "at"),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, buyer={**GUANGZHOU_BUYER, "phone": 138}),
        422,
        "invalid_field",
        "buyer.phone",
    ),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, items=[{"sku": "tea", "qty": 1000}]),
        409,
        "sold_out",
        "items[0].sku",
    ),
    (
        "POST",
        "/api/v1/orders",
        with_(GOOD_ORDER, buyer={**GUANGZHOU_BUYER, "notes": BIG}),
        413,
        "too_large",
        None,
    ),
    # visits
    ("POST", "/api/v1/visits", {"visitor": "v1"}, 422, "missing_field", "code"),
    ("POST", "/api/v1/visits", {"visitor": "v1", "code": "nosuchcode"}, 404, "not_found", "code"),
    ("POST", "/api/v1/visits", {"visitor": "", "code": "abc"}, 422, "invalid_field", "visitor"),
    # catalog
    (
        "PUT",
        "/api/v1/warehouses/WH9",
        {"name": "火星仓", "province": "火星", "city": "奥林匹斯"},
        422,
        None,
        "province",
    ),
    ("PUT", "/api/v1/warehouses/WH9", {"province": "上海", "city": "上海"}, 422, "missing_field", "name"),
    ("PUT", "/api/v1/skus/new-sku", {"name": "x", "price_cents": -5}, 422, "invalid_field", "price_cents"),
    ("PUT", "/api/v1/skus/new-sku", {"name": "x", "price_cents": 1.5}, 422, "invalid_field", "price_cents"),
    ("PUT", "/api/v1/skus/tea/stock/NOPE", {"on_hand": 5}, 404, "not_found", None),
    ("PUT", "/api/v1/skus/nope/stock/SH", {"on_hand": 5}, 404, "not_found", None),
    ("PUT", "/api/v1/skus/tea/stock/SH", {"on_hand": -1}, 422, "invalid_field", "on_hand"),
    (
        "POST",
        "/api/v1/skus/tea/stock/SH/adjust",
        {"delta": "10", "reason": "补货"},
        422,
        "invalid_field",
        "delta",
    ),
    (
        "POST",
        "/api/v1/skus/tea/stock/SH/adjust",
        {"delta": 10, "reason": "补货", "adjustment": "no spaces allowed"},
        422,
        "invalid_field",
        "adjustment",
    ),
    ("PUT", "/api/v1/leaders/lead-x", {"name": "新团长", "upline": "ghost"}, 404, "not_found", "upline"),
    ("PUT", "/api/v1/leaders/lead-a", {"name": "王团长", "upline": "lead-b"}, 422, None, "upline"),
    ("PUT", "/api/v1/rooms/room-2", {"title": "t"}, 422, "missing_field", None),
    (
        "POST",
        "/api/v1/rooms/room-1/deals",
        {"sku": "tea", "leader": "ghost", "price_cents": 100, "quota": 5},
        404,
        "not_found",
        "leader",
    ),
    ("POST", "/api/v1/rooms/no-room/links", {"leader": "lead-a", "kind": "live"}, 404, "not_found", None),
    ("POST", "/api/v1/rooms/room-1/links", {"leader": "lead-a", "kind": "tv"}, 422, "invalid_field", "kind"),
    ("POST", "/api/v1/warehouses/NOPE/status", {"active": False}, 404, "not_found", None),
    ("POST", "/api/v1/warehouses/SH/status", {"active": "no"}, 422, "invalid_field", "active"),
    # after the sale
    ("POST", "/api/v1/orders/ghost/cancel", None, 404, "not_found", None),
    (
        "POST",
        "/api/v1/orders/ghost/after-sales",
        {"kind": "refund", "amount_cents": 100, "reason": "x"},
        404,
        "not_found",
        None,
    ),
    ("POST", "/api/v1/after-sales/ghost/resolve", {"approved": True}, 404, "not_found", None),
    (
        "POST",
        "/api/v1/tracking",
        {"carrier": "SF", "waybill": "SF404", "state": "signed", "at": "2026-11-23T12:00:00+00:00"},
        404,
        "not_found",
        "waybill",
    ),
    (
        "POST",
        "/api/v1/tracking",
        {"carrier": "SF", "waybill": "SF404", "state": "teleported", "at": "2026-11-23T12:00:00+00:00"},
        422,
        "invalid_field",
        "state",
    ),
    ("POST", "/api/v1/admin/settle", {"as_of": "yesterday"}, 422, "invalid_field", "as_of"),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code", "field"),
    CASES,
    ids=[f"{c[0]} {c[1]} {c[3]} {c[5] or c[4]}" for c in CASES],
)
async def test_bad_request_is_refused_with_its_error_and_writes_nothing(
    service: Any, method: str, path: str, body: Any, status: int, code: str | None, field: str | None
) -> None:
    await seed_catalog(service)
    await share_code(service, "lead-a")
    before = await service.counts()
    kwargs: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    if isinstance(body, bytes):
        kwargs["headers"] = {"content-type": "application/json"}
    response = await service.client.request(method, path, **kwargs)
    assert response.status_code == status, response.text
    error = response.json()
    if code is not None:
        assert error["error"] == code
    assert error["detail"]
    if field is not None:
        assert error.get("field") == field
    assert await service.counts() == before


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic abc"}],
    ids=["no-token", "wrong-token", "wrong-scheme"],
)
async def test_writes_without_the_api_key_are_refused_and_write_nothing(
    service: Any, headers: dict[str, str]
) -> None:
    await seed_catalog(service)
    before = await service.counts()
    expected = 403 if "wrong-key" in headers.get("Authorization", "") else 401
    for method, path, body in (
        ("POST", "/api/v1/orders", GOOD_ORDER),
        ("PUT", "/api/v1/skus/tea", {"name": "x", "price_cents": 1}),
        ("POST", "/api/v1/admin/settle", {}),
    ):
        response = await service.client.request(
            method, path, json=body, headers={"Authorization": "", **headers}
        )
        assert response.status_code == expected, (path, response.text)
        assert response.json()["error"] in ("unauthorized", "forbidden")
    assert await service.counts() == before


async def test_carrier_push_with_a_bad_signature_is_refused_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    placed = await service.post("/api/v1/orders", GOOD_ORDER)
    waybill = placed.json()["shipments"][0]["waybill"]
    before = await service.counts()
    data = (
        '{"EBusinessID":"1","PushTime":"2026-11-23 20:00:00","Count":1,"Data":[{"ShipperCode":"SF",'
        f'"LogisticCode":"{waybill}","State":"3","StateEx":"301","Traces":[]}}]}}'
    )
    kdniao = await service.client.post(
        "/api/v1/carriers/kdniao/push",
        data={"RequestData": data, "DataSign": "Zm9yZ2Vk", "RequestType": "101"},
    )
    assert kdniao.status_code == 401 and kdniao.json()["Success"] is False
    kuaidi = await service.client.post(
        "/api/v1/carriers/kuaidi100/push", data={"param": '{"status":"polling"}', "sign": "FORGED"}
    )
    assert kuaidi.status_code == 401 and kuaidi.json()["result"] is False
    assert await service.counts() == before


async def test_replayed_order_with_the_same_body_answers_the_same_and_another_body_conflicts(
    service: Any,
) -> None:
    await seed_catalog(service)
    first = await service.post("/api/v1/orders", GOOD_ORDER)
    assert first.status_code == 201
    after_first = await service.counts()
    replay = await service.post("/api/v1/orders", GOOD_ORDER)
    assert replay.status_code == 200 and replay.json() == first.json()
    clash = await service.post("/api/v1/orders", with_(GOOD_ORDER, items=[{"sku": "tea", "qty": 2}]))
    assert clash.status_code == 409 and clash.json()["error"] == "idempotency_conflict"
    assert await service.counts() == after_first
