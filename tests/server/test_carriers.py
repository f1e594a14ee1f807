"""Carrier tracking through the HTTP API: signed pushes from Kdniao and Kuaidi100, the normalized form, and
what a parcel's move does to stock and commission (issue #3). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from seed import START, order_body, seed_catalog, share_code
from sqlalchemy import func, select

from store import models

BEIJING = timezone(timedelta(hours=8))
# Carriers report what happened since the order: their pushes arrive two days after it, so every event time the
# tests send (up to 30 hours after the order) has happened by then (API.md: an event from the future is refused).
REPORTS_ARRIVE = START + timedelta(days=2)


def beijing(at: datetime) -> str:
    """A carrier's clock reading: Beijing local time, no zone."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def kdniao_item(
    waybill: str, state: str, state_ex: str | None, traces: list[tuple[datetime, str]], carrier: str = "SF"
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "ShipperCode": carrier,
        "LogisticCode": waybill,
        "State": state,
        "Traces": [{"AcceptTime": beijing(t), "AcceptStation": s} for t, s in traces],
    }
    if state_ex is not None:
        item["StateEx"] = state_ex
    return item


def kdniao_form(appkey: str, *items: dict[str, Any]) -> dict[str, str]:
    request_data = json.dumps(
        {
            "EBusinessID": "1234567",
            "PushTime": "2026-11-25 08:00:00",
            "Count": len(items),
            "Data": list(items),
        },
        ensure_ascii=False,
    )
    digest = hashlib.md5((request_data + appkey).encode()).hexdigest()
    return {
        "RequestData": request_data,
        "DataSign": base64.b64encode(digest.encode()).decode(),
        "RequestType": "101",
    }


def kuaidi100_form(
    salt: str, waybill: str, state: str, lines: list[tuple[datetime, str]], com: str = "shunfeng"
) -> dict[str, str]:
    # Kuaidi100 lists the newest line first.
    data = [{"context": s, "time": beijing(t), "ftime": beijing(t)} for t, s in reversed(lines)]
    param = json.dumps(
        {
            "status": "polling",
            "message": "",
            "lastResult": {"message": "ok", "state": state, "com": com, "nu": waybill, "data": data},
        },
        ensure_ascii=False,
    )
    return {"param": param, "sign": hashlib.md5((param + salt).encode()).hexdigest().upper()}


async def place(svc: Any, order: str, items: list[tuple[str, int]]) -> list[dict[str, Any]]:
    """An accepted order through a leader's link; its shipments (each with carrier and waybill)."""
    code = await share_code(svc, "lead-b")
    placed = await svc.post("/api/v1/orders", order_body(order, f"buyer-{order}", items, code=code))
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "accepted"
    svc.clock.set(max(svc.clock(), REPORTS_ARRIVE))
    return list(placed.json()["shipments"])


async def order_of(svc: Any, order: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/orders/{order}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def states(svc: Any, order: str) -> list[str]:
    return [s["state"] for s in (await order_of(svc, order))["shipments"]]


async def commission_of(svc: Any, leader: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/leaders/{leader}/commission")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def outbox_kinds(svc: Any, kind: str) -> int:
    async with svc.ctx.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).select_from(models.outbox).where(models.outbox.c.kind == kind)
                )
            ).scalar_one()
        )


async def gz_tea(svc: Any) -> tuple[int, int]:
    stock = (await svc.client.get("/api/v1/skus/tea/stock")).json()
    gz = next(w for w in stock["warehouses"] if w["warehouse"] == "GZ")
    return gz["on_hand"], gz["reserved"]


@pytest.fixture
async def parcel(service: Any) -> dict[str, Any]:
    """The seeded catalog and one order of 2 tea for a Guangzhou buyer: one SF parcel from Guangzhou."""
    await seed_catalog(service)
    [shipment] = await place(service, "o-1", [("tea", 2)])
    assert shipment["carrier"] == "SF" and shipment["waybill"]
    return shipment


def start(svc: Any) -> datetime:
    return START  # orders are placed at the room's start; the clock then moves on to REPORTS_ARRIVE


# --- signatures -----------------------------------------------------------------------------------


async def test_kdniao_push_without_a_valid_signature_is_refused_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, appkey = service, service.ctx.settings.kdniao_appkey
    item = kdniao_item(parcel["waybill"], "3", "301", [(start(svc) + timedelta(hours=20), "已签收")])
    good = kdniao_form(appkey, item)
    tampered = {**good, "RequestData": good["RequestData"].replace('"301"', '"302"')}
    forged = {**good, "DataSign": base64.b64encode(b"0" * 32).decode()}
    other_key = kdniao_form("someone-elses-key", item)
    unsigned = {k: v for k, v in good.items() if k != "DataSign"}
    before = await svc.counts()
    for form in (tampered, forged, other_key, unsigned):
        response = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
        assert response.status_code == 401, response.text
        answer = response.json()
        assert answer["Success"] is False and answer["Reason"] and answer["error"] == "unauthorized"
        assert answer["field"] == "DataSign" and "UpdateTime" in answer
    assert await svc.counts() == before
    assert await states(svc, "o-1") == ["created"]


