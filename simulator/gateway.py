"""The test carrier gateway: Kdniao (快递鸟) and Kuaidi100 (快递100) as their published documents describe them,
served over real HTTP on a loopback port, for the tests and `liveroom simulate --gateway test`.

Kdniao answers at KDNIAO_PATH (the sandbox's single address, dispatching on RequestType as the sandbox does):
1007 e-waybill, 1008 subscription, 1147 cancel. Kuaidi100's poll answers at KUAIDI100_PATH. Documents (the
client in server/gateways/ cites the same): 1007 https://apifox.com/apidoc/docs-site/2538027/api-72875903,
1147 https://apifox.com/apidoc/docs-site/2538027/api-72888751, 1008
https://apifox.com/apidoc/docs-site/2538027/api-72951534, Kuaidi100 poll
https://api.kuaidi100.com/document/5f0ffa8f2977d50a94e1023c (return codes:
https://cloud.tencent.com/developer/article/1828132).

Every request is checked as the real gateway would: the system fields, EBusinessID, DataSign (Base64 of the
lowercase hex MD5 of RequestData + AppKey), DataType 2, each required field; what it cannot verify it refuses
with Success false and a ResultCode (101 缺少必要参数, 102 校验问题, 103 格式问题, 104 用户问题, 105 其他错误). An
OrderCode books one waybill: a repeat answers ResultCode 106 with the same Order. Kuaidi100 answers returnCode
200, 501 for a repeated subscription, 600 for a wrong key, 700 for wrong data.

It can be told to fail the next requests with 5xx, hold them past a client's timeout, answer slowly, refuse
(per carrier or predicate, with a reason), or lose the answer after doing the work (502 or a dropped
connection), and it records every call. `on_issued(shipment, carrier, waybill)` hears each new waybill.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from simulator.gateway_http import HttpServer, Reply, Request

KDNIAO_PATH = "/kdniaosandbox/gateway/exterfaceInvoke.json"
KUAIDI100_PATH = "/poll"
BEIJING = timezone(timedelta(hours=8))
# LogisticCode formats: carrier prefix and the number of digits after it.
WAYBILL_FORMAT: dict[str, tuple[str, int, int]] = {  # carrier → (prefix, digits, first number)
    "SF": ("SF", 13, 1_400_000_000_000),
    "YTO": ("YT", 13, 7_300_000_000_000),
    "ZTO": ("", 12, 780_000_000_000),
    "STO": ("", 13, 7_730_000_000_000),
    "YD": ("", 13, 4_310_000_000_000),
    "JTSD": ("JT", 13, 5_000_000_000_000),
    "EMS": ("", 13, 1_100_000_000_000),
    "JD": ("JDVA", 11, 10_000_000_000),
    "DBL": ("DPK", 12, 300_000_000_000),
}
KUAIDI100_COMPANIES = frozenset({"shunfeng", "zhongtong", "yuantong", "shentong", "yunda", "jtexpress", "ems",
                                 "jd", "debangkuaidi"})
PARTY_FIELDS = ("Name", "Mobile", "ProvinceName", "CityName", "ExpAreaName", "Address")
FORBIDDEN = set("’‘”“'\"#&+<>")  # 1007: characters a request must not carry
OnIssued = Callable[[str, str, str], None]


class Refused(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


@dataclass
class Booking:
    shipment: str  # OrderCode
    carrier: str  # ShipperCode
    waybill: str  # LogisticCode
    request: dict[str, Any]
    cancelled: bool = False


@dataclass(frozen=True)
class Call:
    service: str  # kdniao | kuaidi100
    kind: str  # 1007 | 1008 | 1147 | poll | ... (as sent)
    form: dict[str, str]
    data: Any  # RequestData / param as decoded (None when it could not be read)
    status: int
    answer: dict[str, Any] | None
    fault: str = ""  # fail | lost | held (what the gateway was told to do with it)


@dataclass
class _Fault:
    what: str  # fail | hold | lose
    count: int
    kind: str | None
    status: int = 503
    seconds: float = 0.0
    drop: bool = False


@dataclass
class _Rule:
    reason: str
    carrier: str | None
    when: Callable[[dict[str, Any]], bool] | None


@dataclass
class TestGateway:
    business_id: str = "test-business"
    appkey: str = "test-appkey"
    kuaidi100_key: str = "test-kuaidi100-key"
    host: str = "127.0.0.1"
    port: int = 0
    on_issued: OnIssued | None = None
    bookings: dict[str, Booking] = field(default_factory=dict)  # OrderCode → its one booking
    calls: list[Call] = field(default_factory=list)
    subscriptions: list[dict[str, Any]] = field(default_factory=list)  # 1008 RequestData accepted
    kuaidi100_subscriptions: list[dict[str, Any]] = field(default_factory=list)  # poll params accepted
    cancels: list[dict[str, Any]] = field(default_factory=list)  # 1147 RequestData accepted
    delay: float = 0.0  # every answer waits this long
    down_until: dict[str, float] = field(default_factory=dict)  # carrier → loop time its Kdniao requests fail until
    _faults: list[_Fault] = field(default_factory=list)
    _rules: list[_Rule] = field(default_factory=list)
    _serial: dict[str, int] = field(default_factory=dict)
    _http: HttpServer | None = None

    __test__ = False  # not a pytest test class

    # --- running ---------------------------------------------------------------------------------------------

    async def start(self) -> TestGateway:
        self._http = HttpServer(self._handle, self.host, self.port)
        await self._http.start()
        self.port = self._http.port
        return self

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.stop()
            self._http = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def kdniao_url(self) -> str:
        return self.url + KDNIAO_PATH

    @property
    def kuaidi100_url(self) -> str:
        return self.url + KUAIDI100_PATH

    # --- what it is told to do -------------------------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 503, kind: str | None = None) -> None:
        """The next `n` requests (of `kind`, e.g. "1007", or any) answer `status` without being processed."""
        self._faults.append(_Fault("fail", n, kind, status=status))

    def time_out_next(self, n: int = 1, seconds: float = 30.0, kind: str | None = None) -> None:
        """The next `n` requests are held `seconds` before they are processed and answered (past a client's
        timeout, the work is still done, as a slow real gateway would)."""
        self._faults.append(_Fault("hold", n, kind, seconds=seconds))

    def lose_next(self, n: int = 1, *, drop: bool = False, kind: str | None = None) -> None:
        """The next `n` requests are processed (a waybill is booked) and then the answer is lost: 502, or the
        connection dropped without an answer when `drop`."""
        self._faults.append(_Fault("lose", n, kind, status=502, drop=drop))

    def carrier_down(self, carrier: str, seconds: float) -> None:
        """For `seconds`, every Kdniao request for `carrier` (its ShipperCode) answers 503, as a carrier's system
        that is down behind the gateway would: the server's breaker for that carrier opens."""
        self.down_until[carrier.upper()] = asyncio.get_running_loop().time() + seconds

    def answer_slowly(self, seconds: float) -> None:
        self.delay = seconds

    def refuse(self, reason: str = "超区件: 收件地址不在服务范围", *, carrier: str | None = None,
               when: Callable[[dict[str, Any]], bool] | None = None) -> None:
        """1007 requests for `carrier` (or any) matching `when` (RequestData → bool) answer Success false."""
        self._rules.append(_Rule(reason, carrier.upper() if carrier else None, when))

    def reset(self) -> None:
        """Forget every fault, refusal and delay (the records stay)."""
        self._faults.clear()
        self._rules.clear()
        self.delay = 0.0

    # --- what happened ---------------------------------------------------------------------------------------

    @property
    def issued(self) -> list[Booking]:
        return list(self.bookings.values())

    def calls_of(self, kind: str) -> list[Call]:
        return [call for call in self.calls if call.kind == kind]

    # --- HTTP ------------------------------------------------------------------------------------------------

    async def _handle(self, request: Request) -> Reply | None:
        if request.path not in (KDNIAO_PATH, KUAIDI100_PATH):
            return Reply(404, b'{"message":"not found"}')
        if request.method != "POST":
            return Reply(405, b'{"message":"POST only"}')
        form = request.form()
        service = "kdniao" if request.path == KDNIAO_PATH else "kuaidi100"
        kind = (form.get("RequestType") or "?") if service == "kdniao" else "poll"
        if service == "kdniao" and self._carrier_is_down(form):
            self.calls.append(Call(service, kind, form, None, 503, None, "fail"))
            return Reply(503, b'{"message":"carrier system unavailable"}')
        fault = self._take(kind)
        if fault is not None and fault.what == "fail":
            self.calls.append(Call(service, kind, form, None, fault.status, None, "fail"))
            return Reply(fault.status, b'{"message":"temporarily unavailable"}')
        if fault is not None and fault.what == "hold":
            await asyncio.sleep(fault.seconds)
        data, answer = self._kdniao(form) if service == "kdniao" else self._kuaidi100(form)
        if self.delay:
            await asyncio.sleep(self.delay)
        if fault is not None and fault.what == "lose":
            self.calls.append(Call(service, kind, form, data, 0 if fault.drop else 502, answer, "lost"))
            return None if fault.drop else Reply(502, b"<html>502 Bad Gateway</html>", "text/html")
        self.calls.append(Call(service, kind, form, data, 200, answer, "held" if fault else ""))
        return Reply(200, json.dumps(answer, ensure_ascii=False).encode("utf-8"))

    def _carrier_is_down(self, form: dict[str, str]) -> bool:
        if not self.down_until:
            return False
        try:
            carrier = str(json.loads(form.get("RequestData") or "{}").get("ShipperCode", "")).upper()
        except (ValueError, AttributeError):
            return False
        return asyncio.get_running_loop().time() < self.down_until.get(carrier, 0.0)

    def _take(self, kind: str) -> _Fault | None:
        for fault in self._faults:
            if fault.count > 0 and fault.kind in (None, kind):
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
                return fault
        return None

    # --- Kdniao ----------------------------------------------------------------------------------------------

    def _kdniao(self, form: dict[str, str]) -> tuple[Any, dict[str, Any]]:
        data: Any = None
        try:
            data = self._verified(form)
            kind = form["RequestType"].strip()
            if kind == "1007":
                return data, self._answer(True, "100", "成功", Order=self._issue(data))
            if kind == "1008":
                self._subscribe(data)
                return data, self._answer(True, "100", "成功")
            if kind == "1147":
                self._cancel(data)
                return data, self._answer(True, "100", "成功")
            raise Refused("103", f"格式问题: RequestType {kind} 不支持")
        except Refused as refused:
            if refused.code == "106":
                booking = self.bookings[str(data["OrderCode"]).strip()]
                return data, self._answer(True, "106", refused.reason, Order=self._order(booking))
            return data, self._answer(False, refused.code, refused.reason)

    def _verified(self, form: dict[str, str]) -> dict[str, Any]:
        for name in ("RequestData", "EBusinessID", "RequestType", "DataSign", "DataType"):
            if not form.get(name, "").strip():
                raise Refused("101", f"缺少必要参数: {name}")
        if form["DataType"].strip() != "2":
            raise Refused("103", "格式问题: DataType 只支持 2 (JSON)")
        if form["EBusinessID"].strip() != self.business_id:
            raise Refused("104", f"用户问题: EBusinessID {form['EBusinessID']} 不存在")
        digest = hashlib.md5((form["RequestData"] + self.appkey).encode("utf-8")).hexdigest()
        expected = base64.b64encode(digest.encode("ascii")).decode("ascii")
        if not hmac.compare_digest(form["DataSign"].strip().encode(), expected.encode()):
            raise Refused("102", "校验问题: DataSign 签名验证失败")
        try:
            data = json.loads(form["RequestData"])
        except ValueError:
            raise Refused("103", "格式问题: RequestData 不是 JSON") from None
        if not isinstance(data, dict):
            raise Refused("103", "格式问题: RequestData 不是 JSON 对象")
        return data

    def _issue(self, data: dict[str, Any]) -> dict[str, Any]:
        for name in ("OrderCode", "ShipperCode", "PayType", "ExpType", "Quantity"):
            _required(data, name)
        if str(data["PayType"]).strip() not in ("1", "2", "3", "4"):
            raise Refused("103", "格式问题: PayType 只能是 1, 2, 3, 4")
        for name in ("Sender", "Receiver"):
            block = data.get(name)
            if not isinstance(block, dict):
                raise Refused("101", f"缺少必要参数: {name}")
            for part in PARTY_FIELDS:
                _required(block, part, f"{name}.{part}")
        goods = data.get("Commodity")
        if not isinstance(goods, list) or not goods:
            raise Refused("101", "缺少必要参数: Commodity")
        for i, line in enumerate(goods):
            if not isinstance(line, dict):
                raise Refused("103", f"格式问题: Commodity[{i}]")
            _required(line, "GoodsName", f"Commodity[{i}].GoodsName")
        _no_forbidden(data)
        code, carrier = str(data["OrderCode"]).strip(), str(data["ShipperCode"]).strip().upper()
        booking = self.bookings.get(code)
        if booking is not None:
            if booking.cancelled:
                raise Refused("105", f"订单 {code} 已取消, 订单号不可重复使用")
            raise Refused("106", "该订单号已下单成功")
        for rule in self._rules:
            if (rule.carrier is None or rule.carrier == carrier) and (rule.when is None or rule.when(data)):
                raise Refused("105", rule.reason)
        booking = Booking(code, carrier, self._number(carrier), data)
        self.bookings[code] = booking
        if self.on_issued is not None:
            with contextlib.suppress(Exception):  # a listener's fault never changes the carrier's answer
                self.on_issued(booking.shipment, booking.carrier, booking.waybill)
        return self._order(booking)

    def _subscribe(self, data: dict[str, Any]) -> None:
        for name in ("ShipperCode", "LogisticCode"):
            _required(data, name)
        if str(data["ShipperCode"]).upper() == "SF":
            _required(data, "CustomerName", "CustomerName (SF: 手机号后四位)")
        self.subscriptions.append(data)

    def _cancel(self, data: dict[str, Any]) -> None:
        for name in ("ShipperCode", "OrderCode", "ExpNo"):
            _required(data, name)
        booking = self.bookings.get(str(data["OrderCode"]).strip())
        if booking is None or booking.waybill != str(data["ExpNo"]).strip():
            raise Refused("105", "只支持有成功下单记录的订单进行取消")
        booking.cancelled = True
        self.cancels.append(data)

    def _number(self, carrier: str) -> str:
        prefix, digits, first = WAYBILL_FORMAT.get(carrier, (carrier, 12, 100_000_000_000))
        serial = self._serial.get(carrier, 0) + 1
        self._serial[carrier] = serial
        return f"{prefix}{first + serial:0{digits}d}"

    @staticmethod
    def _order(booking: Booking) -> dict[str, Any]:
        return {"OrderCode": booking.shipment, "ShipperCode": booking.carrier, "LogisticCode": booking.waybill}

    def _answer(self, success: bool, code: str, reason: str, **extra: Any) -> dict[str, Any]:
        return {
            "EBusinessID": self.business_id,
            "UpdateTime": datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
            "Success": success,
            "ResultCode": code,
            "Reason": reason,
            "UniquerRequestNumber": str(uuid.uuid4()),
            **extra,
        }

    # --- Kuaidi100 -------------------------------------------------------------------------------------------

    def _kuaidi100(self, form: dict[str, str]) -> tuple[Any, dict[str, Any]]:
        def answer(code: str, message: str) -> dict[str, Any]:
            return {"result": code == "200", "returnCode": code, "message": message}

        if form.get("schema", "json").strip().lower() != "json":
            return None, answer("700", "schema 只支持 json")
        try:
            param = json.loads(form.get("param") or "")
        except ValueError:
            return None, answer("700", "param 不是 JSON")
        if not isinstance(param, dict):
            return None, answer("700", "param 不是 JSON 对象")
        if param.get("key") != self.kuaidi100_key:
            return param, answer("600", "您不是合法的订阅者(授权Key错误)")
        company, number = str(param.get("company") or ""), str(param.get("number") or "")
        if company not in KUAIDI100_COMPANIES:
            return param, answer("700", f"不支持的快递公司 {company!r} (一律用小写字母)")
        if not 6 <= len(number) <= 32:
            return param, answer("700", "单号长度须在 6 到 32 个字符之间")
        parameters = param.get("parameters")
        callback = parameters.get("callbackurl") if isinstance(parameters, dict) else None
        if not isinstance(callback, str) or not callback.startswith(("http://", "https://")):
            return param, answer("700", "错误的回调地址 (parameters.callbackurl)")
        if any(s.get("company") == company and s.get("number") == number for s in self.kuaidi100_subscriptions):
            return param, answer("501", "重复订阅")
        self.kuaidi100_subscriptions.append(param)
        return param, answer("200", "提交成功")


def _required(block: dict[str, Any], name: str, shown: str | None = None) -> None:
    value = block.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise Refused("101", f"缺少必要参数: {shown or name}")


def _no_forbidden(value: Any) -> None:
    if isinstance(value, str) and FORBIDDEN & set(value):
        raise Refused("103", f"格式问题: 请求报文中不允许出现 ’ ” # & + < > ({value[:20]})")
    if isinstance(value, dict):
        for item in value.values():
            _no_forbidden(item)
    if isinstance(value, list):
        for item in value:
            _no_forbidden(item)
