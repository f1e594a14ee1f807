"""Carrier gateways end to end (issue 14): `liveroom serve` as its own process in kdniao mode, talking over real
HTTP to the test carrier gateway (simulator/gateway.py, which checks every signature and field as Kdniao documents
them), on SQLite and PostgreSQL. Nothing is driven by hand: the server's own waybill worker does the asking.

The server is told LIVEROOM_WAYBILL_LEASE_S and LIVEROOM_GATEWAY_COOL_DOWN_S (server/settings.py) so a crash and a
cool-down pass in seconds, not minutes."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from live import SeedClient, ServedProcess, served_process, watch
from seed import API_KEY, KDNIAO_APPKEY, SECRET, WAREHOUSES, order_body, seed_catalog, share_code
from standin_gateway import SENDERS

from domain import tokens
from simulator.gateway import KDNIAO_PATH, TestGateway
from store.migrate import upgrade

BUSINESS_ID = "e2e-1391822"


@dataclass
class Rig:
    gateway: TestGateway
    database_url: str
    env: dict[str, str]
    served: ServedProcess | None = None
    http: httpx.AsyncClient | None = None

    @property
    def api(self) -> httpx.AsyncClient:
        assert self.http is not None
        return self.http

    @property
    def ws_url(self) -> str:
        assert self.served is not None
        return self.served.url.replace("http://", "ws://") + "/ws"

    async def place(self, order: str, items: list[tuple[str, int]] | None = None) -> dict[str, Any]:
        code = await share_code(SeedClient(self.api), "lead-a")
        answer = await self.api.post("/api/v1/orders", json=order_body(order, f"v-{order}", items or [("tea", 1)],
                                                                        code=code))
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    async def order(self, order: str) -> dict[str, Any]:
        answer = await self.api.get(f"/api/v1/orders/{order}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    async def waybills(self, order: str) -> list[dict[str, Any]]:
        """The order's shipments once every one has its waybill."""
        async def issued() -> list[dict[str, Any]] | None:
            parcels = (await self.order(order))["shipments"]
            return parcels if all(p["waybill"] for p in parcels) else None
        return await until(issued, f"the waybills of {order}")

    def calls_for(self, kind: str, shipment: str) -> list[Any]:
        return [c for c in self.gateway.calls_of(kind) if isinstance(c.data, dict) and c.data.get("OrderCode") ==
                shipment]


