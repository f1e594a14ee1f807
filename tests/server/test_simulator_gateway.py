"""`liveroom simulate --gateway test`: the simulator serves the test carrier gateway and learns each shipment's
waybill from it (the order's answer reads `awaiting_waybill`, `waybill: null`), then plays the parcel's journey.

The server's worker that books the waybills lives on another branch; here the Kdniao client (what the worker
calls) books them over real HTTP, exactly as the worker will."""

from __future__ import annotations

import argparse
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest

from liveroom import cli_simulate, demo
from server.gateways import Party, WaybillOrder
from server.gateways.kdniao import KdniaoGateway
from simulator.catalog import WAREHOUSES, plan_catalog
from simulator.client import Api
from simulator.config import SimConfig
from simulator.gateway import KDNIAO_PATH, TestGateway
from simulator.plan import OrderPlanner, Rhythm
from simulator.pushes import CarrierPushes
from simulator.session import Session
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.world import OrderState, World

BUSINESS_ID, APPKEY = "demo-1391822", "demo-kdniao-appkey"
SENDER = Party("杭州仓", "13800000001", "浙江省", "杭州市", "余杭区", "文一西路 1 号")
BUYER = Party("李四", "13912345678", "江苏省", "南京市", "玄武区", "珠江路 88 号")


class Played:
    def __init__(self, gateway: TestGateway, pushes: CarrierPushes, kdniao: KdniaoGateway, state: OrderState):
        self.gateway, self.pushes, self.kdniao, self.state = gateway, pushes, kdniao, state

    def answered(self, shipment: str, carrier: str = "SF") -> None:
        """The order's answer reached the simulator: the shipment awaits its waybill."""
        self.pushes.await_waybill(self.state, {"shipment": shipment, "carrier": carrier, "waybill": None,
                                               "warehouse": WAREHOUSES[0].code, "state": "awaiting_waybill"})

    async def book(self, shipment: str, carrier: str = "SF") -> Any:
        """What the server's worker does: book the shipment's waybill at the gateway (1007)."""
        return await self.kdniao.issue(WaybillOrder(shipment, carrier, SENDER, BUYER, (("草莓", 1),)))


@pytest.fixture
async def played() -> AsyncIterator[Played]:
    cfg = SimConfig(kdniao_appkey=APPKEY, kuaidi100_salt="salt", gateway="test", kdniao_business_id=BUSINESS_ID)
    stats = Stats(target=10)
    catalog = plan_catalog(random.Random("7:catalog"), "live-1", 20, 10)
    catalog.codes = {leader.leader: f"code-{leader.leader}" for leader in catalog.leaders}
    planned = OrderPlanner(catalog, Rhythm.for_session(10, 10.0), 7, "t").next()
    api = Api("http://127.0.0.1:9", "k", 2, stats.error)  # never called: journeys wait for a running clock
    pushes = CarrierPushes(cfg, api, stats, Timeline(60.0, stats.error), World(catalog=catalog))
    gateway = await TestGateway(BUSINESS_ID, APPKEY, on_issued=pushes.waybill_issued).start()
    kdniao = KdniaoGateway(BUSINESS_ID, APPKEY, gateway.kdniao_url, timeout=1.0)
    yield Played(gateway, pushes, kdniao, OrderState(planned, status="accepted"))
    await kdniao.aclose()
    await gateway.stop()
    await api.close()


async def test_a_shipment_answered_without_a_waybill_starts_when_the_gateway_books_it(played) -> None:
    played.answered("s-1", "SF")
    assert played.pushes.world.parcels == {} and played.pushes.stats.awaiting_waybill == 1
    booked = await played.book("s-1", "ZTO")  # a refusal moved it to ZTO: the hook's carrier wins
    parcel = played.pushes.world.parcels["s-1"]
    assert (parcel.waybill, parcel.carrier) == (booked.waybill, "ZTO")
    assert played.pushes.stats.awaiting_waybill == 0 and played.pushes.stats.gateway_waybills == 1


