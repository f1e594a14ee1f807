"""/openapi.json describes every route of the API from the same models that validate requests (issue #3)."""

from __future__ import annotations

from typing import Any

from server.api.common import ID_PATTERN

API_ROUTES = [
    ("put", "/api/v1/warehouses/{code}"),
    ("post", "/api/v1/warehouses/{code}/status"),
    ("put", "/api/v1/skus/{sku}"),
    ("get", "/api/v1/skus/{sku}/stock"),
    ("put", "/api/v1/skus/{sku}/stock/{warehouse}"),
    ("post", "/api/v1/skus/{sku}/stock/{warehouse}/adjust"),
    ("put", "/api/v1/leaders/{leader}"),
    ("put", "/api/v1/rooms/{room}"),
    ("post", "/api/v1/rooms/{room}/deals"),
    ("post", "/api/v1/rooms/{room}/links"),
    ("post", "/api/v1/visits"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{order}"),
    ("post", "/api/v1/orders/{order}/cancel"),
    ("post", "/api/v1/orders/{order}/verify"),
    ("post", "/api/v1/orders/{order}/after-sales"),
    ("post", "/api/v1/after-sales/{after_sale}/resolve"),
    ("post", "/api/v1/carriers/kdniao/push"),
    ("post", "/api/v1/carriers/kuaidi100/push"),
    ("post", "/api/v1/tracking"),
    ("get", "/api/v1/rooms/{room}/leaderboard"),
    ("get", "/api/v1/leaders/{leader}/commission"),
    ("get", "/api/v1/rooms/{room}/forecast"),
    ("get", "/api/v1/leaders/{leader}/kit"),
    ("get", "/api/v1/leaders/{leader}/kit/poster.png"),
    ("get", "/api/v1/rooms/{room}/reminders"),
    ("get", "/api/v1/rooms/{room}/review"),
    ("post", "/api/v1/admin/settle"),
    ("put", "/api/v1/rooms/{room}/coupons/{coupon}"),
    ("post", "/api/v1/rooms/{room}/questions"),
    ("get", "/api/v1/rooms/{room}/questions"),
    ("post", "/api/v1/questions/{question}/answer"),
    ("post", "/api/v1/rooms/{room}/presence"),
    ("put", "/api/v1/rooms/{room}/tasks/{task}"),
    ("post", "/api/v1/rooms/{room}/leaders"),
    ("get", "/api/v1/rooms/{room}/funnel"),
    ("get", "/api/v1/leaders/{leader}/growth"),
    ("get", "/api/v1/leaders/{leader}/prospects"),
    ("put", "/api/v1/leaders/{leader}/prospects/{visitor}"),
    ("get", "/api/v1/visitors/{visitor}/path"),
    ("post", "/api/v1/notices"),
    ("delete", "/api/v1/notices/{notice}"),
    ("put", "/api/v1/carriers/{carrier}"),
    ("get", "/api/v1/carriers"),
]


async def test_openapi_lists_every_route_of_the_contract_with_its_body_schema(service: Any) -> None:
    response = await service.client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    missing = [(m, p) for m, p in API_ROUTES if m not in document["paths"].get(p, {})]
    assert missing == []
    order = document["paths"]["/api/v1/orders"]["post"]
    schema = document["components"]["schemas"][
        order["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    ]
    assert {"order", "room", "visitor", "buyer", "items"} <= set(schema["required"])
    assert "422" in order["responses"] and "409" in order["responses"]


async def test_the_document_states_what_the_server_answers_and_how_to_call_it(service: Any) -> None:
    paths = (await service.client.get("/openapi.json")).json()["paths"]
    placed = paths["/api/v1/orders"]["post"]
    assert {"200", "201", "400", "401", "409", "413", "422", "500"} <= set(placed["responses"])
    assert placed["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/OrderPlaced"
    }
    link = placed["responses"]["201"]["links"]["GetOrder"]
    assert link == {
        "operationId": "get_api_v1_orders_order",
        "parameters": {"order": "$response.body#/order"},
    }
    assert paths["/api/v1/orders/{order}"]["get"]["operationId"] == "get_api_v1_orders_order"
    assert "GetStock" in paths["/api/v1/skus/{sku}"]["put"]["responses"]["201"]["links"]
    [order] = paths["/api/v1/orders/{order}"]["get"]["parameters"]
    assert order["in"] == "path" and order["schema"]["pattern"] == ID_PATTERN
    board = {p["name"]: p for p in paths["/api/v1/rooms/{room}/leaderboard"]["get"]["parameters"]}
    assert board["by"]["schema"]["enum"] == ["gmv", "orders", "invites"] and board["limit"]["in"] == "query"
    assert paths["/api/v1/admin/settle"]["post"]["requestBody"]["required"] is False
    push = paths["/api/v1/carriers/kdniao/push"]["post"]
    form = push["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"RequestData", "DataSign"} <= set(form["required"]) and "RequestType" in form["properties"]
    assert push["security"] == [{"kdniaoDataSign": []}] and "MD5" in push["description"]
    assert push["responses"]["401"]["content"]["application/json"]["schema"]["$ref"].endswith("KdniaoAnswer")
    kuaidi100 = paths["/api/v1/carriers/kuaidi100/push"]["post"]["requestBody"]["content"]
    assert set(kuaidi100["application/x-www-form-urlencoded"]["schema"]["required"]) == {"param", "sign"}
    reads = paths["/api/v1/rooms/{room}/forecast"]["get"]["security"]
    assert {"screenTokenQuery": []} in reads and {"apiKey": []} in reads


async def test_every_route_the_server_serves_is_documented(service: Any) -> None:
    from server.api.openapi import modules

    paths = (await service.client.get("/openapi.json")).json()["paths"]
    served = {
        (m.lower(), r.path) for mod in modules() for r in mod.routes for m in (r.methods or set()) - {"HEAD"}
    }
    assert served == {(m, p) for p, ops in paths.items() for m in ops}
