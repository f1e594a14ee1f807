"""Every route's real answer matches the model /openapi.json documents for it (server/api/answers.py), strictly and
with no key the model does not name, under a status the document lists: the document cannot drift from what the
server sends. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

import httpx
from growth_seed import check_growth_answers
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, order_body, seed_catalog, share_code

from server.api import answers, review_answers
from server.api.carrier_capacity import CarrierView, CarrierViews
from server.api.openapi import document

BEIJING = "%Y-%m-%d %H:%M:%S"


class Checked:
    """Asks the server, and checks each answer against the document's status list and its model."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.document = document()
        self.seen: set[tuple[str, str]] = set()

    async def call(
        self, method: str, path: str, template: str, model: type[answers.Answer], status: int, **kwargs: Any
    ) -> dict[str, Any]:
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        operation = self.document["paths"][template][method.lower()]
        documented = operation["responses"][str(status)]["content"]["application/json"]["schema"]["$ref"]
        assert documented == f"#/components/schemas/{model.__name__}"
        model.model_validate_json(response.content)  # strict, extra="forbid": raises on any difference
        self.seen.add((method.lower(), template))
        return dict(response.json())


async def check_carrier_answers(api: Checked) -> None:
    """PUT /api/v1/carriers/{carrier} answers one carrier, GET /api/v1/carriers a JSON array of them."""
    await api.call("PUT", "/api/v1/carriers/zto", "/api/v1/carriers/{carrier}", CarrierView, 200,
                   json={"daily_capacity": 500, "cost_cents": 320, "provinces": ["浙江"], "active": True})
    response = await api.client.get("/api/v1/carriers")
    assert response.status_code == 200
    operation = api.document["paths"]["/api/v1/carriers"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("/CarrierViews")
    listed = CarrierViews.model_validate_json(response.content).root
    assert [c.carrier for c in listed if c.carrier == "ZTO"] == ["ZTO"]
    api.seen.add(("get", "/api/v1/carriers"))


def kdniao_form(waybill: str, at: str) -> dict[str, str]:
    data = json.dumps(
        {
            "EBusinessID": "1",
            "PushTime": at,
            "Count": 1,
            "Data": [
                {
                    "ShipperCode": "SF",
                    "LogisticCode": waybill,
                    "State": "2",
                    "Traces": [{"AcceptTime": at, "AcceptStation": "广州转运中心"}],
                }
            ],
        },
        ensure_ascii=False,
    )
    digest = hashlib.md5((data + KDNIAO_APPKEY).encode()).hexdigest()
    return {"RequestData": data, "DataSign": base64.b64encode(digest.encode()).decode(), "RequestType": "101"}


def kuaidi100_form(waybill: str, at: str) -> dict[str, str]:
    param = json.dumps(
        {
            "status": "polling",
            "message": "",
            "lastResult": {
                "com": "shunfeng",
                "nu": waybill,
                "state": "5",
                "data": [{"ftime": at, "context": "派件中"}],
            },
        },
        ensure_ascii=False,
    )
    return {"param": param, "sign": hashlib.md5((param + KUAIDI100_SALT).encode()).hexdigest().upper()}


async def test_every_route_answers_what_the_document_says_it_answers(service: Any) -> None:
    await seed_catalog(service)
    api = Checked(service.client)
    a = answers

    await api.call(
        "PUT",
        "/api/v1/warehouses/HZ",
        "/api/v1/warehouses/{code}",
        a.Warehouse,
        201,
        json={"name": "杭州仓", "province": "浙江", "city": "杭州"},
    )
    await api.call(
        "PUT",
        "/api/v1/warehouses/HZ",
        "/api/v1/warehouses/{code}",
        a.Warehouse,
        200,
        json={"name": "杭州仓", "province": "浙江", "city": "杭州"},
    )
    await api.call(
        "POST",
        "/api/v1/warehouses/HZ/status",
        "/api/v1/warehouses/{code}/status",
        a.WarehouseStatus,
        200,
        json={"active": True},
    )
    await api.call(
        "PUT",
        "/api/v1/skus/pear",
        "/api/v1/skus/{sku}",
        a.Sku,
        201,
        json={"name": "砀山梨", "price_cents": 1990},
    )
    await api.call(
        "PUT",
        "/api/v1/skus/pear/stock/HZ",
        "/api/v1/skus/{sku}/stock/{warehouse}",
        a.StockLevel,
        201,
        json={"on_hand": 10},
    )
    await api.call(
        "POST",
        "/api/v1/skus/pear/stock/HZ/adjust",
        "/api/v1/skus/{sku}/stock/{warehouse}/adjust",
        a.StockLevel,
        200,
        json={"delta": 5, "reason": "到货"},
    )
    await api.call("GET", "/api/v1/skus/tea/stock", "/api/v1/skus/{sku}/stock", a.Stock, 200)
    await api.call(
        "PUT",
        "/api/v1/leaders/lead-d",
        "/api/v1/leaders/{leader}",
        a.Leader,
        201,
        json={
            "name": "赵团长",
            "upline": "lead-a",
            "pickup_point": {
                "name": "驿站",
                "province": "浙江",
                "city": "杭州",
                "district": "西湖区",
                "address": "文三路1号",
            },
        },
    )
    await api.call(
        "PUT",
        "/api/v1/rooms/room-2",
        "/api/v1/rooms/{room}",
        a.Room,
        201,
        json={
            "title": "第二场",
            "starts_at": "2026-11-23T12:00:00+00:00",
            "skus": ["tea", "pear"],
            "base_rate_bp": 800,
            "after_sale_days": 7,
            "gmv_tiers": [{"gmv_cents": 100_000, "bonus_bp": 50}],
            "binding": {"mode": "last_touch"},
        },
    )
    await api.call(
        "POST",
        "/api/v1/rooms/room-1/deals",
        "/api/v1/rooms/{room}/deals",
        a.Deal,
        201,
        json={"sku": "tea", "leader": "lead-b", "price_cents": 9900, "quota": 5},
    )
    link = await api.call(
        "POST",
        "/api/v1/rooms/room-1/links",
        "/api/v1/rooms/{room}/links",
        a.Link,
        201,
        json={"leader": "lead-b", "kind": "live"},
    )
    await api.call(
        "POST",
        "/api/v1/visits",
        "/api/v1/visits",
        a.Visit,
        200,
        json={"visitor": "v-1", "code": link["code"]},
    )

    body = order_body("o-1", "v-1", [("tea", 2)], code=link["code"])
    placed = await api.call("POST", "/api/v1/orders", "/api/v1/orders", a.OrderPlaced, 201, json=body)
    await api.call("POST", "/api/v1/orders", "/api/v1/orders", a.OrderPlaced, 200, json=body)
    await api.call(
        "POST", "/api/v1/orders/o-1/verify", "/api/v1/orders/{order}/verify", a.Verified, 200, json={}
    )
    [parcel] = placed["shipments"]
    now = service.clock()
    await api.call(
        "POST",
        "/api/v1/tracking",
        "/api/v1/tracking",
        a.Tracked,
        200,
        json={
            "carrier": parcel["carrier"],
            "waybill": parcel["waybill"],
            "state": "collected",
            "at": now.isoformat(),
        },
    )
    beijing = (now + timedelta(hours=8, minutes=1)).strftime(BEIJING)
    await api.call(
        "POST",
        "/api/v1/carriers/kdniao/push",
        "/api/v1/carriers/kdniao/push",
        a.KdniaoAnswer,
        200,
        data=kdniao_form(parcel["waybill"], beijing),
    )
    await api.call(
        "POST",
        "/api/v1/carriers/kdniao/push",
        "/api/v1/carriers/kdniao/push",
        a.KdniaoAnswer,
        401,
        data={**kdniao_form(parcel["waybill"], beijing), "DataSign": "forged"},
    )
    later = (now + timedelta(hours=8, minutes=2)).strftime(BEIJING)
    await api.call(
        "POST",
        "/api/v1/carriers/kuaidi100/push",
        "/api/v1/carriers/kuaidi100/push",
        a.Kuaidi100Answer,
        200,
        data=kuaidi100_form(parcel["waybill"], later),
    )
    await api.call(
        "POST",
        "/api/v1/carriers/kuaidi100/push",
        "/api/v1/carriers/kuaidi100/push",
        a.Kuaidi100Answer,
        422,
        data=kuaidi100_form("SF-NOPE!", later),
    )
    refund = await api.call(
        "POST",
        "/api/v1/orders/o-1/after-sales",
        "/api/v1/orders/{order}/after-sales",
        a.AfterSale,
        201,
        json={"kind": "refund", "amount_cents": 100, "reason": "破损"},
    )
    await api.call(
        "POST",
        f"/api/v1/after-sales/{refund['after_sale']}/resolve",
        "/api/v1/after-sales/{after_sale}/resolve",
        a.AfterSale,
        200,
        json={"approved": True},
    )
    await api.call("GET", "/api/v1/orders/o-1", "/api/v1/orders/{order}", a.OrderView, 200)

    other = order_body("o-2", "v-2", [("mango", 1)], code=await share_code(service, "lead-a"))
    await api.call("POST", "/api/v1/orders", "/api/v1/orders", a.OrderPlaced, 201, json=other)
    await api.call("POST", "/api/v1/orders/o-2/cancel", "/api/v1/orders/{order}/cancel", a.Cancelled, 200)
    await api.call(
        "GET",
        "/api/v1/rooms/room-1/leaderboard",
        "/api/v1/rooms/{room}/leaderboard",
        a.Leaderboard,
        200,
        params={"by": "orders", "limit": 5},
    )
    await api.call(
        "GET", "/api/v1/leaders/lead-b/commission", "/api/v1/leaders/{leader}/commission", a.Commission, 200
    )
    await api.call("GET", "/api/v1/rooms/room-1/forecast", "/api/v1/rooms/{room}/forecast", a.Forecast, 200)
    kit = await api.call(
        "GET",
        "/api/v1/leaders/lead-c/kit",
        "/api/v1/leaders/{leader}/kit",
        a.Kit,
        200,
        params={"room": "room-1"},
    )
    poster = await service.client.get(kit["poster_url"])
    documented = api.document["paths"]["/api/v1/leaders/{leader}/kit/poster.png"]["get"]["responses"]["200"]
    assert poster.status_code == 200 and poster.headers["content-type"] in documented["content"]
    api.seen.add(("get", "/api/v1/leaders/{leader}/kit/poster.png"))
    await api.call("GET", "/api/v1/rooms/room-1/reminders", "/api/v1/rooms/{room}/reminders", a.Reminders, 200)
    await api.call(
        "GET", "/api/v1/rooms/room-1/review", "/api/v1/rooms/{room}/review", review_answers.Review, 200
    )
    await api.call("POST", "/api/v1/admin/settle", "/api/v1/admin/settle", a.Settled, 200)
    await api.call(
        "POST",
        "/api/v1/admin/settle",
        "/api/v1/admin/settle",
        a.Settled,
        200,
        json={"as_of": (now + timedelta(days=60)).isoformat()},
    )
    await api.call(
        "POST",
        "/api/v1/admin/tokens/revoke",
        "/api/v1/admin/tokens/revoke",
        a.Revoked,
        200,
        json={"role": "leader", "subject": "lead-b"},
    )
    coupon = {"threshold_cents": 0, "off_cents": 500, "live_only": True, "invited_only": False, "quota": 5}
    coupon_path = "/api/v1/rooms/{room}/coupons/{coupon}"
    await api.call("PUT", "/api/v1/rooms/room-1/coupons/LIVE5", coupon_path, a.Coupon, 201, json=coupon)
    await api.call("PUT", "/api/v1/rooms/room-1/coupons/LIVE5", coupon_path, a.Coupon, 200, json=coupon)
    with_coupon = {**order_body("o-3", "v-3", [("tea", 1)]), "coupon": "LIVE5"}
    await api.call("POST", "/api/v1/orders", "/api/v1/orders", a.OrderPlaced, 201, json=with_coupon)
    questions_path = "/api/v1/rooms/{room}/questions"
    asked = await api.call("POST", "/api/v1/rooms/room-1/questions", questions_path, a.Question, 201,
                           json={"leader": "lead-a", "text": "蓝色的上身看看", "sku": "tea", "question": "q-1"})
    await api.call("POST", "/api/v1/rooms/room-1/questions", questions_path, a.Question, 200,
                   json={"leader": "lead-a", "text": "蓝色的上身看看", "sku": "tea", "question": "q-1"})
    await api.call("POST", f"/api/v1/questions/{asked['question']}/answer", "/api/v1/questions/{question}/answer",
                   a.Question, 200)
    await api.call("GET", "/api/v1/rooms/room-1/questions", questions_path, a.Questions, 200)
    notice = {"text": "广东暴雨，顺延 1 天", "province": "广东", "notice": "n-1"}
    await api.call("POST", "/api/v1/notices", "/api/v1/notices", a.Notice, 201, json=notice)
    await api.call("POST", "/api/v1/notices", "/api/v1/notices", a.Notice, 200, json=notice)
    await api.call("GET", "/api/v1/orders/o-1", "/api/v1/orders/{order}", a.OrderView, 200)
    await api.call("DELETE", "/api/v1/notices/n-1", "/api/v1/notices/{notice}", a.Notice, 200)

    await check_growth_answers(api, service)
    await check_carrier_answers(api)
    metrics = await service.client.get("/metrics", headers={"Authorization": f"Bearer {API_KEY}"})
    documented = api.document["paths"]["/metrics"]["get"]["responses"]["200"]
    assert metrics.status_code == 200 and metrics.headers["content-type"].split(";")[0] in documented["content"]
    assert "liveroom_orders_total" in metrics.text
    api.seen.add(("get", "/metrics"))

    every = {(m, p) for p, ops in api.document["paths"].items() for m in ops}
    assert every - api.seen == set()


async def test_the_masked_order_view_a_tracking_page_reads_matches_the_document_too(service: Any) -> None:
    await seed_catalog(service)
    code = await share_code(service, "lead-a")
    assert (
        await service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)], code=code))
    ).status_code == 201
    token = service.ctx.token("order", "o-1")
    response = await service.client.get("/api/v1/orders/o-1", headers={"Authorization": f"Bearer {token}x"})
    if response.status_code == 200:  # masked: no street, no tracking link
        view = answers.OrderView.model_validate_json(response.content)
        assert view.tracking_url is None and view.buyer.address is None
    else:  # once reads of one order need a credential (issue 10): refused in the error shape
        assert response.status_code in (401, 403) and set(response.json()) >= {"error", "detail"}
