"""/openapi.json describes every route of the API from the same models that validate requests (issue #3)."""

from __future__ import annotations

from typing import Any

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
    ("post", "/api/v1/admin/settle"),
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
