"""The post-live review (issue 13) against a small night scripted through the public API, on SQLite and PostgreSQL.

Every expected figure below was worked out by hand from the script (the arithmetic is in the comments), not read
back from the code. The night, with T = the room's start (2026-11-23 12:00 UTC, 20:00 in China):

  T+0:00  o1  v1 via lead-b's code, Guangzhou, tea×2 = 256.00   → GZ, SF (tier-1), waybill at once
  T+0:10  o2  v2 via the code, Changsha, mango×1 = 59.90        → GZ, ZTO (express share, first pick)
  T+0:20  o3  v3 direct, Guangzhou, bad phone, tea×1 = 128.00   → held, GZ, SF, no waybill
  T+0:30  o4  v4 direct, Guangzhou, serum×5 = 1,295.00          → SH, SF; serum sells out in SH
  T+0:40  o1 collected · T+0:45 o2 collected · T+0:50 o3 verified (waybill) · T+1:00 GZ down: o3 → SH, new waybill
  T+1:30  o4 collected · T+2:00 GZ up, tea GZ +10 · T+3:00 o3 collected · T+10 o2 problem · T+14 o2 in transit
  T+20    o1 signed · T+24 o3 signed · T+40 o2 signed · T+41 o2 refunded (坏果), o1 refund refused (不想要了)
  T+50    settle: o4 stuck (silent since T+1:30) · T+52 o4 in transit · review read at T+53
v5 also visits through the code and never orders: three share-code visitors.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from seed import GUANGZHOU_BUYER, START, order_body, seed_catalog, share_code

CHANGSHA_BUYER = {
    "name": "李四",
    "phone": "13900139000",
    "province": "湖南省",
    "city": "长沙市",
    "district": "岳麓区",
    "address": "麓山南路1号",
}


def at(hours: float = 0, minutes: int = 0) -> str:
    return (START + timedelta(hours=hours, minutes=minutes)).isoformat()


def buyer(phone: str, name: str) -> dict[str, str]:
    return {**GUANGZHOU_BUYER, "phone": phone, "name": name}


async def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), response.text
    return dict(response.json())


async def night(svc: Any) -> dict[str, dict[str, Any]]:
    """Plays the night above; answers each order's shipment (warehouse, carrier, waybill) as finally booked."""

    def clock(hours: float = 0, minutes: int = 0) -> None:
        svc.clock.set(START + timedelta(hours=hours, minutes=minutes))

    clock(minutes=-10)
    await seed_catalog(svc)
    code = await share_code(svc, "lead-b")
    for visitor in ("v1", "v2", "v5"):
        await _ok(await svc.post("/api/v1/visits", {"visitor": visitor, "code": code}))
    placed = {}
    script = [
        (0, "o1", "v1", [("tea", 2)], code, buyer("13800138001", "张一")),
        (10, "o2", "v2", [("mango", 1)], code, CHANGSHA_BUYER),
        (20, "o3", "v3", [("tea", 1)], None, buyer("12345", "张三")),
        (30, "o4", "v4", [("serum", 5)], None, buyer("13800138004", "张四")),
    ]
    for minutes, order, visitor, items, with_code, who in script:
        clock(minutes=minutes)
        placed[order] = await _ok(
            await svc.post("/api/v1/orders", order_body(order, visitor, items, code=with_code, buyer=who)),
            201,
        )
    assert [placed[o]["status"] for o in ("o1", "o2", "o3", "o4")] == [
        "accepted",
        "accepted",
        "held",
        "accepted",
    ]
    assert [(p["shipments"][0]["warehouse"], p["shipments"][0]["carrier"]) for p in placed.values()] == [
        ("GZ", "SF"),
        ("GZ", "ZTO"),
        ("GZ", "SF"),
        ("SH", "SF"),
    ]

    async def parcel(order: str) -> dict[str, Any]:
        return (await _ok(await svc.client.get(f"/api/v1/orders/{order}")))["shipments"][0]

    async def track(order: str, state: str, hours: float = 0, minutes: int = 0) -> None:
        clock(hours, minutes)
        p = await parcel(order)
        body = {"carrier": p["carrier"], "waybill": p["waybill"], "state": state, "at": at(hours, minutes)}
        await _ok(await svc.post("/api/v1/tracking", body), 200)

    await track("o1", "collected", minutes=40)
    await track("o2", "collected", minutes=45)
    clock(minutes=50)
    await _ok(await svc.post("/api/v1/orders/o3/verify", {"phone": "13800138003"}), 200)
    clock(hours=1)
    outage = await _ok(await svc.post("/api/v1/warehouses/GZ/status", {"active": False}), 200)
    assert outage["rerouted"] == 1
    assert ((await parcel("o3"))["warehouse"], (await parcel("o3"))["carrier"]) == ("SH", "SF")
    await track("o4", "collected", hours=1, minutes=30)
    clock(hours=2)
    await _ok(await svc.post("/api/v1/warehouses/GZ/status", {"active": True}), 200)
    await _ok(await svc.post("/api/v1/skus/tea/stock/GZ/adjust", {"delta": 10, "reason": "补货"}))
    await track("o3", "collected", hours=3)
    await track("o2", "problem", hours=10)
    await track("o2", "in_transit", hours=14)
    await track("o1", "signed", hours=20)
    await track("o3", "signed", hours=24)
    await track("o2", "signed", hours=40)
    clock(hours=41)
    refund = await _ok(
        await svc.post(
            "/api/v1/orders/o2/after-sales", {"kind": "refund", "amount_cents": 5_990, "reason": "坏果"}
        )
    )
    await _ok(await svc.post(f"/api/v1/after-sales/{refund['after_sale']}/resolve", {"approved": True}), 200)
    refused = await _ok(
        await svc.post(
            "/api/v1/orders/o1/after-sales", {"kind": "refund", "amount_cents": 1_000, "reason": "不想要了"}
        )
    )
    await _ok(
        await svc.post(f"/api/v1/after-sales/{refused['after_sale']}/resolve", {"approved": False}), 200
    )
    clock(hours=50)
    await _ok(await svc.post("/api/v1/admin/settle", {"as_of": at(50)}), 200)  # raises o4's stuck alarm
    await track("o4", "in_transit", hours=52)
    clock(hours=53)
    return {o: await parcel(o) for o in placed}


