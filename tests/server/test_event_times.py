"""Times we can trust (issue #10, "Trust"): every time field lies in the supported range or is refused naming
it; a carrier event time lies between the order's placing and the report's arrival (ten minutes' slack each
side) or that waybill is refused, so commission freezes only from a checked signature; a trace line is one per
parcel and time, and a corrected re-push replaces its text. SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from alembic import command
from seed import START, order_body, seed_catalog, share_code
from sqlalchemy import func, insert, select

from liveroom import cli
from store import models
from store.migrate import alembic_config, upgrade

BEIJING = timezone(timedelta(hours=8))
DAY = timedelta(days=1)
SLACK = timedelta(minutes=10)

# --- helpers: orders, pushes, figures -----------------------------------------------------------------------


def beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def kdniao_item(waybill: str, state: str, state_ex: str, traces: list[tuple[str, str]]) -> dict[str, Any]:
    """A Data item; trace times as the carrier writes them (text)."""
    return {
        "ShipperCode": "SF",
        "LogisticCode": waybill,
        "State": state,
        "StateEx": state_ex,
        "Traces": [{"AcceptTime": t, "AcceptStation": s} for t, s in traces],
    }


def kdniao_form(appkey: str, *items: dict[str, Any], push_time: str = "") -> dict[str, str]:
    data: dict[str, Any] = {"EBusinessID": "1234567", "Count": len(items), "Data": list(items)}
    if push_time:
        data["PushTime"] = push_time
    request_data = json.dumps(data, ensure_ascii=False)
    digest = hashlib.md5((request_data + appkey).encode()).hexdigest()
    return {
        "RequestData": request_data,
        "DataSign": base64.b64encode(digest.encode()).decode(),
        "RequestType": "101",
    }


def kuaidi100_form(salt: str, waybill: str, state: str, lines: list[tuple[str, str]]) -> dict[str, str]:
    """`lines` oldest first (times as text); Kuaidi100 sends them newest first."""
    data = [{"context": s, "time": t, "ftime": t} for t, s in reversed(lines)]
    param = json.dumps(
        {
            "status": "polling",
            "message": "",
            "lastResult": {"message": "ok", "state": state, "com": "shunfeng", "nu": waybill, "data": data},
        },
        ensure_ascii=False,
    )
    return {"param": param, "sign": hashlib.md5((param + salt).encode()).hexdigest().upper()}


async def place(svc: Any, order: str) -> dict[str, Any]:
    """An order of 2 tea through lead-b's link at the clock's time; its one SF parcel from Guangzhou."""
    code = await share_code(svc, "lead-b")
    placed = await svc.post("/api/v1/orders", order_body(order, f"buyer-{order}", [("tea", 2)], code=code))
    assert placed.status_code == 201, placed.text
    [parcel] = placed.json()["shipments"]
    assert parcel["carrier"] == "SF"
    return dict(parcel)


@pytest.fixture
async def parcel(service: Any) -> dict[str, Any]:
    """Order o-1 placed at START; the clock then stands two days later, when reports arrive."""
    await seed_catalog(service)
    shipment = await place(service, "o-1")
    service.clock.set(START + 2 * DAY)
    return shipment


async def track(svc: Any, parcel: dict[str, Any], state: str, at: Any, station: str = "") -> Any:
    return await svc.post(
        "/api/v1/tracking",
        {"carrier": "SF", "waybill": parcel["waybill"], "state": state, "at": at, "station": station},
    )


async def kdniao(svc: Any, form: dict[str, str]) -> Any:
    return await svc.client.post("/api/v1/carriers/kdniao/push", data=form)


async def kuaidi100(svc: Any, form: dict[str, str]) -> Any:
    return await svc.client.post("/api/v1/carriers/kuaidi100/push", data=form)


async def commission_of(svc: Any, leader: str = "lead-b") -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/leaders/{leader}/commission")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def order_of(svc: Any, order: str = "o-1") -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/orders/{order}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def settle(svc: Any, as_of: datetime) -> dict[str, int]:
    response = await svc.post("/api/v1/admin/settle", {"as_of": as_of.isoformat()})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def trace_rows(svc: Any) -> list[tuple[datetime, str, str | None]]:
    te = models.tracking_events
    async with svc.ctx.engine.connect() as conn:
        rows = await conn.execute(select(te.c.at, te.c.station, te.c.state).order_by(te.c.at))
        return [(r.at, r.station, r.state) for r in rows]


def refuses(response: Any, status: int, code: str, field: str) -> None:
    assert response.status_code == status, response.text
    assert (response.json()["error"], response.json()["field"]) == (code, field), response.text


# --- time bounds: one range for every time field ------------------------------------------------------------

# Each list is walked inside one test (per field and database): the refusals happen at the edge, before the
# database is touched, so a fresh database per value would only cost minutes.
BAD_TIMES = [
    "9999-12-31T23:59:59-12:00",  # past the calendar once in UTC
    "0001-01-01T00:00:00+14:00",  # before the calendar once in UTC
    "1999-12-31T23:59:59Z",  # before 2000
    "2100-01-01T00:00:00Z",  # from 2100
    "8",  # digits as text
    8,  # a number
    "2026-13-01",  # month 13
    "2026-11-23T12:00:00",  # no zone
]


def room_body(**times: Any) -> dict[str, Any]:
    from seed import ROOM

    return {**ROOM, **times}


WAYBILL = "SF1000000000001"  # the first waybill of the seeded catalog's first order
# (method, path, body with the time `t`, the field a refusal names); `code` a leader's share code.
TIME_FIELDS = {
    "tracking.at": lambda t, code: (
        "POST",
        "/api/v1/tracking",
        {"carrier": "SF", "waybill": WAYBILL, "state": "collected", "at": t},
        "at",
    ),
    "orders.at": lambda t, code: (
        "POST",
        "/api/v1/orders",
        order_body("o-9", "v-9", [("tea", 1)], at=t),
        "at",
    ),
    "visits.at": lambda t, code: ("POST", "/api/v1/visits", {"visitor": "v-9", "code": code, "at": t}, "at"),
    "rooms.starts_at": lambda t, code: ("PUT", "/api/v1/rooms/room-2", room_body(starts_at=t), "starts_at"),
    "rooms.ends_at": lambda t, code: ("PUT", "/api/v1/rooms/room-2", room_body(ends_at=t), "ends_at"),
    "admin.settle.as_of": lambda t, code: ("POST", "/api/v1/admin/settle", {"as_of": t}, "as_of"),
}


async def test_every_time_field_takes_a_time_in_range_in_any_zone(
    service: Any, parcel: dict[str, Any]
) -> None:
    """The control for the refusals below: the same bodies with a good time are accepted."""
    assert parcel["waybill"] == WAYBILL
    code = await share_code(service, "lead-b")
    good = (START + timedelta(hours=1)).astimezone(BEIJING).isoformat()
    for where, build in TIME_FIELDS.items():
        method, path, body, _ = build(good, code)
        if where == "rooms.ends_at":
            body["starts_at"] = START.isoformat()
        response = await service.client.request(method, path, json=body)
        assert response.status_code in (200, 201), (where, response.text)


@pytest.mark.parametrize("where", list(TIME_FIELDS))
async def test_a_time_the_calendar_cannot_hold_or_outside_the_supported_range_is_refused_naming_its_field(
    service: Any, where: str
) -> None:
    before = await service.counts()
    for value in BAD_TIMES:
        method, path, body, field = TIME_FIELDS[where](value, "nocode")
        response = await service.client.request(method, path, json=body)
        assert response.status_code == 422, (value, response.text)
        assert (response.json()["error"], response.json()["field"]) == ("invalid_field", field), value
    assert await service.counts() == before


async def test_the_edges_of_the_supported_range_are_times_like_any_other(service: Any) -> None:
    for as_of in ("2000-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z", "2100-01-01T11:59:59+12:00"):
        response = await service.post("/api/v1/admin/settle", {"as_of": as_of})
        assert response.status_code == 200, (as_of, response.text)


async def test_a_body_time_in_any_zone_is_kept_as_the_same_instant_in_utc(
    service: Any, parcel: dict[str, Any]
) -> None:
    at = START + timedelta(hours=3)
    response = await track(
        service, parcel, "collected", at.astimezone(timezone(timedelta(hours=-12))).isoformat()
    )
    assert response.status_code == 200, response.text
    assert (await order_of(service))["shipments"][0]["events"][0]["at"] == at.isoformat()


@pytest.mark.parametrize("as_of", ["9999-12-31T23:59:59-12:00", "8", "2026-13-01"])
def test_settle_as_of_outside_the_range_or_not_a_time_is_a_clear_cli_error(
    as_of: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["settle", "--as-of", as_of])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert "--as-of" in error and ("supported range" in error or "not a date-time" in error)


# --- carrier times: read per waybill ------------------------------------------------------------------------

BAD_CARRIER_TIMES = [
    "0001-01-01 00:00:00",  # some carriers' "no date"
    "9999-12-31 23:59:59",
    "1999-12-31 23:59:59",
    "yesterday",
    "2026-13-01 00:00:00",
    "8",
]


async def test_a_kdniao_accept_time_that_is_no_time_in_range_is_refused_in_kdniao_format(
    service: Any, parcel: dict[str, Any]
) -> None:
    before = await service.counts()
    for value in BAD_CARRIER_TIMES:
        item = kdniao_item(
            parcel["waybill"], "3", "301", [(beijing(START + timedelta(hours=1)), "揽收"), (value, "已签收")]
        )
        response = await kdniao(service, kdniao_form(service.ctx.settings.kdniao_appkey, item))
        refuses(response, 422, "invalid_field", "Data[0].Traces[1].AcceptTime")
        answer = response.json()
        assert answer["Success"] is False and parcel["waybill"] in answer["Reason"] and "UpdateTime" in answer
        assert [r["waybill"] for r in answer["refused"]] == [parcel["waybill"]], value
    assert await service.counts() == before


async def test_a_kuaidi100_ftime_that_is_no_time_in_range_is_refused_in_kuaidi100_format(
    service: Any, parcel: dict[str, Any]
) -> None:
    before = await service.counts()
    for value in BAD_CARRIER_TIMES:
        form = kuaidi100_form(
            service.ctx.settings.kuaidi100_salt,
            parcel["waybill"],
            "3",
            [(beijing(START + timedelta(hours=1)), "揽收"), (value, "已签收")],
        )
        response = await kuaidi100(service, form)
        refuses(response, 422, "invalid_field", "lastResult.data[0].ftime")  # newest first: the signature
        assert (response.json()["result"], response.json()["returnCode"]) == (False, "422"), value
    assert await service.counts() == before


async def test_a_kdniao_push_time_the_calendar_cannot_hold_is_refused_naming_push_time(
    service: Any, parcel: dict[str, Any]
) -> None:
    item = kdniao_item(parcel["waybill"], "1", "1", [(beijing(START + timedelta(hours=1)), "揽收")])
    before = await service.counts()
    form = kdniao_form(service.ctx.settings.kdniao_appkey, item, push_time="0001-01-01 00:00:00")
    response = await kdniao(service, form)
    refuses(response, 422, "invalid_field", "PushTime")
    assert response.json()["Success"] is False
    assert await service.counts() == before


async def test_a_push_with_bad_waybills_applies_the_good_one_and_names_each_refused_one(service: Any) -> None:
    await seed_catalog(service)
    unreadable, backdated, good = [await place(service, order) for order in ("o-1", "o-2", "o-3")]
    service.clock.set(START + 2 * DAY)
    collected = beijing(START + timedelta(hours=1))
    form = kdniao_form(
        service.ctx.settings.kdniao_appkey,
        kdniao_item(unreadable["waybill"], "1", "1", [("0001-01-01 00:00:00", "揽收")]),
        kdniao_item(backdated["waybill"], "3", "301", [(collected, "揽收"), ("2000-01-01 08:00:00", "签收")]),
        kdniao_item(good["waybill"], "1", "1", [(collected, "【广州仓】已揽收")]),
    )
    response = await kdniao(service, form)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["Success"] is True and answer["EBusinessID"] == "1234567"
    assert unreadable["waybill"] in answer["Reason"] and backdated["waybill"] in answer["Reason"]
    assert {(r["waybill"], r["error"], r["field"]) for r in answer["refused"]} == {
        (unreadable["waybill"], "invalid_field", "Data[0].Traces[0].AcceptTime"),
        (backdated["waybill"], "event_time_out_of_range", "Data[1].Traces[1].AcceptTime"),
    }
    states = {o: (await order_of(service, o))["shipments"][0] for o in ("o-1", "o-2", "o-3")}
    assert [states[o]["state"] for o in ("o-1", "o-2", "o-3")] == ["created", "created", "collected"]
    assert states["o-2"]["events"] == []  # nothing of a refused waybill is written, not even its good line
    assert [e["station"] for e in states["o-3"]["events"]] == ["【广州仓】已揽收"]


# --- the window: from the order's placing to the report's arrival -------------------------------------------


@pytest.mark.parametrize("channel", ["tracking", "kdniao", "kuaidi100"])
@pytest.mark.parametrize("when", ["before-the-order", "far-in-the-future", "after-arrival-plus-slack"])
async def test_a_signed_event_outside_the_orders_window_is_refused_and_commission_stays_pending(
    service: Any, parcel: dict[str, Any], channel: str, when: str
) -> None:
    svc = service
    at = {
        "before-the-order": datetime(2000, 1, 1, tzinfo=UTC),
        "far-in-the-future": datetime(2099, 1, 1, tzinfo=UTC),
        "after-arrival-plus-slack": svc.clock() + SLACK + timedelta(seconds=1),
    }[when]
    pending = (await commission_of(svc))["pending_cents"]
    before = await svc.counts()
    if channel == "tracking":
        response = await track(svc, parcel, "signed", at.isoformat())
        field = "at"
    elif channel == "kdniao":
        item = kdniao_item(parcel["waybill"], "3", "301", [(beijing(at), "已签收")])
        response = await kdniao(svc, kdniao_form(svc.ctx.settings.kdniao_appkey, item))
        field = "Data[0].Traces[0].AcceptTime"
        assert response.json()["Success"] is False
    else:
        form = kuaidi100_form(
            svc.ctx.settings.kuaidi100_salt, parcel["waybill"], "3", [(beijing(at), "已签收")]
        )
        response = await kuaidi100(svc, form)
        field = "lastResult.data[0].ftime"
        assert response.json()["returnCode"] == "422"
    refuses(response, 422, "event_time_out_of_range", field)
    assert await svc.counts() == before
    mine = await commission_of(svc)
    assert (mine["pending_cents"], mine["frozen_cents"]) == (pending, 0)
    assert (await order_of(svc))["signed_at"] is None
    assert (await settle(svc, START + 400 * DAY))["settled"] == 0


async def test_the_window_takes_ten_minutes_of_slack_either_side_and_no_more(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    now = svc.clock()
    refuses(
        await track(svc, parcel, "collected", (START - SLACK - timedelta(seconds=1)).isoformat()),
        422,
        "event_time_out_of_range",
        "at",
    )
    assert (await track(svc, parcel, "collected", (START - SLACK).isoformat())).status_code == 200
    refuses(
        await track(svc, parcel, "in_transit", (now + SLACK + timedelta(seconds=1)).isoformat()),
        422,
        "event_time_out_of_range",
        "at",
    )
    assert (await track(svc, parcel, "in_transit", (now + SLACK).isoformat())).status_code == 200


async def test_a_kdniao_state_stamped_with_a_push_time_outside_the_window_is_refused(
    service: Any, parcel: dict[str, Any]
) -> None:
    item = kdniao_item(parcel["waybill"], "3", "301", [])  # no trace: the state is stamped with the PushTime
    form = kdniao_form(service.ctx.settings.kdniao_appkey, item, push_time="2099-01-01 08:00:00")
    before = await service.counts()
    refuses(await kdniao(service, form), 422, "event_time_out_of_range", "PushTime")
    assert await service.counts() == before


async def test_a_legitimate_signature_then_settle_inside_the_after_sale_window_settles_nothing(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    signed = START + timedelta(hours=20)
    assert (await track(svc, parcel, "signed", signed.isoformat())).status_code == 200
    frozen = (await commission_of(svc))["frozen_cents"]
    assert frozen > 0 and (await order_of(svc))["signed_at"] == signed.isoformat()
    assert (await settle(svc, signed + 7 * DAY - timedelta(seconds=1)))["settled"] == 0
    mine = await commission_of(svc)
    assert (mine["frozen_cents"], mine["settled_cents"]) == (frozen, 0)
    assert (await settle(svc, signed + 7 * DAY))["settled"] == 2  # the window counts from the checked time


async def test_a_refund_approved_inside_the_after_sale_window_reverses_the_frozen_commission(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    signed = START + timedelta(hours=20)
    assert (await track(svc, parcel, "signed", signed.isoformat())).status_code == 200
    frozen = (await commission_of(svc))["frozen_cents"]
    svc.clock.set(signed + 3 * DAY)
    opened = await svc.post(
        "/api/v1/orders/o-1/after-sales", {"kind": "refund", "amount_cents": 25_600, "reason": "整单退款"}
    )
    assert opened.status_code == 201, opened.text
    resolved = await svc.post(
        f"/api/v1/after-sales/{opened.json()['after_sale']}/resolve", {"approved": True}
    )
    assert resolved.status_code == 200, resolved.text
    mine = await commission_of(svc)
    assert (mine["frozen_cents"], mine["settled_cents"], mine["reversed_cents"]) == (0, 0, frozen)
    assert (await settle(svc, signed + 30 * DAY))["settled"] == 0


# --- trace lines: one per parcel and time -------------------------------------------------------------------


async def test_a_kdniao_re_push_with_corrected_station_text_keeps_one_line_per_time_with_the_new_text(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, appkey = service, service.ctx.settings.kdniao_appkey
    times = [beijing(START + timedelta(hours=h)) for h in (1, 5, 18)]
    first = kdniao_item(
        parcel["waybill"], "2", "202", list(zip(times, ["揽收", "广州转运中心 发出", "派件中"], strict=True))
    )
    fixed = ["【广州仓】已揽收", "【广州白云转运中心】已发出", "【天河网点】派件中"]
    again = kdniao_item(parcel["waybill"], "2", "202", list(zip(times, fixed, strict=True)))
    assert (await kdniao(svc, kdniao_form(appkey, first))).status_code == 200
    traced = (await svc.counts())["outbox"]
    response = await kdniao(svc, kdniao_form(appkey, again))
    assert response.status_code == 200 and response.json()["Success"] is True
    rows = await trace_rows(svc)
    assert [station for _, station, _ in rows] == fixed  # 3 lines, not 6
    assert rows[-1][2] == "out_for_delivery"  # the newest line keeps the state it was reported with
    assert [e["station"] for e in (await order_of(svc))["shipments"][0]["events"]] == list(reversed(fixed))
    assert (await svc.counts())["outbox"] == traced + 1  # one parcel_traced: the buyer's page reads it again
    before = await svc.counts()
    assert (await kdniao(svc, kdniao_form(appkey, again))).status_code == 200
    assert await svc.counts() == before  # the same push again writes nothing


async def test_a_kuaidi100_re_push_with_corrected_text_replaces_the_text_of_its_lines(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, salt = service, service.ctx.settings.kuaidi100_salt
    times = [beijing(START + timedelta(hours=h)) for h in (1, 5)]
    assert (
        await kuaidi100(
            svc, kuaidi100_form(salt, parcel["waybill"], "0", list(zip(times, ["揽收", "发出"], strict=True)))
        )
    ).status_code == 200
    assert (
        await kuaidi100(
            svc,
            kuaidi100_form(salt, parcel["waybill"], "0", list(zip(times, ["已揽收", "已发出"], strict=True))),
        )
    ).status_code == 200
    assert [station for _, station, _ in await trace_rows(svc)] == ["已揽收", "已发出"]


async def test_lines_of_one_push_that_share_a_time_are_one_line_with_both_texts(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc = service
    at = beijing(START + timedelta(hours=5))
    item = kdniao_item(parcel["waybill"], "2", "2", [(at, "到达广州转运中心"), (at, "从广州转运中心发出")])
    assert (await kdniao(svc, kdniao_form(svc.ctx.settings.kdniao_appkey, item))).status_code == 200
    assert [station for _, station, _ in await trace_rows(svc)] == ["到达广州转运中心; 从广州转运中心发出"]


async def test_migration_0004_keeps_the_newest_line_per_time_and_the_state_of_its_duplicates(
    service: Any, parcel: dict[str, Any]
) -> None:
    svc, url = service, service.ctx.settings.database_url
    t1, t2 = START + timedelta(hours=1), START + timedelta(hours=5)
    await asyncio.to_thread(
        command.downgrade, alembic_config(url), "0003"
    )  # the old key: (shipment, at, station)
    te = models.tracking_events
    rows = [
        (t1, "揽收", "collected", "1"),
        (t1, "【广州仓】已揽收", None, None),
        (t2, "发出", "in_transit", "2"),
        (t2, "已发出 (旧)", None, None),
        (t2, "【广州转运中心】已发出", None, None),
    ]
    async with svc.ctx.engine.begin() as conn:
        for at, station, state, code in rows:
            await conn.execute(
                insert(te).values(
                    shipment=parcel["shipment"],
                    at=at,
                    station=station,
                    state=state,
                    code=code,
                    source="kdniao",
                )
            )
    await asyncio.to_thread(upgrade, url)
    assert await trace_rows(svc) == [
        (t1, "【广州仓】已揽收", "collected"),
        (t2, "【广州转运中心】已发出", "in_transit"),
    ]
    async with svc.ctx.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(te))).scalar_one() == 2
    # The new key holds: a re-push of t1 with other text updates the line instead of adding one.
    assert (await track(svc, parcel, "collected", t1.isoformat(), "揽收 (更正)")).status_code == 200
    assert [station for _, station, _ in await trace_rows(svc)] == ["揽收 (更正)", "【广州转运中心】已发出"]


async def test_rfc3339_lowercase_t_and_z_name_the_same_instant_as_uppercase(service: Any) -> None:
    """RFC 3339 (and the document's pattern) allow "t" and "z"; Python's parser reads only "T" and "Z"."""
    for as_of in ("2026-11-23t12:00:00z", "2026-11-23T12:00:00z", "2026-11-23t12:00:00+08:00"):
        response = await service.post("/api/v1/admin/settle", {"as_of": as_of})
        assert response.status_code == 200, (as_of, response.text)
