"""A JSON number with a zero fraction is the integer JSON Schema says it is: 118735.0 counts as 118735 in every
integer field, while "2" and 1.5 stay refused (issue 10). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Annotated, Any

import pytest
from pydantic import ConfigDict, TypeAdapter, ValidationError
from seed import order_body, seed_catalog

from server.api import admin, carriers, catalog, orders, visits
from server.api.common import Body


async def test_stock_counted_as_118735_point_0_is_118735_units(service: Any) -> None:
    await seed_catalog(service)
    response = await service.put("/api/v1/skus/tea/stock/SH", {"on_hand": 118735.0})
    assert response.status_code == 200, response.text
    assert response.json()["on_hand"] == 118735


async def test_an_order_of_2_point_0_units_reserves_two(service: Any) -> None:
    await seed_catalog(service)
    body = order_body("o-1", "v-1", [("tea", 1)])
    body["items"] = [{"sku": "tea", "qty": 2.0}]
    response = await service.post("/api/v1/orders", body)
    assert response.status_code == 201, response.text
    assert response.json()["shipments"][0]["items"] == [{"sku": "tea", "qty": 2}]


@pytest.mark.parametrize("qty", ["2", 1.5, True, 2.000001])
async def test_a_quantity_that_is_not_a_whole_number_is_refused(service: Any, qty: Any) -> None:
    await seed_catalog(service)
    body = order_body("o-1", "v-1", [("tea", 1)])
    body["items"] = [{"sku": "tea", "qty": qty}]
    before = await service.counts()
    response = await service.post("/api/v1/orders", body)
    assert response.status_code == 422 and response.json()["field"] == "items[0].qty"
    assert await service.counts() == before


def _integer_fields(model: type[Body]) -> list[tuple[str, Any]]:
    """(model.field, a validator of that field alone, strict like the body) for every integer field, nested too."""
    found = []
    for name, info in model.model_fields.items():
        kinds = getattr(info.annotation, "__args__", (info.annotation,))
        for kind in kinds:
            if isinstance(kind, type) and issubclass(kind, Body):
                found += _integer_fields(kind)
        if int in kinds:
            field = TypeAdapter(Annotated[info.annotation, *info.metadata], config=ConfigDict(strict=True))
            found.append((f"{model.__name__}.{name}", field))
    return found


def test_every_integer_field_of_every_body_takes_a_zero_fraction_and_refuses_text_and_a_half() -> None:
    bodies = {m for module in (admin, carriers, catalog, orders, visits) for m in module.BODIES.values()}
    fields = dict(f for body in bodies for f in _integer_fields(body))
    assert len(fields) >= 15, sorted(fields)
    for name, field in fields.items():
        schema = field.json_schema()
        schema = next((s for s in schema.get("anyOf", [schema]) if s.get("type") == "integer"), schema)
        value = max(1, schema.get("minimum", 1))
        assert field.validate_python(float(value)) == value, name
        for wrong in (str(value), value + 0.5):
            with pytest.raises(ValidationError):
                field.validate_python(wrong)
