"""Kdniao (快递鸟): electronic waybills (RequestType 1007), tracking subscriptions (1008), cancels (1147).

Documents this client follows (each field below names the one it comes from):
- [EORDER] 电子面单接口, 1007: https://apifox.com/apidoc/docs-site/2538027/api-72875903 (Kdniao's own API site,
  mirrored by their demo http://kdniao.com/api-eorder). Production https://api.kdniao.com/api/EOrderService,
  test http://sandboxapi.kdniao.com:8080/kdniaosandbox/gateway/exterfaceInvoke.json. "订单编号(OrderCode)不可
  重复提交": a repeated OrderCode does not book a second waybill; Kdniao answers ResultCode 106 "该订单号已下单成功"
  with the order it booked the first time (the answer public integrations handle: `Success || ResultCode ==
  "106"` → Order.LogisticCode). Request text must not carry ’ ” # & + < > (Kdniao demo notes,
  https://blog.csdn.net/kfjgj2656/article/details/82320376).
- [CANCEL] 订单取消接口, 1147: https://apifox.com/apidoc/docs-site/2538027/api-72888751 — same endpoint as 1007;
  ShipperCode, OrderCode, ExpNo; only an uncollected waybill can be cancelled; the OrderCode stays used.
- [SUB] 订阅接口, 1008: https://apifox.com/apidoc/docs-site/2538027/api-72951534 — production
  https://api.kdniao.com/api/dist (not EOrderService), test: the same sandbox URL as above. Pushes (RequestType
  101) go to the push address configured in Kdniao's console (我的服务 → 推送地址), not to a request field.
- [SYS] 请求系统级参数: https://s.apifox.cn/apidoc/docs-site/2538027/schema-40066184 and the 1007 page: form
  fields RequestData (JSON, URL-encoded by the form), EBusinessID, RequestType, DataSign = URL-encoded Base64 of
  the lowercase hex MD5 of (RequestData + AppKey) (Kdniao's .NET demo, KdApiEOrderDemo.cs: MD5 → ToLower →
  Base64), DataType = 2 (JSON).
- [CODES] ResultCode: 100 成功, 101 缺少必要参数, 102 校验问题, 103 格式问题, 104 用户问题, 105 其他错误 (see
  Reason), 106 该订单号已下单成功. None of them names a transient system fault, so every `Success: false` is a
  definite refusal; transient faults are network errors, timeouts and HTTP 5xx (retried).

The gateway never touches the database: one request in, one `Outcome` out (server/gateways/__init__.py).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from server.gateways import Gateway, Outcome, Party, WaybillOrder
from server.settings import KDNIAO_API_URL

KDNIAO_SUBSCRIBE_URL = "https://api.kdniao.com/api/dist"  # [SUB] production address of 1008
KDNIAO_SANDBOX_URL = "http://sandboxapi.kdniao.com:8080/kdniaosandbox/gateway/exterfaceInvoke.json"  # [EORDER]
ISSUE, SUBSCRIBE, CANCEL = "1007", "1008", "1147"
DUPLICATE_ORDER = "106"  # [CODES] 该订单号已下单成功: the first booking's answer, not a new waybill
_FORBIDDEN = str.maketrans("", "", "’‘”“'\"#&+<>")  # [EORDER] characters a request must not carry


def data_sign(request_data: str, appkey: str) -> str:
    """[SYS] Base64 of the lowercase hex MD5 of RequestData + AppKey (the form encoding URL-encodes it)."""
    digest = hashlib.md5((request_data + appkey).encode("utf-8")).hexdigest()
    return base64.b64encode(digest.encode("ascii")).decode("ascii")


def request_form(business_id: str, appkey: str, request_type: str, payload: dict[str, Any]) -> dict[str, str]:
    """[SYS] The five system fields. httpx form-encodes each value once, as Kdniao's demos URL-encode them."""
    request_data = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return {
        "RequestData": request_data,
        "EBusinessID": business_id,
        "RequestType": request_type,
        "DataSign": data_sign(request_data, appkey),
        "DataType": "2",
    }


