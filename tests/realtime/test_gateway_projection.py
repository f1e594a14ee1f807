"""What people see of the carrier gateways (issue 14), folded from events: the ops wall's gateway part, a parcel
awaiting its waybill on the buyer's page and the leader's phone, a refusal that moves it to another carrier.

The gateway worker is not driven here: the rows and events it writes are written the way it writes them, in one
writer transaction (waybill_requests, shipments, carriers, carrier_days, and the outbox). Three read models watch:
one fed every event from an empty database, one loaded halfway and fed on, one loaded at the end; every topic of
all three must be the same (the clock is frozen between the steps).
"""

from __future__ import annotations

from typing import Any

from gateway_writes import circuit, issue, refuse, request
from seed import GUANGZHOU_BUYER, order_body, seed_catalog

from realtime.projections import Projections

SHANGHAI_BUYER = {**GUANGZHOU_BUYER, "name": "王五", "province": "上海", "city": "上海", "district": "浦东新区",
                  "address": "世纪大道100号环球金融中心"}
ORDERS = ("g-1", "g-2", "g-3", "g-4")


async def ok(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200, 201)), response.text
    return dict(response.json())


async def place(app: Any, order: str, buyer: dict[str, str] = GUANGZHOU_BUYER) -> dict[str, Any]:
    from seed import share_code

    code = await share_code(app, "lead-a")
    answer = await ok(await app.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)], code=code,
                                                                   buyer=buyer)), 201)
    assert len(answer["shipments"]) == 1
    return answer


def same_views(expected: Projections, *others: Projections) -> None:
    topics = expected.topics()
    for other in others:
        assert other.applied == expected.applied
        assert other.topics() == topics
        for topic in topics:
            assert other.snapshot(topic) == expected.snapshot(topic), topic


async def open_pages(views: Projections, engine: Any) -> None:
    for order in ORDERS:
        assert await views.ensure_order(engine, order)


def gateway(views: Projections) -> dict[str, Any]:
    ops = views.snapshot("ops")
    assert ops is not None
    return dict(ops["gateway"])


def parcel(views: Projections, order: str) -> dict[str, Any]:
    page = views.snapshot(f"order:{order}")
    assert page is not None
    return dict(page["shipments"][0])


def leader_parcel(views: Projections, order: str) -> dict[str, Any]:
    view = views.snapshot("leader:lead-a")
    assert view is not None
    [row] = [o for o in view["orders"] if o["order"] == order]
    return dict(row["parcels"][0])


async def test_in_sandbox_mode_no_waybill_is_awaited_and_the_wall_leaves_the_gateway_out(recorded_app: Any) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    answer = await place(app, "g-1")
    await app.follow(views)
    part = gateway(views)
    assert part["active"] is False and part["awaiting"] == 0 and part["oldest_awaiting_s"] is None
    assert await views.ensure_order(app.engine, "g-1")
    assert parcel(views, "g-1")["state"] == "created" and parcel(views, "g-1")["waybill"] == answer["shipments"][0][
        "waybill"]