async def review_of(svc: Any) -> dict[str, Any]:
    return await _ok(await svc.client.get("/api/v1/rooms/room-1/review"), 200)


def p(p50: int | None, p90: int | None) -> dict[str, int | None]:
    return {"p50": p50, "p90": p90}


async def test_review_numbers_match_a_hand_computed_night(service: Any) -> None:
    await night(service)
    review = await review_of(service)
    assert review["orders"] == 4

    # --- stocking: stocked = on hand at the first order + put in since; sold = units in parcels from there -------
    rows = {(r["sku"], r["warehouse"]): r for r in review["stock"]}
    expected = {  # (stocked, sold, unsold, sold_out_at)
        ("tea", "GZ"): (110, 2, 108, None),  # 100 + the 10 of T+2; o1's 2 (o3's 1 left with the outage)
        ("tea", "SH"): (100, 1, 99, None),  # o3 re-routed here
        ("tea", "BJ"): (100, 0, 100, None),
        ("mango", "GZ"): (50, 1, 49, None),
        ("serum", "SH"): (5, 5, 0, at(minutes=30)),  # o4 took all five
    }
    for key, (stocked, sold, unsold, sold_out) in expected.items():
        row = rows[key]
        assert (row["stocked_units"], row["sold_units"], row["unsold_units"], row["sold_out_at"]) == (
            stocked,
            sold,
            unsold,
            sold_out,
        ), key
    assert all(r["oversold_units"] == 0 and r["presale_units"] == 0 for r in review["stock"])
    forecast = (await _ok(await service.client.get("/api/v1/rooms/room-1/forecast"), 200))["recommendations"]
    for rec in forecast:  # the forecast column is the existing pre-stock recommendation
        row = rows[(rec["sku"], rec["warehouse"])]
        assert row["forecast_units"] == rec["units"]
        assert row["forecast_error_units"] == rec["units"] - row["sold_units"]

    # --- fulfilment (seconds) -----------------------------------------------------------------------------------
    # paid→waybill: o1 0, o2 0, o3 T+0:20→T+1:00 (the waybill it left with) 2400, o4 0 → [0,0,0,2400]
    # waybill→collected: o1 2400, o2 2100, o3 T+1→T+3 7200, o4 T+0:30→T+1:30 3600 → [2100,2400,3600,7200]
    # collected→signed: o1 T+0:40→T+20 69600, o2 T+0:45→T+40 141300, o3 T+3→T+24 75600 → [69600,75600,141300]
    f = review["fulfilment"]
    assert (f["parcels"], f["collected"], f["signed"]) == (4, 4, 3)
    assert f["paid_to_waybill_s"] == p(0, 2400)
    assert f["waybill_to_collected_s"] == p(2400, 7200)
    assert f["collected_to_signed_s"] == p(75600, 141300)
    assert f["on_time_rate"] is None  # no order carries a ship_by in this room
    by_wh = {w["warehouse"]: w for w in f["by_warehouse"]}
    assert (
        by_wh["GZ"]["paid_to_waybill_s"],
        by_wh["GZ"]["waybill_to_collected_s"],
        by_wh["GZ"]["collected_to_signed_s"],
    ) == (p(0, 0), p(2100, 2400), p(69600, 141300))
    assert (
        by_wh["SH"]["paid_to_waybill_s"],
        by_wh["SH"]["waybill_to_collected_s"],
        by_wh["SH"]["collected_to_signed_s"],
    ) == (p(0, 2400), p(3600, 7200), p(75600, 75600))
    by_carrier = {c["carrier"]: c for c in f["by_carrier"]}
    assert (
        by_carrier["SF"]["paid_to_waybill_s"],
        by_carrier["SF"]["waybill_to_collected_s"],
        by_carrier["SF"]["collected_to_signed_s"],
    ) == (p(0, 2400), p(3600, 7200), p(69600, 75600))
    assert (by_carrier["ZTO"]["waybill_to_collected_s"], by_carrier["ZTO"]["collected_to_signed_s"]) == (
        p(2100, 2100),
        p(141300, 141300),
    )

    # --- exceptions ---------------------------------------------------------------------------------------------
    e = review["exceptions"]
    assert (e["held"]["orders"], e["held"]["fixed"], e["held"]["open"]) == (1, 1, 0)
    assert e["held"]["fix_s"] == p(1800, 1800)  # held T+0:20, verified T+0:50
    assert e["held"]["list"][0]["order"] == "o3"
    parcels = e["parcels"]
    assert (parcels["problem"], parcels["stuck"], parcels["moved_again"], parcels["open"]) == (1, 1, 2, 0)
    # o2's problem T+10 → in transit T+14: 14400; o4 silent since T+1:30, moved T+52: 50.5 h = 181800
    assert parcels["recover_s"] == p(14400, 181800)
    assert {(i["order"], i["kind"], i["recover_s"]) for i in parcels["list"]} == {
        ("o2", "problem", 14400),
        ("o4", "stuck", 181800),
    }
    assert e["outages"]["count"] == 1 and e["outages"]["rerouted_orders"] == 1
    [down] = e["outages"]["list"]
    assert (down["warehouse"], down["down_at"], down["up_at"], down["down_s"], down["rerouted_orders"]) == (
        "GZ",
        at(1),
        at(2),
        3600,
        1,
    )

    # --- after-sales: o2 refunded of four live orders; o1's request refused ------------------------------------
    a = review["after_sales"]
    assert (a["orders"], a["refunded"], a["refund_rate"], a["returned"], a["return_rate"]) == (
        4,
        1,
        0.25,
        0,
        0.0,
    )
    assert a["by_reason"] == {
        "坏果": {"requests": 1, "approved": 1, "refunded_cents": 5_990},
        "不想要了": {"requests": 1, "approved": 0, "refunded_cents": 0},
    }
    assert {r["sku"]: (r["orders"], r["refund_rate"]) for r in a["by_sku"]} == {
        "mango": (1, 1.0),
        "serum": (1, 0.0),
        "tea": (2, 0.0),
    }
    assert {r["leader"]: (r["orders"], r["refund_rate"]) for r in a["by_leader"]} == {
        None: (2, 0.0),
        "lead-b": (2, 0.5),
    }

    # --- carrier scorecard ----------------------------------------------------------------------------------------
    # response = median payment→collection: SF o1 2400, o3 9600, o4 3600 → 3600; ZTO o2 2100 (fastest)
    #   SF 100×2100/3600 = 58.33; ZTO 100
    # peak: all four parcels were planned in 20:00–21:00 China; all collected within 24 h → 100 each
    # coverage: SF o1 (signed 24th 16:00 China) and o3 (24th 20:00) by the end of the 24th, o4 never: 2/3 = 66.67;
    #   ZTO o2 collected the 23rd, signed the 25th: 0
    # exceptions: SF 1 of 3 (o4 stuck) → 66.67; ZTO 1 of 1 (problem) → 0
    # cost: no cost configured → 100 each
    # SF = .3×58.33 + .25×100 + .2×66.67 + .15×66.67 + .1×100 = 17.5 + 25 + 13.33 + 10 + 10 = 75.83
    # ZTO = 30 + 25 + 0 + 0 + 10 = 65
    carriers = [
        (
            c["rank"],
            c["carrier"],
            c["score"],
            c["response"],
            c["peak"],
            c["coverage"],
            c["exceptions"],
            c["cost"],
        )
        for c in review["carriers"]
    ]
    assert carriers == [
        (1, "SF", 75.8, 58.3, 100.0, 66.7, 66.7, 100.0),
        (2, "ZTO", 65.0, 100.0, 100.0, 0.0, 0.0, 100.0),
    ]

    # --- distribution fit ------------------------------------------------------------------------------------------
    # share-code visitors: v1, v2, v5. Commission: o1 17% of 25600 = 4352 + lead-a's team 3% = 768 → 5120;
    # o2 17% of 5990 = 1018.3 → 1018, 3% = 179.7 → 180 → 1198; o3, o4 direct: none.
    skus = {s["sku"]: s for s in review["skus"]}
    assert (
        skus["tea"]["share_order_rate"],
        skus["tea"]["share_conversion"],
        skus["tea"]["gmv_cents"],
        skus["tea"]["commission_cents"],
        skus["tea"]["commission_roi"],
    ) == (0.5, 0.3333, 38_400, 5_120, 7.5)
    assert (
        skus["mango"]["share_order_rate"],
        skus["mango"]["share_conversion"],
        skus["mango"]["gmv_cents"],
        skus["mango"]["commission_cents"],
        skus["mango"]["commission_roi"],
    ) == (1.0, 0.3333, 5_990, 1_198, 5.0)
    assert (
        skus["serum"]["share_order_rate"],
        skus["serum"]["share_conversion"],
        skus["serum"]["gmv_cents"],
        skus["serum"]["commission_roi"],
    ) == (0.0, 0.0, 129_500, None)


