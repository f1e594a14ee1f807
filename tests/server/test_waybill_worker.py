"""The waybill worker (issue 14): asynchronous and exactly-once waybills from a carrier gateway, on SQLite and
PostgreSQL, against a stand-in gateway (tests/support/standin_gateway.py)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from typing import Any

import pytest
from seed import order_body, seed_catalog
from standin_gateway import Gw, gateway_app

from server.gateways import Outcome
from server.services import waybill_outcomes
from server.services.waybill_worker import call, claim_due
from store import models
from store.engine import create_engine
from store.uow import Writer


@pytest.fixture
async def gw(database_url: str) -> AsyncIterator[Gw]:
    async with gateway_app(database_url) as service:
        yield service


async def place(gw: Gw, order: str, items: list[tuple[str, int]] | None = None, **kw: Any) -> dict[str, Any]:
    answer = await gw.post("/api/v1/orders", order_body(order, f"v-{order}", items or [("tea", 1)], **kw))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


async def shipments(gw: Gw, order: str) -> list[dict[str, Any]]:
    answer = await gw.client.get(f"/api/v1/orders/{order}")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["shipments"])


async def test_an_order_answers_awaiting_waybill_until_the_gateway_issues_it(gw: Gw) -> None:
    placed = await place(gw, "o-1")
    assert [(s["state"], s["waybill"]) for s in placed["shipments"]] == [("awaiting_waybill", None)]
    assert [(s["state"], s["waybill"]) for s in await shipments(gw, "o-1")] == [("awaiting_waybill", None)]
    assert "waybill_requested" in await gw.kinds()
    assert gw.gateway.calls == []  # nothing left the process before the commit, nor in the order's answer

    await gw.worker.run_once()
    (shipment,) = await shipments(gw, "o-1")
    assert shipment["state"] == "created"
    assert shipment["waybill"] == gw.gateway.issued[(shipment["shipment"], shipment["carrier"])]
    (issued,) = await gw.events("waybill_issued")
    assert issued["waybill"] == shipment["waybill"] and issued["order"] == "o-1"


async def test_an_issued_waybill_is_subscribed_for_tracking(gw: Gw) -> None:
    await place(gw, "o-1")
    await gw.worker.run_once()  # issue, then (queued in the same record) the subscription on the next round
    await gw.worker.run_once()
    (shipment,) = await shipments(gw, "o-1")
    assert gw.gateway.subscribed == [(shipment["carrier"], shipment["waybill"])]
    assert {(r.kind, r.state) for r in await gw.requests()} == {("issue", "done"), ("subscribe", "done")}


async def test_the_gateway_gets_the_warehouse_as_sender_and_the_buyer_as_receiver(gw: Gw) -> None:
    await place(gw, "o-1")
    claims = await gw.ctx.writer.call(claim_due)
    (claim,) = claims
    assert claim.order_request is not None
    assert claim.order_request.shipment == "o-1-1"  # Kdniao OrderCode: the shipment id
    assert claim.order_request.sender.mobile == "13900000002" and claim.order_request.sender.district == "白云区"
    assert claim.order_request.receiver.mobile == "13800138000"
    assert claim.order_request.commodities == (("明前龙井 250g", 1),)


async def test_a_lost_answer_retried_never_makes_a_second_waybill(gw: Gw) -> None:
    await place(gw, "o-1")
    gw.gateway.lose_answer.add("o-1-1")
    await gw.worker.run_once()
    assert (await shipments(gw, "o-1"))[0]["waybill"] is None  # the gateway issued it, we never heard
    (request,) = await gw.requests("o-1-1")
    assert request.attempts == 1 and request.state == "queued" and request.last_error == "read timeout"
    gw.clock.advance(seconds=2)
    await gw.worker.run_once()
    (shipment,) = await shipments(gw, "o-1")
    assert len(gw.gateway.issue_calls("o-1-1")) == 2
    assert len(gw.gateway.issued) == 1
    assert shipment["waybill"] == next(iter(gw.gateway.issued.values()))
    assert len(await gw.events("waybill_issued")) == 1


async def test_two_processes_racing_for_a_request_only_one_holds_the_lease(gw: Gw, database_url: str) -> None:
    await place(gw, "o-1")
    other_engine = create_engine(database_url)
    other = Writer(other_engine, gw.clock)  # a second process's writer on the same database
    other.start()
    try:
        mine, theirs = await asyncio.gather(gw.ctx.writer.call(claim_due), other.call(claim_due))
        assert sorted([len(mine), len(theirs)]) == [0, 1]
        assert await other.call(claim_due) == [] and await gw.ctx.writer.call(claim_due) == []
    finally:
        await other.stop()
        await other_engine.dispose()


async def test_a_crash_mid_request_resumes_after_the_lease_with_the_same_waybill(gw: Gw) -> None:
    await place(gw, "o-1")
    (claim,) = await gw.ctx.writer.call(claim_due)  # a process claims, asks the gateway, and dies unrecorded
    asked = await call(gw.gateway, claim)
    assert asked.result == "ok"
    assert await gw.worker.run_once() == {}  # within the lease nobody else asks
    gw.clock.advance(seconds=61)
    await gw.worker.run_once()  # the restarted process (or another) takes it over
    (shipment,) = await shipments(gw, "o-1")
    assert shipment["waybill"] == asked.waybill
    assert len(gw.gateway.issued) == 1
    # The dead process's outcome, were it to arrive now, no longer matches its claim: nothing changes.
    steps = await gw.ctx.writer.call(functools.partial(waybill_outcomes.record, outcomes=[(claim, asked)],
                                                       ctx=gw.ctx, rng=gw.worker.rng))
    assert steps == {"lapsed": 1}
    assert len(await gw.events("waybill_issued")) == 1


async def test_cancelling_an_order_cancels_its_issued_waybill_at_the_gateway(gw: Gw) -> None:
    await place(gw, "o-1")
    await gw.worker.run_once()
    waybill = (await shipments(gw, "o-1"))[0]["waybill"]
    assert (await gw.post("/api/v1/orders/o-1/cancel")).status_code == 200
    await gw.worker.run_once()
    assert waybill in [w for _, w in gw.gateway.cancelled]
    (cancelled,) = await gw.events("waybill_cancelled")
    assert cancelled["waybill"] == waybill


async def test_cancelling_before_the_waybill_drops_the_request(gw: Gw) -> None:
    await place(gw, "o-1")
    assert (await gw.post("/api/v1/orders/o-1/cancel")).status_code == 200
    await gw.worker.run_once()
    assert gw.gateway.calls == []
    assert [(r.kind, r.state) for r in await gw.requests("o-1-1")] == [("issue", "dropped")]


async def test_a_waybill_that_lands_after_the_order_was_cancelled_is_cancelled(gw: Gw) -> None:
    await place(gw, "o-1")
    (claim,) = await gw.ctx.writer.call(claim_due)
    assert (await gw.post("/api/v1/orders/o-1/cancel")).status_code == 200  # while the request is in flight
    outcome = await call(gw.gateway, claim)
    await gw.ctx.writer.call(functools.partial(waybill_outcomes.record, outcomes=[(claim, outcome)], ctx=gw.ctx,
                                               rng=gw.worker.rng))
    await gw.worker.run_once()
    assert gw.gateway.cancelled == [(claim.carrier, outcome.waybill)]
    assert (await shipments(gw, "o-1"))[0]["waybill"] is None


async def test_a_warehouse_without_a_sender_waits_with_the_reason(database_url: str) -> None:
    async with gateway_app(database_url, senders=False) as gw:
        await place(gw, "o-1")
        await gw.worker.run_once()
        assert gw.gateway.calls == []
        (request,) = await gw.requests("o-1-1")
        assert request.state == "queued" and "warehouse GZ has no sender address" in request.last_error
        assert (await shipments(gw, "o-1"))[0]["state"] == "awaiting_waybill"


async def test_the_worker_started_with_the_app_issues_right_after_the_commit(database_url: str) -> None:
    async with gateway_app(database_url, run_worker=True) as gw:
        await place(gw, "o-1")
        for _ in range(100):
            if (await shipments(gw, "o-1"))[0]["waybill"]:
                break
            await asyncio.sleep(0.05)
        assert (await shipments(gw, "o-1"))[0]["waybill"] is not None
    assert gw.gateway.closed  # the gateway's connections close with the app


async def test_kuaidi100_mode_numbers_waybills_at_once_and_subscribes_them(database_url: str) -> None:
    async with gateway_app(database_url, mode="kuaidi100") as gw:
        placed = await place(gw, "o-1")
        (shipment,) = placed["shipments"]
        assert shipment["state"] == "created" and shipment["waybill"]
        await gw.worker.run_once()
        assert gw.gateway.subscribed == [(shipment["carrier"], shipment["waybill"])]
        assert [c for c in gw.gateway.calls if c[0] == "issue"] == []


async def test_sandbox_mode_issues_waybills_at_once_and_queues_nothing(service: Any) -> None:
    await seed_catalog(service)
    answer = await service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)]))
    (shipment,) = answer.json()["shipments"]
    assert shipment["state"] == "created" and shipment["waybill"]
    assert (await service.counts())[models.waybill_requests.name] == 0
    assert not hasattr(service.app.state, "waybill_worker")


async def test_a_gateway_that_raises_or_hangs_is_a_failure_to_retry(gw: Gw) -> None:
    await place(gw, "o-1")
    (claim,) = await gw.ctx.writer.call(claim_due)

    class Hanging:
        name = "kdniao"

        async def issue(self, order: Any) -> Outcome:
            await asyncio.sleep(10)
            raise AssertionError("unreachable")

    class Raising:
        name = "kdniao"

        async def issue(self, order: Any) -> Outcome:
            raise ConnectionError("reset by peer")

    hung = await call(Hanging(), claim, timeout_s=0.05)  # type: ignore[arg-type]
    raised = await call(Raising(), claim)  # type: ignore[arg-type]
    assert (hung.result, raised.result) == ("retry", "retry")
    assert "reset by peer" in raised.reason


async def test_a_warehouse_outage_cancels_the_old_waybill_and_books_anew_under_a_fresh_order_code(gw: Gw) -> None:
    await place(gw, "o-1")
    await gw.worker.run_once()
    (before,) = await shipments(gw, "o-1")
    down = await gw.post(f"/api/v1/warehouses/{before['warehouse']}/status", {"active": False})
    assert down.status_code == 200 and down.json()["rerouted"] == 1, down.text
    (moved,) = await shipments(gw, "o-1")
    assert moved["warehouse"] != before["warehouse"] and moved["state"] == "awaiting_waybill"
    await gw.worker.run_once()
    (after,) = await shipments(gw, "o-1")
    assert (before["carrier"], before["waybill"]) in gw.gateway.cancelled
    # The cancelled booking's order code stays used at Kdniao (1147): the new booking is asked under a fresh one.
    assert after["waybill"] == gw.gateway.issued[("o-1-1~2", after["carrier"])] != before["waybill"]


async def test_a_gateway_missing_a_setting_fails_at_start_naming_it(database_url: str) -> None:
    from liveroom.app import create_app
    from server.settings import Settings, SettingsError

    app = create_app(Settings(database_url=database_url, carrier_gateway="kdniao"), run_scheduler=False)
    with pytest.raises(SettingsError, match="LIVEROOM_KDNIAO_BUSINESS_ID"):
        async with app.router.lifespan_context(app):
            pass
