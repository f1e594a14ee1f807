"""Refusals and outages of a carrier gateway (issue 14): the next carrier, the order held when none is left, the
backoff, the circuit breaker; on SQLite and PostgreSQL against a stand-in gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from seed import START, order_body
from standin_gateway import Gw, gateway_app

from domain.china_time import china_day
from store import models


@pytest.fixture
async def gw(database_url: str) -> AsyncIterator[Gw]:
    async with gateway_app(database_url) as service:
        yield service


async def place(gw: Gw, order: str) -> dict[str, Any]:
    answer = await gw.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)]))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def order(gw: Gw, order_id: str) -> dict[str, Any]:
    answer = await gw.client.get(f"/api/v1/orders/{order_id}")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def carrier_days(gw: Gw) -> dict[str, int]:
    rows = await gw.rows(models.carrier_days, models.carrier_days.c.day == china_day(START))
    return {r.carrier: r.assigned for r in rows if r.assigned}


async def circuit(gw: Gw, carrier: str) -> tuple[str, int]:
    rows = await gw.rows(models.carriers, models.carriers.c.carrier == carrier)
    return (rows[0].circuit, rows[0].gateway_failures) if rows else ("closed", 0)


async def test_a_refusal_moves_the_shipment_to_the_next_carrier_with_its_count(gw: Gw) -> None:
    first = (await place(gw, "o-1"))["shipments"][0]["carrier"]
    assert await carrier_days(gw) == {first: 1}
    gw.gateway.refusing[first] = "超出派送范围"
    await gw.worker.run_once()
    (refused,) = await gw.events("waybill_refused")
    assert refused["carrier"] == first and refused["reason"] == "超出派送范围"
    nxt = refused["next_carrier"]
    assert nxt not in (None, first)
    assert await carrier_days(gw) == {nxt: 1}  # the parcel counts for the carrier that has it now
    await gw.worker.run_once()
    (shipment,) = (await order(gw, "o-1"))["shipments"]
    assert shipment["carrier"] == nxt and shipment["waybill"] == gw.gateway.issued[("o-1-1", nxt)]
    assert gw.gateway.issue_calls("o-1-1") == [first, nxt]  # a refusal is never asked again


async def test_with_every_carrier_refusing_the_order_is_held_with_the_reason(gw: Gw) -> None:
    await place(gw, "o-1")
    gw.gateway.refusing["*"] = "地址不在服务范围"
    for _ in range(8):
        await gw.worker.run_once()
    seen = await order(gw, "o-1")
    assert seen["status"] == "held" and "carrier_refused" in seen["flags"]
    refusals = await gw.events("waybill_refused")
    assert refusals[-1]["next_carrier"] is None and refusals[-1]["reason"] == "地址不在服务范围"
    assert len({r["carrier"] for r in refusals}) == len(refusals)  # each carrier asked once
    (held,) = await gw.events("order_held")
    assert held["flags"] == ["carrier_refused"]
    assert [s["state"] for s in seen["shipments"]] == ["created"]  # held, not awaiting
    assert sum((await carrier_days(gw)).values()) == 1


async def test_the_leaders_fix_of_a_refused_order_requests_a_waybill_again(gw: Gw) -> None:
    await place(gw, "o-1")
    gw.gateway.refusing["*"] = "地址不在服务范围"
    for _ in range(8):
        await gw.worker.run_once()
    gw.gateway.refusing.clear()
    fixed = await gw.post("/api/v1/orders/o-1/verify", {"address": "天河路385号太古汇2座"})
    assert fixed.status_code == 200, fixed.text
    assert [s["state"] for s in fixed.json()["shipments"]] == ["awaiting_waybill"]
    await gw.worker.run_once()
    seen = await order(gw, "o-1")
    assert seen["status"] == "accepted"
    (shipment,) = seen["shipments"]
    assert shipment["waybill"] == gw.gateway.issued[("o-1-1", shipment["carrier"])]
    assert sum((await carrier_days(gw)).values()) == 1


async def test_failures_are_retried_after_a_jittered_exponential_backoff(gw: Gw) -> None:
    carrier = (await place(gw, "o-1"))["shipments"][0]["carrier"]
    gw.gateway.failing.add(carrier)
    waits = []
    for attempts in (1, 2, 3):
        await gw.worker.run_once()
        (request,) = await gw.requests("o-1-1")
        assert request.attempts == attempts and request.state == "queued"
        wait = (request.next_at - gw.clock()).total_seconds()
        ceiling = 2 ** (attempts - 1)
        assert ceiling / 2 <= wait <= ceiling
        assert await gw.worker.run_once() == {}  # not due before its time
        waits.append(wait)
        gw.clock.advance(seconds=wait)
    assert len(gw.gateway.issue_calls("o-1-1")) == 3
    gw.gateway.failing.clear()
    await gw.worker.run_once()
    assert (await order(gw, "o-1"))["shipments"][0]["waybill"]


async def test_the_breaker_opens_after_five_failures_and_new_orders_go_to_other_carriers(gw: Gw) -> None:
    carrier = (await place(gw, "o-1"))["shipments"][0]["carrier"]
    gw.gateway.failing.add(carrier)
    for _ in range(5):
        await gw.worker.run_once()
        gw.clock.advance(seconds=20)  # past any backoff of the first five failures (≤ 16 s)
    assert (await circuit(gw, carrier))[0] == "open"
    (opened,) = await gw.events("gateway_circuit_changed")
    assert opened["carrier"] == carrier and opened["state"] == "open" and opened["failures"] == 5
    # While it is open: no request goes to the carrier, and a new order is routed around it.
    calls = len(gw.gateway.calls)
    assert await gw.worker.run_once() == {}
    assert len(gw.gateway.calls) == calls
    other = (await place(gw, "o-2"))["shipments"][0]["carrier"]
    assert other != carrier
    await gw.worker.run_once()
    assert (await order(gw, "o-2"))["shipments"][0]["waybill"]


async def test_after_the_cool_down_one_trial_closes_the_breaker(gw: Gw) -> None:
    carrier = (await place(gw, "o-1"))["shipments"][0]["carrier"]
    await place(gw, "o-2")
    gw.gateway.failing.add(carrier)
    for _ in range(3):
        await gw.worker.run_once()
        gw.clock.advance(seconds=20)
    assert (await circuit(gw, carrier)) == ("open", 6)
    gw.gateway.failing.clear()
    gw.clock.advance(seconds=31)  # the 30 s cool-down is over
    calls = len(gw.gateway.calls)
    await gw.worker.run_once()
    assert len([c for c in gw.gateway.calls[calls:] if c[0] == "issue"]) >= 1
    assert await circuit(gw, carrier) == ("closed", 0)
    states = [e["state"] for e in await gw.events("gateway_circuit_changed")]
    assert states == ["open", "half_open", "closed"]
    await gw.worker.run_once()
    for placed in ("o-1", "o-2"):
        assert all(s["waybill"] for s in (await order(gw, placed))["shipments"])


async def test_a_failed_trial_opens_the_breaker_again(gw: Gw) -> None:
    carrier = (await place(gw, "o-1"))["shipments"][0]["carrier"]
    await place(gw, "o-2")
    gw.gateway.failing.add(carrier)
    for _ in range(3):
        await gw.worker.run_once()
        gw.clock.advance(seconds=20)
    gw.clock.advance(seconds=31)
    before = len(gw.gateway.calls)
    await gw.worker.run_once()
    assert len(gw.gateway.calls) - before == 1  # one trial, not every waiting request
    rows = await gw.rows(models.carriers, models.carriers.c.carrier == carrier)
    assert rows[0].circuit == "open" and rows[0].circuit_until == gw.clock() + timedelta(seconds=30)