def clean(text: str) -> str:
    """[EORDER] A text field without the characters Kdniao refuses."""
    return " ".join(text.translate(_FORBIDDEN).split())


def party(p: Party) -> dict[str, str]:
    """[EORDER] Sender / Receiver: Name, Mobile, ProvinceName, CityName, ExpAreaName (district), Address."""
    return {
        "Name": clean(p.name),
        "Mobile": clean(p.mobile),
        "ProvinceName": clean(p.province),
        "CityName": clean(p.city),
        "ExpAreaName": clean(p.district),
        "Address": clean(p.address),
    }


def subscribe_url_for(api_url: str) -> str:
    """[SUB] 1008 goes to /api/dist on Kdniao's production host; the sandbox (and a test gateway) takes every
    RequestType at the one address it is given."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.kdniao.com" and parts.path.lower().rstrip("/") == "/api/eorderservice":
        return KDNIAO_SUBSCRIBE_URL
    return api_url


def http_client(timeout: float, max_connections: int) -> httpx.AsyncClient:
    """One pooled client per gateway: keep-alive connections, a bound on each phase of a request."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        headers={"Accept": "application/json"},
    )


async def post_form(client: httpx.AsyncClient, url: str, form: dict[str, str]) -> tuple[Outcome | None, Any]:
    """POST a form; (Outcome("retry"), None) on a transient fault, else (None, the decoded JSON answer)."""
    try:
        response = await client.post(url, data=form)
    except httpx.TimeoutException as error:
        return Outcome("retry", reason=f"timeout: {type(error).__name__}"), None
    except httpx.HTTPError as error:
        return Outcome("retry", reason=f"network: {type(error).__name__} {error}".strip()), None
    if response.status_code != 200:
        # 5xx is the gateway's own fault; any other status is not an answer about the shipment either (a wrong
        # URL, a proxy): retried, so the breaker opens and ops sees it, instead of refusing a good address.
        return Outcome("retry", reason=f"HTTP {response.status_code}"), None
    try:
        answer = response.json()
    except ValueError:
        return Outcome("retry", reason="unreadable answer (not JSON)"), None
    if not isinstance(answer, dict):
        return Outcome("retry", reason="unreadable answer (not a JSON object)"), None
    return None, answer


def refusal(answer: dict[str, Any]) -> Outcome:
    code = str(answer.get("ResultCode") or "").strip()
    reason = str(answer.get("Reason") or "").strip() or "refused without a reason"
    return Outcome("refused", reason=f"{reason} (ResultCode {code})" if code else reason)


def succeeded(answer: dict[str, Any]) -> bool:
    success = answer.get("Success")
    return success is True or (isinstance(success, str) and success.strip().lower() == "true")