async def until(probe: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Poll `probe` (sync or async) until it answers something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def serving(rig: Rig) -> AsyncIterator[ServedProcess]:
    """`liveroom serve` on the rig's database, started and stopped off the event loop (the gateway lives on it)."""
    manager = served_process(rig.database_url, rig.env)
    served = await asyncio.to_thread(manager.__enter__)
    try:
        async with httpx.AsyncClient(base_url=served.url, headers={"Authorization": f"Bearer {API_KEY}"},
                                     timeout=30) as http:
            rig.served, rig.http = served, http
            yield served
    finally:
        await asyncio.to_thread(manager.__exit__, None, None, None)


@contextlib.asynccontextmanager
async def rigged(database_url: str, *, lease_s: float = 60.0, cool_down_s: float = 30.0) -> AsyncIterator[Rig]:
    upgrade(database_url)
    gateway = await TestGateway(BUSINESS_ID, KDNIAO_APPKEY).start()
    env = {"LIVEROOM_CARRIER_GATEWAY": "kdniao", "LIVEROOM_KDNIAO_BUSINESS_ID": BUSINESS_ID,
           "LIVEROOM_KDNIAO_APPKEY": KDNIAO_APPKEY, "LIVEROOM_KDNIAO_API_URL": gateway.url + KDNIAO_PATH,
           "LIVEROOM_WAYBILL_LEASE_S": str(lease_s), "LIVEROOM_GATEWAY_COOL_DOWN_S": str(cool_down_s)}
    rig = Rig(gateway, database_url, env)
    try:
        yield rig
    finally:
        await gateway.stop()


async def seeded(rig: Rig) -> None:
    await seed_catalog(SeedClient(rig.api))
    for code, sender in SENDERS.items():
        answer = await rig.api.put(f"/api/v1/warehouses/{code}", json={**WAREHOUSES[code], **sender})
        assert answer.status_code == 200, answer.text


@pytest.fixture
async def rig(database_url: str) -> AsyncIterator[Rig]:
    async with rigged(database_url) as rig, serving(rig):
        await seeded(rig)
        yield rig


def ops_token() -> str:
    return tokens.mint(SECRET, "ops", "-")


def circuit_of(frame: dict[str, Any], carrier: str) -> str | None:
    gateway = frame.get("data", {}).get("gateway") or {}
    return next((c["state"] for c in gateway.get("circuits", []) if c["carrier"] == carrier), None)


# --- 1. issued after the answer, shown live -------------------------------------------------------------------------


async def test_an_order_answers_awaiting_waybill_and_the_gateways_waybill_reaches_its_page_live(rig: Rig) -> None:
    rig.gateway.answer_slowly(1.0)  # long enough for the buyer's page to open before the waybill comes
    placed = await rig.place("o-1")
    (parcel,) = placed["shipments"]
    assert (parcel["state"], parcel["waybill"]) == ("awaiting_waybill", None)
    token = placed["tracking_url"].split("token=", 1)[1]
    page = await watch(rig.ws_url, ["order:o-1"], token)
    try:
        first = await page.wait_for(lambda f: f["kind"] == "snapshot")
        assert first["data"]["shipments"][0]["waybill"] is None
        shown = await page.wait_for(lambda f: (f["data"].get("shipments") or [{}])[0].get("waybill"), timeout=10)
    finally:
        await page.close()
    rig.gateway.reset()
    (issued,) = await rig.waybills("o-1")
    booking = rig.gateway.bookings[parcel["shipment"]]  # Kdniao OrderCode: the shipment id
    assert issued["waybill"] == booking.waybill == shown["data"]["shipments"][0]["waybill"]
    assert issued["state"] == "created" and booking.carrier == issued["carrier"]
    assert len(rig.calls_for("1007", parcel["shipment"])) == 1
    warehouse = WAREHOUSES[issued["warehouse"]]
    sender = SENDERS[issued["warehouse"]]
    assert booking.request["Sender"] == {
        "Name": sender["contact"], "Mobile": sender["mobile"], "ProvinceName": warehouse["province"],
        "CityName": warehouse["city"], "ExpAreaName": sender["district"], "Address": sender["address"]}
    subscribed = await until(lambda: [s for s in rig.gateway.subscriptions if s["LogisticCode"] == booking.waybill],
                             "1008 subscription")
    assert len(subscribed) == 1 and subscribed[0]["ShipperCode"] == booking.carrier


# --- 2. a lost answer ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
async def test_a_lost_answer_is_asked_again_and_still_gives_one_waybill(rig: Rig, drop: bool) -> None:
    rig.gateway.lose_next(1, drop=drop, kind="1007")
    placed = await rig.place("o-1")
    shipment = placed["shipments"][0]["shipment"]
    (issued,) = await rig.waybills("o-1")
    calls = rig.calls_for("1007", shipment)
    assert [c.fault for c in calls] == ["lost", ""]
    assert calls[1].answer is not None and calls[1].answer["ResultCode"] == "106"  # already booked: same Order
    assert issued["waybill"] == rig.gateway.bookings[shipment].waybill == calls[0].answer["Order"]["LogisticCode"]
    assert len(rig.gateway.bookings) == 1


# --- 3. refusals ---------------------------------------------------------------------------------------------------


async def test_a_carriers_refusal_moves_the_shipment_to_another_carrier_and_none_left_holds_the_order(
    rig: Rig,
) -> None:
    placed = await rig.place("o-1")
    first = placed["shipments"][0]["carrier"]
    rig.gateway.refuse("超区件: 收件地址不在服务范围", carrier=first)
    placed = await rig.place("o-2")  # o-1 may have been issued before the refusal was in place
    shipment = placed["shipments"][0]["shipment"]
    assert placed["shipments"][0]["carrier"] == first
    (issued,) = await rig.waybills("o-2")
    assert issued["carrier"] != first
    assert [c.data["ShipperCode"] for c in rig.calls_for("1007", shipment)] == [first, issued["carrier"]]
    assert rig.gateway.bookings[shipment].carrier == issued["carrier"]
    assert issued["waybill"] == rig.gateway.bookings[shipment].waybill

    rig.gateway.refuse("地址不在服务范围")  # every carrier
    held = await rig.place("o-3")
    shipment = held["shipments"][0]["shipment"]

    async def is_held() -> dict[str, Any] | None:
        seen = await rig.order("o-3")
        return seen if seen["status"] == "held" else None

    seen = await until(is_held, "o-3 held for the leader")
    assert "carrier_refused" in seen["flags"]
    assert [(s["state"], s["waybill"]) for s in seen["shipments"]] == [("created", None)]
    assert shipment not in rig.gateway.bookings
    asked = [c.data["ShipperCode"] for c in rig.calls_for("1007", shipment)]
    assert len(asked) == len(set(asked)) >= 2  # each carrier asked once, never again after its refusal


# --- 4. a crash mid-request ----------------------------------------------------------------------------------------


async def test_a_server_killed_mid_request_resumes_after_the_lease_with_the_one_booked_waybill(
    database_url: str,
) -> None:
    async with rigged(database_url, lease_s=2.0) as rig:
        async with serving(rig) as first:
            await seeded(rig)
            rig.gateway.answer_slowly(30.0)  # booked at once, answered never (for this process)
            placed = await rig.place("o-1")
            shipment = placed["shipments"][0]["shipment"]
            await until(lambda: shipment in rig.gateway.bookings, "the booking")
            first.process.kill()  # SIGKILL: nothing recorded, the claim left to expire
            await asyncio.to_thread(first.process.wait)
        rig.gateway.reset()
        async with serving(rig):
            (issued,) = await rig.waybills("o-1")
            booking = rig.gateway.bookings[shipment]
            assert issued["waybill"] == booking.waybill and issued["carrier"] == booking.carrier
            answered = [c for c in rig.calls_for("1007", shipment) if c.answer is not None]
            assert [c.answer["ResultCode"] for c in answered] == ["106"]  # the restart got the same Order back
            assert len(rig.gateway.bookings) == 1


# --- 5. cancel -----------------------------------------------------------------------------------------------------


async def test_cancelling_an_order_with_an_issued_waybill_cancels_it_at_the_gateway(rig: Rig) -> None:
    await rig.place("o-1")
    (issued,) = await rig.waybills("o-1")
    cancelled = await rig.api.post("/api/v1/orders/o-1/cancel")
    assert cancelled.status_code == 200, cancelled.text
    (cancel,) = await until(lambda: [c for c in rig.gateway.cancels if c["ExpNo"] == issued["waybill"]], "1147")
    assert cancel["OrderCode"] == issued["shipment"] and cancel["ShipperCode"] == issued["carrier"]
    assert rig.gateway.bookings[issued["shipment"]].cancelled
    assert len(rig.gateway.calls_of("1147")) == 1


async def test_a_parcel_rerouted_after_its_waybill_is_cancelled_and_booked_anew_under_a_fresh_order_code(
    rig: Rig,
) -> None:
    """Kdniao keeps a cancelled OrderCode used for good (1147): a warehouse outage that moves an issued parcel
    cancels its waybill and books it again as `{shipment}~2`, so the gateway issues it instead of refusing it."""
    await rig.place("o-1")
    (before,) = await rig.waybills("o-1")
    down = await rig.api.post(f"/api/v1/warehouses/{before['warehouse']}/status", json={"active": False})
    assert down.status_code == 200 and down.json()["rerouted"] == 1, down.text

    async def rebooked() -> dict[str, Any] | None:
        (parcel,) = (await rig.order("o-1"))["shipments"]
        return parcel if parcel["waybill"] and parcel["waybill"] != before["waybill"] else None

    after = await until(rebooked, "the new waybill")
    assert after["warehouse"] != before["warehouse"] and (await rig.order("o-1"))["status"] == "accepted"
    await until(lambda: [c for c in rig.gateway.cancels if c["ExpNo"] == before["waybill"]], "1147")
    assert rig.gateway.bookings[before["shipment"]].cancelled
    assert rig.gateway.bookings[f"{before['shipment']}~2"].waybill == after["waybill"]


# --- 6. the breaker ------------------------------------------------------------------------------------------------


async def test_five_failures_open_a_carriers_circuit_new_orders_go_elsewhere_and_a_trial_closes_it(
    database_url: str,
) -> None:
    async with rigged(database_url, cool_down_s=3.0) as rig, serving(rig):
        await seeded(rig)
        ops = await watch(rig.ws_url, ["ops"], ops_token())
        try:
            rig.gateway.fail_next(1_000, kind="1007")
            placed = await asyncio.gather(*(rig.place(f"o-{i}") for i in range(5)))
            (carrier,) = {p["shipments"][0]["carrier"] for p in placed}
            await ops.wait_for(lambda f: circuit_of(f, carrier) == "open", timeout=10)
            opened = len(ops.frames)
            failed = len(rig.gateway.calls_of("1007"))
            assert failed >= 5 and all(c.fault == "fail" for c in rig.gateway.calls_of("1007"))
            rig.gateway.reset()  # the gateway is back, but the circuit stays open for its cool-down

            other = await rig.place("o-new")
            assert other["shipments"][0]["carrier"] != carrier
            (issued,) = await rig.waybills("o-new")
            assert issued["carrier"] != carrier
            assert not [c for c in rig.gateway.calls_of("1007")[failed:] if c.data["ShipperCode"] == carrier]

            for p in placed:  # after the cool-down, a trial went through and closed it: the rest follow
                (parcel,) = await rig.waybills(p["order"])
                assert parcel["carrier"] == carrier
                assert parcel["waybill"] == rig.gateway.bookings[parcel["shipment"]].waybill
            # The ops wall shows it closed (and still lists it once nothing awaits it).
            await until(lambda: [f for f in ops.frames[opened:] if circuit_of(f, carrier) == "closed"
                                 and f["data"]["gateway"]["awaiting"] == 0], "the circuit closed on the ops wall")
        finally:
            await ops.close()
