"""Kuaidi100 (快递100): tracking subscriptions through its poll interface (快递信息推送服务, 订阅接口).

Document: 快递订阅查询快递api接口技术文档 https://api.kuaidi100.com/document/5f0ffa8f2977d50a94e1023c (mirrored at
https://apifox.com/apidoc/project-514987/api-8567477; English https://api.kuaidi100.com/document/pushService).
- POST https://poll.kuaidi100.com/poll, application/x-www-form-urlencoded, fields `schema` (json) and `param`,
  a JSON object: company (lower-case company code), number (6–32 characters), from / to (optional, 省市区), key
  (授权码), parameters {callbackurl (required), salt (optional: pushes are signed with it), resultv2 (4: advanced
  states, which server/api/carriers.py maps), phone (a party's phone; required for SF)}.
- Answer {"result": bool, "returnCode": "...", "message": "..."} (return codes from the same document,
  https://cloud.tencent.com/developer/article/1828132): 200 提交成功; 501 重复订阅 (already subscribed and
  still polling: the subscription we asked for exists, so it counts as done); 500 服务器错误 (temporary:
  retried); 600 not a valid subscriber (key), 601 key expired, 700 wrong data or callback, 701 company refused,
  702 company not recognised — definite refusals.
Kuaidi100 offers no waybills here: in `kuaidi100` mode waybills are numbered locally (issues_waybills False).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from domain.carrier_codes import KDNIAO_TO_KUAIDI100
from server.gateways import Outcome, Party, WaybillOrder
from server.gateways.kdniao import http_client, post_form
from server.settings import KUAIDI100_API_URL

OK_CODES = frozenset({"200", "501"})  # 提交成功; 重复订阅 (the subscription exists)
RETRY_CODES = frozenset({"500"})  # 服务器错误: Kuaidi100's own temporary fault


class Kuaidi100Subscriptions:
    """Subscribes waybills with Kuaidi100's poll; pushes come back to `callback_url` signed with `salt`.

    `customer` (LIVEROOM_KUAIDI100_CUSTOMER) is Kuaidi100's id for its real-time query and is not part of a poll
    request; it is kept for the operator's reference only."""

    name = "kuaidi100"
    issues_waybills = False

    def __init__(
        self,
        key: str,
        callback_url: str,
        salt: str = "",
        *,
        customer: str = "",
        api_url: str = KUAIDI100_API_URL,
        resultv2: str = "4",
        timeout: float = 10.0,
        max_connections: int = 20,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.key, self.customer, self.api_url = key, customer, api_url
        self.callback_url, self.salt, self.resultv2 = callback_url, salt, resultv2
        self.client = client or http_client(timeout, max_connections)

    def param(self, company: str, waybill: str, receiver: Party) -> dict[str, Any]:
        parameters: dict[str, str] = {"callbackurl": self.callback_url, "resultv2": self.resultv2}
        if self.salt:
            parameters["salt"] = self.salt
        if receiver.mobile:
            parameters["phone"] = receiver.mobile
        param: dict[str, Any] = {"company": company, "number": waybill, "key": self.key}
        to = "".join(part for part in (receiver.province, receiver.city, receiver.district) if part)
        if to:
            param["to"] = to
        param["parameters"] = parameters
        return param

    async def issue(self, order: WaybillOrder) -> Outcome:
        return Outcome("refused", reason="not offered: Kuaidi100 subscriptions do not issue waybills")

    async def subscribe(self, carrier: str, waybill: str, shipment: str, receiver: Party) -> Outcome:
        company = KDNIAO_TO_KUAIDI100.get(carrier.upper())
        if company is None:
            return Outcome("refused", reason=f"carrier {carrier} has no Kuaidi100 company code")
        form = {
            "schema": "json",
            "param": json.dumps(self.param(company, waybill, receiver), ensure_ascii=False, separators=(",", ":")),
        }
        fault, answer = await post_form(self.client, self.api_url, form)
        if fault is not None:
            return fault
        code = str(answer.get("returnCode") or "").strip()
        message = str(answer.get("message") or "").strip()
        if code in OK_CODES or (not code and answer.get("result") is True):
            return Outcome("ok", reason=message if code == "501" else "")
        if code in RETRY_CODES:
            return Outcome("retry", reason=f"{message or 'server error'} (returnCode {code})")
        return Outcome("refused", reason=f"{message or 'refused'} (returnCode {code or '?'})")

    async def cancel(self, carrier: str, waybill: str, shipment: str) -> Outcome:
        return Outcome("ok", reason="nothing to cancel: Kuaidi100 issued no waybill")

    async def aclose(self) -> None:
        await self.client.aclose()