async def test_review_is_rebuilt_the_same_from_the_log(service: Any) -> None:
    await night(service)
    first, second = await review_of(service), await review_of(service)
    assert first == second


async def test_review_csv_gives_each_table_with_a_header_row(service: Any) -> None:
    await night(service)
    response = await service.client.get("/api/v1/rooms/room-1/review?format=csv&table=carriers")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    assert header[:8] == ["rank", "carrier", "score", "response", "peak", "coverage", "exceptions", "cost"]
    assert [r[:3] for r in rows[1:]] == [["1", "SF", "75.8"], ["2", "ZTO", "65.0"]]
    stock = await service.client.get("/api/v1/rooms/room-1/review?format=csv&table=stock")
    table = {
        (r["sku"], r["warehouse"]): r for r in csv.DictReader(io.StringIO(stock.content.decode("utf-8-sig")))
    }
    assert table[("serum", "SH")]["sold_units"] == "5" and table[("tea", "GZ")]["stocked_units"] == "110"
    for name in ("fulfilment", "after_sales", "skus", "exceptions"):
        one = await service.client.get(f"/api/v1/rooms/room-1/review?format=csv&table={name}")
        assert one.status_code == 200 and len(one.content.decode("utf-8-sig").splitlines()) >= 2, name


async def test_review_spreadsheet_opens_in_openpyxl_with_one_sheet_per_table(service: Any) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    await night(service)
    response = await service.client.get("/api/v1/rooms/room-1/review?format=xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["stock", "fulfilment", "exceptions", "after_sales", "carriers", "skus"]
    carriers = [list(r) for r in book["carriers"].iter_rows(values_only=True)]
    assert carriers[0][:3] == ("rank", "carrier", "score") or carriers[0][:3] == ["rank", "carrier", "score"]
    assert [r[:3] for r in carriers[1:]] == [[1, "SF", 75.8], [2, "ZTO", 65.0]]


async def test_review_exports_keep_a_buyers_reason_as_text_never_a_formula_or_a_control_character(
    service: Any,
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    await night(service)
    reason = "=HYPERLINK(\"http://x\")\x01"
    refund = {"kind": "refund", "amount_cents": 100, "reason": reason}
    opened = await service.post("/api/v1/orders/o4/after-sales", refund)
    assert opened.status_code == 201, opened.text
    sheet = await service.client.get("/api/v1/rooms/room-1/review?format=xlsx")
    assert sheet.status_code == 200
    cells = [cell for row in openpyxl.load_workbook(io.BytesIO(sheet.content))["after_sales"].iter_rows(
        values_only=True) for cell in row]
    assert "'=HYPERLINK(\"http://x\")" in cells
    csv_text = (await service.client.get("/api/v1/rooms/room-1/review?format=csv&table=after_sales")).text
    assert "'=HYPERLINK" in csv_text


async def test_review_refuses_an_unknown_format_or_table_naming_the_field(service: Any) -> None:
    await seed_catalog(service)
    bad = await service.client.get("/api/v1/rooms/room-1/review?format=pdf")
    assert bad.status_code == 422 and bad.json()["field"] == "format"
    no_table = await service.client.get("/api/v1/rooms/room-1/review?format=csv")
    assert no_table.status_code == 422 and no_table.json()["field"] == "table"
    wrong_table = await service.client.get("/api/v1/rooms/room-1/review?table=nope")
    assert wrong_table.status_code == 422 and wrong_table.json()["field"] == "table"
    unknown = await service.client.get("/api/v1/rooms/nope/review")
    assert unknown.status_code == 404


async def test_review_opens_to_the_api_key_and_the_ops_token_only(service: Any) -> None:
    await seed_catalog(service)
    url = "/api/v1/rooms/room-1/review"
    for role, subject, status in (("ops", "-", 200), ("host", "room-1", 401), ("leader", "lead-a", 401)):
        token = service.ctx.token(role, subject)
        answer = await service.client.get(url, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == status, (role, answer.text)
    assert (await service.client.get(url, headers={"Authorization": ""})).status_code == 401