async def test_kuaidi100_push_without_a_valid_sign_is_refused_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, salt = service, service.ctx.settings.kuaidi100_salt
    good = kuaidi100_form(salt, parcel["waybill"], "3", [(start(svc) + timedelta(hours=20), "已签收")])
    tampered = {**good, "param": good["param"].replace('"state": "3"', '"state": "1"')}
    forged = {**good, "sign": "0" * 32}
    unsigned = {"param": good["param"]}
    before = await svc.counts()
    for form in (tampered, forged, unsigned):
        response = await svc.client.post("/api/v1/carriers/kuaidi100/push", data=form)
        assert response.status_code == 401, response.text
        answer = response.json()
        assert (answer["result"], answer["returnCode"], answer["error"]) == (False, "401", "unauthorized")
    assert await svc.counts() == before


async def test_pushes_are_refused_while_their_shared_secret_is_not_configured(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    svc.ctx.settings = dataclasses.replace(svc.ctx.settings, kdniao_appkey="", kuaidi100_salt="")
    at = start(svc) + timedelta(hours=1)
    before = await svc.counts()
    # Signed with the empty secret: anyone could compute that, so it proves nothing.
    item = kdniao_item(parcel["waybill"], "1", "1", [(at, "揽收")])
    kdniao = await svc.client.post("/api/v1/carriers/kdniao/push", data=kdniao_form("", item))
    kuaidi100 = await svc.client.post(
        "/api/v1/carriers/kuaidi100/push", data=kuaidi100_form("", parcel["waybill"], "1", [(at, "揽收")])
    )
    assert (kdniao.status_code, kuaidi100.status_code) == (401, 401)
    assert await svc.counts() == before


# --- states ---------------------------------------------------------------------------------------


async def test_kdniao_state_and_state_ex_walk_the_parcel_from_collected_to_signed(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, appkey, t0 = service, service.ctx.settings.kdniao_appkey, start(service)
    trace = [
        (t0 + timedelta(hours=1), "【广州仓】已揽收"),
        (t0 + timedelta(hours=5), "【广州转运中心】发出"),
        (t0 + timedelta(hours=18), "【天河网点】派件中"),
        (t0 + timedelta(hours=20), "已签收"),
    ]
    walk = [
        ("1", "1", "collected"),
        ("2", "2", "in_transit"),
        ("2", "202", "out_for_delivery"),
        ("3", "301", "signed"),
    ]
    for seen, (state, state_ex, expected) in enumerate(walk, start=1):
        form = kdniao_form(appkey, kdniao_item(parcel["waybill"], state, state_ex, trace[:seen]))
        response = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
        assert response.status_code == 200, response.text
        assert response.json()["Success"] is True and response.json()["EBusinessID"] == "1234567"
        assert await states(svc, "o-1") == [expected]
    events = (await order_of(svc, "o-1"))["shipments"][0]["events"]
    assert [e["station"] for e in events] == [s for _, s in reversed(trace)]  # each line once, newest first
    assert events[0]["at"] == (t0 + timedelta(hours=20)).isoformat()  # read as Beijing time, stored as UTC
    assert await outbox_kinds(svc, "parcel_state_changed") == 4


async def test_kuaidi100_states_walk_the_parcel_from_collected_to_signed(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, salt, t0 = service, service.ctx.settings.kuaidi100_salt, start(service)
    lines = [(t0 + timedelta(hours=h), f"line {h}") for h in (1, 5, 18, 20)]
    walk = [("1", "collected"), ("0", "in_transit"), ("5", "out_for_delivery"), ("3", "signed")]
    for seen, (state, expected) in enumerate(walk, start=1):
        response = await svc.client.post(
            "/api/v1/carriers/kuaidi100/push",
            data=kuaidi100_form(salt, parcel["waybill"], state, lines[:seen]),
        )
        assert response.status_code == 200, response.text
        assert (response.json()["result"], response.json()["returnCode"]) == (True, "200")
        assert await states(svc, "o-1") == [expected]


async def test_kuaidi100_push_from_an_unknown_company_is_refused_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    form = kuaidi100_form(
        svc.ctx.settings.kuaidi100_salt,
        parcel["waybill"],
        "1",
        [(start(svc) + timedelta(hours=1), "揽收")],
        com="pigeonpost",
    )
    before = await svc.counts()
    response = await svc.client.post("/api/v1/carriers/kuaidi100/push", data=form)
    assert response.status_code == 422, response.text
    assert (response.json()["result"], response.json()["field"]) == (False, "lastResult.com")
    assert await svc.counts() == before


# --- replays and order ----------------------------------------------------------------------------


async def test_a_replayed_push_changes_nothing_the_second_time(service: Any, parcel: dict[str, Any]) -> None:
    svc, t0 = service, start(service)
    form = kdniao_form(
        svc.ctx.settings.kdniao_appkey,
        kdniao_item(
            parcel["waybill"],
            "2",
            "2",
            [(t0 + timedelta(hours=1), "揽收"), (t0 + timedelta(hours=5), "发出")],
        ),
    )
    first = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
    assert first.status_code == 200, first.text
    after_first = await svc.counts()
    again = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
    assert again.status_code == 200 and again.json()["Success"] is True  # the carrier may stop retrying
    assert await svc.counts() == after_first  # no trace line, no event, no ledger row, no stock move
    assert after_first["tracking_events"] == 2


async def test_a_late_push_never_moves_a_parcel_backwards(service: Any, parcel: dict[str, Any]) -> None:
    svc, appkey, t0 = service, service.ctx.settings.kdniao_appkey, start(service)
    collected, signed = (t0 + timedelta(hours=1), "揽收"), (t0 + timedelta(hours=20), "签收")
    newer = kdniao_form(appkey, kdniao_item(parcel["waybill"], "3", "301", [collected, signed]))
    older = kdniao_form(appkey, kdniao_item(parcel["waybill"], "1", "1", [collected]))
    assert (await svc.client.post("/api/v1/carriers/kdniao/push", data=newer)).status_code == 200
    before = await svc.counts()
    late = await svc.client.post("/api/v1/carriers/kdniao/push", data=older)
    assert late.status_code == 200, late.text
    assert await states(svc, "o-1") == ["signed"]
    assert await svc.counts() == before


async def test_a_problem_parcel_goes_on_when_the_carrier_reports_progress_again(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, t0 = service, start(service)

    async def report(state: str, hours: int) -> None:
        at = (t0 + timedelta(hours=hours)).isoformat()
        response = await svc.post(
            "/api/v1/tracking", {"carrier": "SF", "waybill": parcel["waybill"], "state": state, "at": at}
        )
        assert response.status_code == 200, response.text

    await report("in_transit", 5)
    await report("problem", 10)
    assert await states(svc, "o-1") == ["problem"]
    await report("collected", 2)  # an older, lesser report does not clear the problem
    assert await states(svc, "o-1") == ["problem"]
    await report("out_for_delivery", 12)
    assert await states(svc, "o-1") == ["out_for_delivery"]


# --- what a move does -----------------------------------------------------------------------------


async def test_collection_takes_the_parcel_units_out_of_the_warehouse_once(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, appkey, t0 = service, service.ctx.settings.kdniao_appkey, start(service)
    assert await gz_tea(svc) == (100, 2)
    stock_events = await outbox_kinds(svc, "stock_changed")
    trace = [(t0 + timedelta(hours=1), "揽收"), (t0 + timedelta(hours=5), "发出")]
    await svc.client.post(
        "/api/v1/carriers/kdniao/push",
        data=kdniao_form(appkey, kdniao_item(parcel["waybill"], "1", "1", trace[:1])),
    )
    assert await gz_tea(svc) == (98, 0)  # left the warehouse: out of on_hand and out of reserved
    assert await outbox_kinds(svc, "stock_changed") == stock_events + 1
    await svc.client.post(
        "/api/v1/carriers/kdniao/push",
        data=kdniao_form(appkey, kdniao_item(parcel["waybill"], "2", "2", trace)),
    )
    assert await gz_tea(svc) == (98, 0)
    assert await outbox_kinds(svc, "stock_changed") == stock_events + 1
    cancel = await svc.post("/api/v1/orders/o-1/cancel")
    assert cancel.status_code == 409  # shipped: only an after-sale can undo it now


async def test_the_last_parcel_signed_freezes_the_order_commission(service: Any) -> None:
    svc, t0 = service, start(service)
    await seed_catalog(svc)
    parcels = await place(svc, "o-split", [("tea", 150)])  # more than Guangzhou holds: two parcels
    assert len(parcels) == 2
    pending = (await commission_of(svc, "lead-b"))["pending_cents"]
    assert pending > 0
    for i, (shipment, hours) in enumerate(zip(parcels, (20, 30), strict=True)):
        response = await svc.post(
            "/api/v1/tracking",
            {
                "carrier": shipment["carrier"],
                "waybill": shipment["waybill"],
                "state": "signed",
                "at": (t0 + timedelta(hours=hours)).isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        mine = await commission_of(svc, "lead-b")
        order = await order_of(svc, "o-split")
        if i == 0:  # half the order is at the buyer's door: nothing frozen yet
            assert (mine["pending_cents"], mine["frozen_cents"], order["signed_at"]) == (pending, 0, None)
    assert (mine["pending_cents"], mine["frozen_cents"]) == (0, pending)
    assert order["signed_at"] == (t0 + timedelta(hours=30)).isoformat()
    assert (await commission_of(svc, "lead-a"))["frozen_cents"] > 0  # the upline's team line freezes too


async def test_a_returned_parcel_reverses_the_commission(service: Any, parcel: dict[str, Any]) -> None:
    svc, t0 = service, start(service)
    accrued = (await commission_of(svc, "lead-b"))["pending_cents"]
    form = kdniao_form(
        svc.ctx.settings.kdniao_appkey,
        kdniao_item(
            parcel["waybill"],
            "4",
            "404",
            [(t0 + timedelta(hours=1), "揽收"), (t0 + timedelta(hours=30), "客户拒收，退回寄件人")],
        ),
    )
    response = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
    assert response.status_code == 200, response.text
    assert await states(svc, "o-1") == ["returned"]
    mine = await commission_of(svc, "lead-b")
    assert (mine["pending_cents"], mine["frozen_cents"], mine["reversed_cents"]) == (0, 0, accrued)
    assert (await order_of(svc, "o-1"))["signed_at"] is None


# --- unknown waybills and refusals ----------------------------------------------------------------


async def test_a_push_naming_only_unknown_waybills_is_404_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, at = service, start(service) + timedelta(hours=1)
    before = await svc.counts()
    kdniao = await svc.client.post(
        "/api/v1/carriers/kdniao/push",
        data=kdniao_form(
            svc.ctx.settings.kdniao_appkey, kdniao_item("SF9999999999999", "1", "1", [(at, "揽收")])
        ),
    )
    assert kdniao.status_code == 404, kdniao.text
    assert (kdniao.json()["Success"], kdniao.json()["error"]) == (False, "not_found")
    assert "SF9999999999999" in kdniao.json()["Reason"]
    kuaidi100 = await svc.client.post(
        "/api/v1/carriers/kuaidi100/push",
        data=kuaidi100_form(svc.ctx.settings.kuaidi100_salt, "SF9999999999999", "1", [(at, "揽收")]),
    )
    assert kuaidi100.status_code == 404 and kuaidi100.json()["returnCode"] == "404"
    assert await svc.counts() == before


async def test_a_push_applies_the_known_waybills_and_names_the_unknown(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, at = service, start(service) + timedelta(hours=1)
    form = kdniao_form(
        svc.ctx.settings.kdniao_appkey,
        kdniao_item("SF9999999999999", "1", "1", [(at, "揽收")]),
        kdniao_item(parcel["waybill"], "1", "1", [(at, "揽收")]),
    )
    response = await svc.client.post("/api/v1/carriers/kdniao/push", data=form)
    assert response.status_code == 200, response.text
    assert response.json()["Success"] is True and "SF9999999999999" in response.json()["Reason"]
    assert await states(svc, "o-1") == ["collected"]


async def test_a_normalized_report_for_another_carrier_is_refused_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    before = await svc.counts()
    response = await svc.post(
        "/api/v1/tracking",
        {"carrier": "ZTO", "waybill": parcel["waybill"], "state": "collected", "at": start(svc).isoformat()},
    )
    assert response.status_code == 422, response.text
    assert (response.json()["error"], response.json()["field"]) == ("carrier_mismatch", "carrier")
    assert await svc.counts() == before


async def test_a_kdniao_push_with_an_unparseable_trace_time_is_refused_and_writes_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    item = kdniao_item(parcel["waybill"], "1", "1", [])
    item["Traces"] = [{"AcceptTime": "yesterday", "AcceptStation": "揽收"}]
    before = await svc.counts()
    response = await svc.client.post(
        "/api/v1/carriers/kdniao/push", data=kdniao_form(svc.ctx.settings.kdniao_appkey, item)
    )
    assert response.status_code == 422, response.text
    assert response.json()["field"] == "Data[0].Traces[0].AcceptTime"
    assert await svc.counts() == before


async def test_a_push_over_the_body_limit_is_refused_in_the_carrier_format(service: Any) -> None:
    before = await service.counts()
    response = await service.client.post(
        "/api/v1/carriers/kdniao/push", data={"RequestData": "x" * (70 * 1024), "DataSign": "x"}
    )
    assert response.status_code == 413
    assert (response.json()["Success"], response.json()["error"]) == (False, "too_large")
    assert await service.counts() == before
