"""The carrier gateway clients (server/gateways/) against the test carrier gateway (simulator/gateway.py) over real
HTTP on a loopback port: what goes on the wire is what Kdniao's and Kuaidi100's documents ask for, and every
answer becomes the right Outcome (ok, refused with the carrier's words, or retry)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from collections.abc import AsyncIterator

import pytest

from server.api.carriers import routes as carrier_routes
from server.gateways import Party, WaybillOrder
from server.gateways.build import KUAIDI100_PUSH_PATH, make_gateway
from server.gateways.kdniao import KDNIAO_SUBSCRIBE_URL, KdniaoGateway, data_sign, subscribe_url_for
from server.gateways.kuaidi100 import Kuaidi100Subscriptions
from server.settings import KDNIAO_API_URL, Settings, SettingsError
from simulator.gateway import TestGateway

BUSINESS_ID, APPKEY, K100_KEY = "1391822", "kdniao-appkey-for-tests", "kuaidi100-key-for-tests"
SENDER = Party("杭州一号仓 王主管", "13800000001", "浙江省", "杭州市", "余杭区", "仓前街道文一西路 1 号")
BUYER = Party("李四", "13912345678", "江苏省", "南京市", "玄武区", "珠江路 88 号 3 栋")


def order(shipment: str = "s-100-1", carrier: str = "SF") -> WaybillOrder:
    return WaybillOrder(shipment, carrier, SENDER, BUYER, (("草莓 500g", 2), ("蓝莓 125g", 1)), 1.5)


@pytest.fixture
async def gateway() -> AsyncIterator[TestGateway]:
    test_gateway = await TestGateway(BUSINESS_ID, APPKEY, K100_KEY).start()
    yield test_gateway
    await test_gateway.stop()


@pytest.fixture
async def kdniao(gateway: TestGateway) -> AsyncIterator[KdniaoGateway]:
    client = KdniaoGateway(BUSINESS_ID, APPKEY, gateway.kdniao_url, 3, "1", timeout=1.0)
    yield client
    await client.aclose()


@pytest.fixture
async def kuaidi100(gateway: TestGateway) -> AsyncIterator[Kuaidi100Subscriptions]:
    client = Kuaidi100Subscriptions(K100_KEY, "https://shop.example/api/v1/carriers/kuaidi100/push", "salt-1",
                                    api_url=gateway.kuaidi100_url, timeout=1.0)
    yield client
    await client.aclose()


# --- 1007: the waybill --------------------------------------------------------------------------------------


async def test_a_waybill_is_issued_with_every_documented_field_of_1007(gateway, kdniao) -> None:
    outcome = await kdniao.issue(order())
    assert outcome.result == "ok" and outcome.waybill and outcome.waybill.startswith("SF")
    [call] = gateway.calls_of("1007")
    assert set(call.form) == {"RequestData", "EBusinessID", "RequestType", "DataSign", "DataType"}
    assert call.form["DataType"] == "2" and call.form["EBusinessID"] == BUSINESS_ID
    data = call.data
    assert data["OrderCode"] == "s-100-1" and data["ShipperCode"] == "SF"
    assert data["PayType"] == 3 and data["ExpType"] == "1" and data["Quantity"] == 1
    assert data["Sender"] == {"Name": "杭州一号仓 王主管", "Mobile": "13800000001", "ProvinceName": "浙江省",
                              "CityName": "杭州市", "ExpAreaName": "余杭区", "Address": "仓前街道文一西路 1 号"}
    assert data["Receiver"]["ExpAreaName"] == "玄武区" and data["Receiver"]["Mobile"] == "13912345678"
    assert data["Commodity"] == [{"GoodsName": "草莓 500g", "Goodsquantity": 2},
                                 {"GoodsName": "蓝莓 125g", "Goodsquantity": 1}]
    assert gateway.bookings["s-100-1"].waybill == outcome.waybill


async def test_the_data_sign_is_base64_of_the_lowercase_md5_of_request_data_and_appkey(gateway, kdniao) -> None:
    await kdniao.issue(order())
    [call] = gateway.calls_of("1007")
    digest = hashlib.md5((call.form["RequestData"] + APPKEY).encode()).hexdigest()
    assert digest == digest.lower()
    assert call.form["DataSign"] == base64.b64encode(digest.encode()).decode() == data_sign(
        call.form["RequestData"], APPKEY)
    assert call.answer is not None and call.answer["Success"] is True


async def test_a_wrong_appkey_is_refused_as_the_gateway_refuses_an_unverifiable_sign(gateway) -> None:
    wrong = KdniaoGateway(BUSINESS_ID, "not-the-appkey", gateway.kdniao_url, timeout=1.0)
    try:
        outcome = await wrong.issue(order())
    finally:
        await wrong.aclose()
    assert outcome.result == "refused" and "DataSign" in outcome.reason and "102" in outcome.reason
    assert gateway.bookings == {}


async def test_a_repeated_order_code_answers_the_same_waybill_and_books_no_second(gateway, kdniao) -> None:
    first = await kdniao.issue(order())
    again = await kdniao.issue(order())
    assert first.result == again.result == "ok" and first.waybill == again.waybill
    assert len(gateway.bookings) == 1 and gateway.calls_of("1007")[1].answer["ResultCode"] == "106"


async def test_characters_kdniao_forbids_are_left_out_of_the_request(gateway, kdniao) -> None:
    buyer = Party("O'Neil <VIP>", "13912345678", "江苏省", "南京市", "玄武区", "珠江路 #88 & 3栋 + 东")
    outcome = await kdniao.issue(WaybillOrder("s-odd", "YTO", SENDER, buyer, (("礼盒 \"A\"", 1),)))
    assert outcome.result == "ok"
    assert gateway.bookings["s-odd"].request["Receiver"]["Address"] == "珠江路 88 3栋 东"


async def test_a_refusal_is_refused_with_the_carriers_reason_and_books_nothing(gateway, kdniao) -> None:
    gateway.refuse("超区件: 收件地址不在服务范围", carrier="SF")
    refused = await kdniao.issue(order())
    assert refused.result == "refused" and "超区件" in refused.reason and refused.waybill is None
    assert gateway.bookings == {}
    other = await kdniao.issue(order("s-100-1", "ZTO"))  # the next carrier may take the same OrderCode
    assert other.result == "ok" and gateway.bookings["s-100-1"].carrier == "ZTO"


# --- faults: retried, never duplicated --------------------------------------------------------------------


async def test_a_5xx_answer_is_retried_and_books_nothing(gateway, kdniao) -> None:
    gateway.fail_next(1, status=503)
    outcome = await kdniao.issue(order())
    assert outcome.result == "retry" and "503" in outcome.reason and gateway.bookings == {}
    assert (await kdniao.issue(order())).result == "ok"


async def test_a_timeout_is_retried_and_the_retry_finds_the_one_waybill(gateway, kdniao) -> None:
    gateway.time_out_next(1, seconds=1.5)  # the client gives up after 1 s; the gateway still books
    outcome = await kdniao.issue(order())
    assert outcome.result == "retry" and "timeout" in outcome.reason
    retried = await kdniao.issue(order())
    assert retried.result == "ok"
    assert len(gateway.bookings) == 1 and gateway.bookings["s-100-1"].waybill == retried.waybill


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
async def test_a_lost_answer_is_retried_and_the_retry_answers_the_same_waybill(gateway, kdniao, drop) -> None:
    gateway.lose_next(1, drop=drop)
    lost = await kdniao.issue(order())
    assert lost.result == "retry" and gateway.calls_of("1007")[0].fault == "lost"
    booked = gateway.bookings["s-100-1"].waybill  # the work was done before the answer was lost
    retried = await kdniao.issue(order())
    assert retried.result == "ok" and retried.waybill == booked and len(gateway.bookings) == 1


async def test_an_unreachable_gateway_is_retried(gateway) -> None:
    url = gateway.kdniao_url
    await gateway.stop()
    client = KdniaoGateway(BUSINESS_ID, APPKEY, url, timeout=1.0)
    try:
        outcome = await client.issue(order())
    finally:
        await client.aclose()
    assert outcome.result == "retry" and "network" in outcome.reason


# --- 1008 and 1147 ----------------------------------------------------------------------------------------


async def test_a_subscription_1008_reaches_the_gateway_with_the_waybill(gateway, kdniao) -> None:
    issued = await kdniao.issue(order())
    assert issued.waybill is not None
    outcome = await kdniao.subscribe("SF", issued.waybill, "s-100-1", BUYER)
    assert outcome.result == "ok"
    [subscription] = gateway.subscriptions
    assert subscription["ShipperCode"] == "SF" and subscription["LogisticCode"] == issued.waybill
    assert subscription["OrderCode"] == "s-100-1" and subscription["CustomerName"] == "5678"


async def test_a_cancel_1147_reaches_the_gateway_and_cancels_the_booking(gateway, kdniao) -> None:
    issued = await kdniao.issue(order())
    assert issued.waybill is not None
    outcome = await kdniao.cancel("SF", issued.waybill, "s-100-1")
    assert outcome.result == "ok"
    assert gateway.cancels == [{"ShipperCode": "SF", "OrderCode": "s-100-1", "ExpNo": issued.waybill}]
    assert gateway.bookings["s-100-1"].cancelled


async def test_a_cancel_of_a_waybill_the_gateway_never_issued_is_refused(gateway, kdniao) -> None:
    outcome = await kdniao.cancel("SF", "SF0000000000000", "s-unknown")
    assert outcome.result == "refused" and outcome.reason


def test_subscriptions_go_to_api_dist_in_production_and_to_the_one_address_elsewhere() -> None:
    assert subscribe_url_for(KDNIAO_API_URL) == KDNIAO_SUBSCRIBE_URL == "https://api.kdniao.com/api/dist"
    sandbox = "http://sandboxapi.kdniao.com:8080/kdniaosandbox/gateway/exterfaceInvoke.json"
    assert subscribe_url_for(sandbox) == sandbox


# --- Kuaidi100 poll ---------------------------------------------------------------------------------------


async def test_a_kuaidi100_subscription_sends_the_documented_poll_form(gateway, kuaidi100) -> None:
    outcome = await kuaidi100.subscribe("ZTO", "780000000123", "s-7", BUYER)
    assert outcome.result == "ok"
    [call] = gateway.calls_of("poll")
    assert set(call.form) == {"schema", "param"} and call.form["schema"] == "json"
    param = json.loads(call.form["param"])
    assert param["company"] == "zhongtong" and param["number"] == "780000000123" and param["key"] == K100_KEY
    assert param["parameters"]["callbackurl"] == "https://shop.example/api/v1/carriers/kuaidi100/push"
    assert param["parameters"]["salt"] == "salt-1" and param["parameters"]["phone"] == BUYER.mobile
    assert gateway.kuaidi100_subscriptions == [param]


async def test_a_repeated_kuaidi100_subscription_501_counts_as_done(gateway, kuaidi100) -> None:
    assert (await kuaidi100.subscribe("YD", "4310000000001", "s-8", BUYER)).result == "ok"
    again = await kuaidi100.subscribe("YD", "4310000000001", "s-8", BUYER)
    assert again.result == "ok" and gateway.calls_of("poll")[1].answer["returnCode"] == "501"


async def test_a_wrong_kuaidi100_key_is_refused_and_a_server_error_retried(gateway) -> None:
    wrong = Kuaidi100Subscriptions("not-the-key", "https://shop.example/cb", api_url=gateway.kuaidi100_url)
    try:
        refused = await wrong.subscribe("SF", "SF1400000000001", "s-9", BUYER)
    finally:
        await wrong.aclose()
    assert refused.result == "refused" and "600" in refused.reason
    gateway.fail_next(1, status=500, kind="poll")
    good = Kuaidi100Subscriptions(K100_KEY, "https://shop.example/cb", api_url=gateway.kuaidi100_url)
    try:
        assert (await good.subscribe("SF", "SF1400000000001", "s-9", BUYER)).result == "retry"
    finally:
        await good.aclose()


async def test_kuaidi100_issues_no_waybill(kuaidi100) -> None:
    outcome = await kuaidi100.issue(order())
    assert outcome.result == "refused" and "not offered" in outcome.reason
    assert kuaidi100.issues_waybills is False


async def test_kdniao_subscribes_the_configured_carriers_through_kuaidi100(gateway, kuaidi100) -> None:
    client = KdniaoGateway(BUSINESS_ID, APPKEY, gateway.kdniao_url, timeout=1.0, kuaidi100=kuaidi100,
                           kuaidi100_carriers=("YTO",))
    assert (await client.subscribe("YTO", "YT7300000000001", "s-1", BUYER)).result == "ok"
    assert (await client.subscribe("STO", "7730000000001", "s-2", BUYER)).result == "ok"
    assert [p["company"] for p in gateway.kuaidi100_subscriptions] == ["yuantong"]
    assert [s["ShipperCode"] for s in gateway.subscriptions] == ["STO"]
    await client.aclose()


# --- make_gateway -----------------------------------------------------------------------------------------


async def test_make_gateway_builds_what_the_settings_ask_for() -> None:
    assert make_gateway(Settings()) is None  # sandbox: waybills at once, no network
    kdniao = make_gateway(Settings(carrier_gateway="kdniao", kdniao_business_id="b", kdniao_appkey="k",
                                   kuaidi100_key="q", kuaidi100_carriers=("SF",), public_url="https://x.cn"))
    assert isinstance(kdniao, KdniaoGateway) and isinstance(kdniao.kuaidi100, Kuaidi100Subscriptions)
    assert kdniao.kuaidi100.callback_url == "https://x.cn" + KUAIDI100_PUSH_PATH
    await kdniao.aclose()
    alone = make_gateway(Settings(carrier_gateway="kuaidi100", kuaidi100_key="q"))
    assert isinstance(alone, Kuaidi100Subscriptions) and not alone.issues_waybills
    await alone.aclose()
    with pytest.raises(SettingsError, match="LIVEROOM_KDNIAO_APPKEY"):
        make_gateway(Settings(carrier_gateway="kdniao", kdniao_business_id="b"))


def test_the_kuaidi100_callback_is_the_push_route_the_server_serves() -> None:
    assert KUAIDI100_PUSH_PATH in {route.path for route in carrier_routes}


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda form, data: data["Sender"].pop("ExpAreaName"), "101"),
        (lambda form, data: data.pop("Commodity"), "101"),
        (lambda form, data: form.pop("DataType"), "101"),
        (lambda form, data: form.update(EBusinessID="someone-else"), "104"),
        (lambda form, data: data["Receiver"].update(Address="珠江路 #88"), "103"),
    ],
    ids=["district", "commodity", "data-type", "business-id", "forbidden-character"],
)
async def test_the_test_gateway_refuses_what_the_documents_require_and_it_cannot_verify(
    gateway, kdniao, change, code
) -> None:
    data = kdniao.issue_payload(order())
    form = {"EBusinessID": BUSINESS_ID, "RequestType": "1007", "DataType": "2"}
    change(form, data)
    request_data = json.dumps(data, ensure_ascii=False)
    form |= {"RequestData": request_data, "DataSign": data_sign(request_data, APPKEY)}
    response = await kdniao.client.post(gateway.kdniao_url, data=form)
    answer = response.json()
    assert answer["Success"] is False and answer["ResultCode"] == code and gateway.bookings == {}


async def test_a_carrier_down_behind_the_gateway_fails_its_requests_for_a_while_and_not_the_others(
    gateway, kdniao
) -> None:
    gateway.carrier_down("YTO", 0.3)
    assert (await kdniao.issue(order("s-1", "YTO"))).result == "retry"
    assert (await kdniao.issue(order("s-2", "SF"))).result == "ok"
    await asyncio.sleep(0.35)
    assert (await kdniao.issue(order("s-1", "YTO"))).result == "ok"
    assert [b.shipment for b in gateway.issued] == ["s-2", "s-1"]


def test_the_simulated_carrier_refuses_the_same_few_addresses_every_run() -> None:
    from simulator.gateway_plan import REFUSAL_SHARE, refused_address

    codes = [f"o-r-{i:05d}-1" for i in range(5_000)]
    refused = [c for c in codes if refused_address({"OrderCode": c})]
    assert abs(len(refused) / len(codes) - REFUSAL_SHARE) < 0.01
    assert refused == [c for c in codes if refused_address({"OrderCode": c})]