class KdniaoGateway:
    """Kdniao's e-waybill, subscription and cancel over one pooled httpx client.

    `kuaidi100` (optional) subscribes the carriers in `kuaidi100_carriers` through Kuaidi100's poll instead of
    1008 (LIVEROOM_KUAIDI100_CARRIERS); our carrier codes are Kdniao ShipperCodes (API.md)."""

    name = "kdniao"
    issues_waybills = True

    def __init__(
        self,
        business_id: str,
        appkey: str,
        api_url: str = KDNIAO_API_URL,
        pay_type: int = 3,
        exp_type: str = "1",
        *,
        subscribe_url: str | None = None,
        timeout: float = 10.0,
        max_connections: int = 20,
        kuaidi100: Gateway | None = None,
        kuaidi100_carriers: tuple[str, ...] = (),
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.business_id, self.appkey = business_id, appkey
        self.api_url = api_url
        self.subscribe_url = subscribe_url or subscribe_url_for(api_url)
        self.pay_type, self.exp_type = pay_type, exp_type
        self.kuaidi100 = kuaidi100
        self.kuaidi100_carriers = frozenset(c.upper() for c in kuaidi100_carriers)
        self.client = client or http_client(timeout, max_connections)

    def _form(self, request_type: str, payload: dict[str, Any]) -> dict[str, str]:
        return request_form(self.business_id, self.appkey, request_type, payload)

    def issue_payload(self, order: WaybillOrder) -> dict[str, Any]:
        """[EORDER] RequestData of 1007."""
        return {
            "OrderCode": order.shipment,  # our shipment id: Kdniao books one waybill per OrderCode
            "ShipperCode": order.carrier,  # our carrier codes are Kdniao ShipperCodes
            "PayType": self.pay_type,  # 1 现付, 2 到付, 3 月结, 4 第三方支付
            "ExpType": self.exp_type,  # 1 标准快件 (the carrier's product code)
            "Sender": party(order.sender),
            "Receiver": party(order.receiver),
            "Commodity": [
                {"GoodsName": clean(name) or "goods", "Goodsquantity": quantity}
                for name, quantity in order.commodities
            ],
            "Quantity": 1,  # 件数/包裹数: one parcel per shipment
            "Weight": round(order.weight_kg, 3),  # 包裹总重量 kg
            "Callback": order.shipment,  # 用户自定义回传字段
        }

    async def issue(self, order: WaybillOrder) -> Outcome:
        fault, answer = await post_form(self.client, self.api_url, self._form(ISSUE, self.issue_payload(order)))
        if fault is not None:
            return fault
        booked = answer.get("Order") if isinstance(answer.get("Order"), dict) else {}
        duplicate = str(answer.get("ResultCode") or "").strip() == DUPLICATE_ORDER
        if not (succeeded(answer) or duplicate):
            return refusal(answer)
        waybill = str(booked.get("LogisticCode") or "").strip()
        if not waybill:  # a success without the number is not an answer we can act on
            return Outcome("retry", reason="answer without Order.LogisticCode")
        shipper = str(booked.get("ShipperCode") or order.carrier).strip().upper()
        if shipper != order.carrier.upper():  # this OrderCode was booked with another carrier before
            return Outcome("refused", reason=f"OrderCode {order.shipment} is booked with {shipper} ({waybill})")
        return Outcome("ok", waybill=waybill, reason=str(answer.get("Reason") or "") if duplicate else "")

    async def subscribe(self, carrier: str, waybill: str, shipment: str, receiver: Party) -> Outcome:
        if self.kuaidi100 is not None and carrier.upper() in self.kuaidi100_carriers:
            return await self.kuaidi100.subscribe(carrier, waybill, shipment, receiver)
        payload: dict[str, Any] = {
            "ShipperCode": carrier,  # [SUB] required
            "LogisticCode": waybill,  # [SUB] required
            "OrderCode": shipment,  # [SUB] optional, echoed in pushes
            "Callback": shipment,  # [SUB] 用户自定义回传字段
        }
        digits = "".join(ch for ch in receiver.mobile if ch.isdigit())
        if carrier.upper() == "SF" and len(digits) >= 4:
            payload["CustomerName"] = digits[-4:]  # [SUB] SF: the last four digits of a party's phone
        fault, answer = await post_form(self.client, self.subscribe_url, self._form(SUBSCRIBE, payload))
        if fault is not None:
            return fault
        return Outcome("ok") if succeeded(answer) else refusal(answer)

    async def cancel(self, carrier: str, waybill: str, shipment: str) -> Outcome:
        payload = {"ShipperCode": carrier, "OrderCode": shipment, "ExpNo": waybill}  # [CANCEL]
        fault, answer = await post_form(self.client, self.api_url, self._form(CANCEL, payload))
        if fault is not None:
            return fault
        return Outcome("ok") if succeeded(answer) else refusal(answer)

    async def aclose(self) -> None:
        await self.client.aclose()
        if self.kuaidi100 is not None:
            await self.kuaidi100.aclose()
