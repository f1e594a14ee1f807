"""One order walked end to end through the HTTP API on a real database, and a second one refunded (issue #3)."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta
from typing import Any

from seed import GUANGZHOU_BUYER, KDNIAO_APPKEY, START, order_body, seed_catalog, share_code


def kdniao_form(
    waybill: str, carrier: str, state: str, state_ex: str, traces: list[tuple[str, str]]
) -> dict[str, str]:
    request_data = json.dumps(
        {
            "EBusinessID": "1234567",
            "PushTime": traces[-1][0],
            "Count": 1,
            "Data": [
                {
                    "ShipperCode": carrier,
                    "LogisticCode": waybill,
                    "State": state,
                    "StateEx": state_ex,
                    "Traces": [{"AcceptTime": t, "AcceptStation": s} for t, s in traces],
                }
            ],
        },
        ensure_ascii=False,
    )
    digest = hashlib.md5((request_data + KDNIAO_APPKEY).encode()).hexdigest().lower()
    return {
        "RequestData": request_data,
        "DataSign": base64.b64encode(digest.encode()).decode(),
        "RequestType": "101",
    }


def beijing(delta_hours: float) -> str:
    """A carrier's clock reading: Beijing local time, `delta_hours` after the room starts."""
    return (START + timedelta(hours=8 + delta_hours)).strftime("%Y-%m-%d %H:%M:%S")


async def commission_of(svc: Any, leader: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/leaders/{leader}/commission")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_order_walks_from_link_to_settled_commission_and_a_refund_reverses_another(
    service: Any,
) -> None:
    svc = service
    await seed_catalog(svc)
    code = await share_code(svc, "lead-b")

    visit = await svc.post("/api/v1/visits", {"visitor": "buyer-1", "code": code})
    assert visit.status_code == 200, visit.text
    assert visit.json()["leader"] == "lead-b" and visit.json()["binding"] == "new"

    # Placed in the first hour of the live room: live rate 15% + first-hour bonus 2% = 17% of 2 × 128.00.
    placed = await svc.post("/api/v1/orders", order_body("o-1", "buyer-1", [("tea", 2)]))
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert answer["status"] == "accepted" and answer["leader"] == "lead-b"
    assert answer["total_cents"] == 25_600
    assert [s["warehouse"] for s in answer["shipments"]] == ["GZ"]  # a Guangzhou buyer ships from Guangzhou
    assert answer["commission"] == {"leader": "lead-b", "amount_cents": 4_352, "state": "pending"}
    waybill, carrier = answer["shipments"][0]["waybill"], answer["shipments"][0]["carrier"]
    assert waybill and carrier == "SF"  # Guangzhou is a tier-1 destination: next-day carrier
    assert answer["tracking_url"].startswith("http://liveroom.test/track/o-1?token=")

    stock = (await svc.client.get("/api/v1/skus/tea/stock")).json()
    assert {w["warehouse"]: w["reserved"] for w in stock["warehouses"]}["GZ"] == 2
    upline = await commission_of(svc, "lead-a")  # the upline earns the 3% team rate on the same order
    assert upline["pending_cents"] == 768

    for state, state_ex, hours in (("1", "1", 1), ("2", "2", 5), ("3", "301", 20)):
        traces = [
            (beijing(1), "【广州仓】已揽收"),
            (beijing(5), "【广州转运中心】已发出"),
            (beijing(20), "已签收，本人签收"),
        ]
        svc.clock.set(START + timedelta(hours=hours))  # Kdniao pushes as the parcel moves
        pushed = await svc.client.post(
            "/api/v1/carriers/kdniao/push",
            data=kdniao_form(waybill, carrier, state, state_ex, traces[: {1: 1, 5: 2, 20: 3}[hours]]),
        )
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["Success"] is True

    order = (await svc.client.get("/api/v1/orders/o-1")).json()
    assert order["shipments"][0]["state"] == "signed"
    assert order["shipments"][0]["events"][0]["station"] == "已签收，本人签收"  # newest first
    stock = (await svc.client.get("/api/v1/skus/tea/stock")).json()
    assert {w["warehouse"]: (w["on_hand"], w["reserved"]) for w in stock["warehouses"]}["GZ"] == (98, 0)
    mine = await commission_of(svc, "lead-b")
    assert (mine["pending_cents"], mine["frozen_cents"], mine["settled_cents"]) == (0, 4_352, 0)

    inside_window = await svc.post("/api/v1/admin/settle", {"as_of": (START + timedelta(days=5)).isoformat()})
    assert inside_window.json()["settled"] == 0
    after_window = await svc.post("/api/v1/admin/settle", {"as_of": (START + timedelta(days=8)).isoformat()})
    assert after_window.json()["settled"] == 2  # the leader's line and the upline's team line
    mine = await commission_of(svc, "lead-b")
    assert (mine["frozen_cents"], mine["settled_cents"]) == (0, 4_352)

    second = await svc.post(
        "/api/v1/orders", order_body("o-2", "buyer-1", [("mango", 1)], buyer=GUANGZHOU_BUYER)
    )
    assert second.status_code == 201, second.text
    accrued = second.json()["commission"]["amount_cents"]
    opened = await svc.post(
        "/api/v1/orders/o-2/after-sales", {"kind": "refund", "amount_cents": 5_990, "reason": "芒果坏了"}
    )
    assert opened.status_code == 201, opened.text
    resolved = await svc.post(
        f"/api/v1/after-sales/{opened.json()['after_sale']}/resolve", {"approved": True}
    )
    assert resolved.status_code == 200 and resolved.json()["status"] == "approved"
    mine = await commission_of(svc, "lead-b")
    assert mine["reversed_cents"] == accrued and mine["pending_cents"] == 0
    assert mine["settled_cents"] == 4_352  # the first order's settled commission is untouched