async def test_awaiting_issued_refused_and_circuits_fold_from_events_as_a_reload_reads_them(
    recorded_app: Any,
) -> None:
    app = recorded_app
    never_stopped = Projections(app.clock)
    await never_stopped.load(app.engine)
    await seed_catalog(app)
    for carrier in ("SF", "ZTO", "YTO"):
        await ok(await app.put(f"/api/v1/carriers/{carrier}", {"daily_capacity": 1000}), 200, 201)
    answers = {order: await place(app, order, SHANGHAI_BUYER if order == "g-4" else GUANGZHOU_BUYER)
               for order in ORDERS}
    for order in ("g-1", "g-2", "g-3"):
        await request(app, answers[order])
        app.clock.advance(seconds=10)
    await app.follow(never_stopped)
    await open_pages(never_stopped, app.engine)

    part = gateway(never_stopped)
    assert part["active"] is True and part["awaiting"] == 3
    assert part["oldest_awaiting_s"] == 30.0  # g-1's request, 3 × 10 s ago
    # Time alone moves the oldest wait on (ops is a clock topic): no event in between.
    app.clock.advance(seconds=90)
    assert gateway(never_stopped)["oldest_awaiting_s"] == 120.0
    first = parcel(never_stopped, "g-1")
    assert first["state"] == "awaiting_waybill" and first["waybill"] is None
    assert leader_parcel(never_stopped, "g-1")["state"] == "awaiting_waybill"
    assert parcel(never_stopped, "g-4")["state"] == "created"  # never asked of a gateway: it has its waybill

    halfway = Projections(app.clock)  # loaded from the rows: awaiting from waybill_requests, the age from created_at
    await halfway.load(app.engine)
    await open_pages(halfway, app.engine)
    same_views(never_stopped, halfway)

    carrier_of_g2 = answers["g-2"]["shipments"][0]["carrier"]
    other = "ZTO" if carrier_of_g2 != "ZTO" else "YTO"
    await issue(app, answers["g-1"], "SF1234567890")
    await refuse(app, answers["g-2"], "收件地址超区", other)
    app.clock.advance(seconds=5)
    await refuse(app, answers["g-3"], "收件地址超区", None)
    await circuit(app, "YTO", "open", 2, 5)
    await circuit(app, "SF", "half_open", None, 5)
    await app.follow(never_stopped, halfway)

    part = gateway(never_stopped)
    assert part["awaiting"] == 1  # g-2, now with the next carrier; g-1 issued; g-3 held
    assert part["oldest_awaiting_s"] == 5.0  # its new request was made at the refusal
    assert part["issued_last_minute"] == 1 and part["issued"][-1]["waybills"] == 1 and len(part["issued"]) == 15
    assert part["refusals"]["today"] == 2
    assert part["refusals"]["reasons"] == [{"reason": "收件地址超区", "count": 2}]
    assert [(r["order"], r["next_carrier"]) for r in part["refusals"]["latest"]] == [("g-3", None), ("g-2", other)]
    circuits = {c["carrier"]: c for c in part["circuits"]}
    assert circuits["YTO"]["state"] == "open" and circuits["YTO"]["until"] is not None
    assert circuits["SF"]["state"] == "half_open" and circuits["ZTO"]["state"] == "closed"
    assert circuits[other]["awaiting"] == 1

    assert parcel(never_stopped, "g-1")["waybill"] == "SF1234567890"
    assert parcel(never_stopped, "g-1")["state"] == "created"
    assert leader_parcel(never_stopped, "g-1")["waybill"] == "SF1234567890"
    moved = parcel(never_stopped, "g-2")
    assert (moved["state"], moved["carrier"]) == ("awaiting_waybill", other)
    assert leader_parcel(never_stopped, "g-2")["carrier"] == other
    assert never_stopped.snapshot("order:g-3")["status"] == "held"
    assert parcel(never_stopped, "g-3")["state"] == "created"  # held: not awaiting anything
    assert leader_parcel(never_stopped, "g-3")["state"] == "created"
    # The leader sees why: the carrier's own words under the held order's flag (the fix form opens on the address).
    [held] = [h for h in never_stopped.snapshot("leader:lead-a")["held"] if h["order"] == "g-3"]
    assert held["flags"] == ["carrier_refused"] and held["carrier_reasons"] == ["收件地址超区"]
    ops_carriers = {c["carrier"]: c["parcels"] for c in never_stopped.snapshot("ops")["carriers"]}
    assert ops_carriers[other] >= 1

    # Closing a circuit takes it back to the default.
    await circuit(app, "SF", "closed", None, 0)
    await app.follow(never_stopped, halfway)
    assert {c["carrier"]: c["state"] for c in gateway(never_stopped)["circuits"]}["SF"] == "closed"

    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    await open_pages(restarted, app.engine)
    same_views(never_stopped, halfway, restarted)


async def test_a_cancelled_order_waits_for_no_waybill(recorded_app: Any) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    answer = await place(app, "g-1")
    await request(app, answer)
    await app.follow(views)
    assert gateway(views)["awaiting"] == 1
    await ok(await app.post("/api/v1/orders/g-1/cancel"), 200)
    await app.follow(views)
    assert gateway(views)["awaiting"] == 0 and gateway(views)["oldest_awaiting_s"] is None
    assert gateway(views)["active"] is True  # a waybill was requested once: the panel stays
    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    same_views(views, restarted)