async def test_a_waybill_booked_before_the_order_answer_arrives_still_starts_the_journey(played) -> None:
    booked = await played.book("s-2")
    assert played.pushes.world.parcels == {}
    played.answered("s-2")
    assert played.pushes.world.parcels["s-2"].waybill == booked.waybill


async def test_a_lost_answer_and_its_retry_start_one_journey_with_one_waybill(played) -> None:
    played.answered("s-3")
    played.gateway.lose_next(1, drop=True)
    assert (await played.book("s-3")).result == "retry"
    retried = await played.book("s-3")
    assert retried.result == "ok" and played.pushes.stats.gateway_waybills == 1
    assert played.pushes.world.parcels["s-3"].waybill == retried.waybill and len(played.gateway.bookings) == 1


# --- the CLI, the session and `make demo` ------------------------------------------------------------------


def parse(*flags: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    cli_simulate.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["simulate", "--url", "http://127.0.0.1:9", *flags])


def test_the_cli_takes_the_test_gateway_its_port_and_the_servers_kdniao_ids() -> None:
    env = {"LIVEROOM_API_KEY": "k", "LIVEROOM_KDNIAO_APPKEY": APPKEY, "LIVEROOM_KDNIAO_BUSINESS_ID": BUSINESS_ID}
    config = cli_simulate.config_from(parse("--gateway", "test", "--gateway-port", "18765"), None, env)
    assert (config.gateway, config.gateway_port, config.kdniao_business_id, config.kdniao_appkey) == (
        "test", 18765, BUSINESS_ID, APPKEY)
    assert cli_simulate.config_from(parse(), None, env).gateway is None
    with pytest.raises(SystemExit):
        parse("--gateway", "kdniao")
    with pytest.raises(ValueError, match="--gateway"):
        SimConfig(gateway="real")


def test_the_test_gateway_needs_the_servers_appkey(monkeypatch) -> None:
    for name in ("LIVEROOM_KDNIAO_APPKEY", "LIVEROOM_KUAIDI100_SALT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LIVEROOM_API_KEY", "k")
    assert cli_simulate.cmd_simulate(None, parse("--gateway", "test")) == 2


async def test_the_session_serves_the_gateway_with_the_servers_ids_and_hears_its_waybills() -> None:
    config = SimConfig(api_key="k", kdniao_appkey=APPKEY, kuaidi100_salt="s", gateway="test",
                       kdniao_business_id=BUSINESS_ID)
    session = Session(config, live=False)
    assert session.gateway is not None
    assert (session.gateway.business_id, session.gateway.appkey) == (BUSINESS_ID, APPKEY)
    assert session.gateway.on_issued == session.pushes.waybill_issued
    assert await session._open_gateway()
    try:
        kdniao = KdniaoGateway(BUSINESS_ID, APPKEY, session.gateway.kdniao_url, timeout=1.0)
        assert (await kdniao.issue(WaybillOrder("s-9", "YTO", SENDER, BUYER, (("草莓", 1),)))).result == "ok"
        await kdniao.aclose()
        assert session.stats.gateway_waybills == 1 and "s-9" in session.pushes.booked
    finally:
        await session.gateway.stop()
        await session.api.close()


def test_make_demo_points_the_server_at_the_simulators_test_gateway(monkeypatch) -> None:
    for name in ("LIVEROOM_CARRIER_GATEWAY", "LIVEROOM_KDNIAO_API_URL", "LIVEROOM_KDNIAO_BUSINESS_ID",
                 "LIVEROOM_DEMO_GATEWAY_PORT"):
        monkeypatch.delenv(name, raising=False)
    env = demo._environment(8000)
    port = env["LIVEROOM_DEMO_GATEWAY_PORT"]
    assert env["LIVEROOM_CARRIER_GATEWAY"] == "kdniao" and env["LIVEROOM_KDNIAO_BUSINESS_ID"]
    assert env["LIVEROOM_KDNIAO_API_URL"] == f"http://127.0.0.1:{port}{KDNIAO_PATH}"
    assert demo._gateway_args(env) == ["--gateway", "test", "--gateway-port", port]
    monkeypatch.setenv("LIVEROOM_CARRIER_GATEWAY", "sandbox")
    assert demo._gateway_args(demo._environment(8000)) == []
