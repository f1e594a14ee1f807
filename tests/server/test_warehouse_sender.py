"""A warehouse's sender block for carrier gateways (issue 14): contact, mobile, district, address on the upsert."""

from __future__ import annotations

from typing import Any

import pytest

SENDER = {"contact": "林仓管", "mobile": "13900000002", "district": "白云区", "address": "机场路88号"}
GZ = {"name": "广州仓", "province": "广东省", "city": "广州市"}


async def test_a_warehouse_keeps_its_sender_block_and_returns_it(service: Any) -> None:
    created = await service.put("/api/v1/warehouses/GZ", {**GZ, **SENDER})
    assert created.status_code == 201, created.text
    assert {k: created.json()[k] for k in SENDER} == SENDER
    renamed = await service.put("/api/v1/warehouses/GZ", {**GZ, "name": "广州白云仓"})  # left out: kept
    assert {k: renamed.json()[k] for k in SENDER} == SENDER
    cleared = await service.put("/api/v1/warehouses/GZ", {**GZ, "contact": None})
    assert cleared.json()["contact"] is None and cleared.json()["mobile"] == SENDER["mobile"]


@pytest.mark.parametrize(("field", "value"), [("mobile", "02087654321"), ("mobile", "1380013800"),
                                              ("mobile", "12800138000"), ("contact", ""),
                                              ("district", "区" * 65), ("address", 5)])
async def test_a_bad_sender_field_is_refused_naming_it(service: Any, field: str, value: Any) -> None:
    before = await service.counts()
    answer = await service.put("/api/v1/warehouses/GZ", {**GZ, **SENDER, field: value})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert await service.counts() == before
