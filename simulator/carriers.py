"""Parcels on the road, as the carriers' aggregators report them: a journey of trace lines on the accelerated
clock, and the signed pushes that carry them (Kdniao RequestType 101 and Kuaidi100, exactly as API.md signs
them) or the normalized `POST /api/v1/tracking` for the same-city courier.

A line is planned and falls due on the accelerated clock, but a push stamps it with `stamp(at)`, the real time
it fell due: the server refuses an event dated after its arrival (API.md, "Carriers"), and its clock is real.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

BEIJING = timezone(timedelta(hours=8))  # carriers write Beijing time without a zone
Stamp = Callable[[datetime], datetime]  # a line's planned (accelerated) time → the time a push reports


def _as_planned(at: datetime) -> datetime:
    return at

CARRIER_NAMES = {
    "SF": "顺丰速运",
    "ZTO": "中通快递",
    "YTO": "圆通速递",
    "STO": "申通快递",
    "YD": "韵达快递",
    "JTSD": "极兔速递",
    "EMS": "中国邮政EMS",
    "LOCAL": "同城急送",
}
# Kuaidi100 names carriers by its own company codes.
KUAIDI100_COM = {
    "SF": "shunfeng",
    "ZTO": "zhongtong",
    "YTO": "yuantong",
    "STO": "shentong",
    "YD": "yunda",
    "JTSD": "jtexpress",
    "EMS": "ems",
}
COURIERS = ("王师傅", "李师傅", "张师傅", "刘师傅", "陈师傅", "周师傅", "赵师傅", "黄师傅")
KDNIAO_BUSINESS_ID = "1391822"


class Stage(StrEnum):
    COLLECTED = "collected"
    DEPARTED = "departed"
    ARRIVED = "arrived"
    OUT = "out"
    SIGNED = "signed"
    DELAYED = "delayed"
    DAMAGED = "damaged"
    REFUSED = "refused"


# stage → (Kdniao State, Kdniao StateEx, Kuaidi100 state, normalized state, what the parcel is then)
CODES: dict[Stage, tuple[str, str, str, str, str]] = {
    Stage.COLLECTED: ("1", "1", "1", "collected", "collected"),
    Stage.DEPARTED: ("2", "206", "0", "in_transit", "in_transit"),
    Stage.ARRIVED: ("2", "201", "0", "in_transit", "in_transit"),
    Stage.OUT: ("2", "202", "5", "out_for_delivery", "out_for_delivery"),
    Stage.SIGNED: ("3", "301", "3", "signed", "signed"),
    Stage.DELAYED: ("4", "405", "2", "problem", "problem"),
    Stage.DAMAGED: ("4", "414", "2", "problem", "problem"),
    Stage.REFUSED: ("4", "404", "4", "returned", "returned"),
}

# Sim-minutes each stage comes after the one before it: a parcel is signed a few hours after the order, so at
# --speed 60 (a sim hour per wall minute) a parcel goes from collected to signed in a few minutes.
_EXPRESS = ((Stage.COLLECTED, 5, 30), (Stage.DEPARTED, 15, 45), (Stage.ARRIVED, 15, 45), (Stage.OUT, 10, 40))
JOURNEYS: dict[str, tuple[tuple[Stage, int, int], ...]] = {
    "normal": (*_EXPRESS, (Stage.SIGNED, 5, 40)),
    "stuck": _EXPRESS[:2],  # and then nothing more
    "returned": (*_EXPRESS, (Stage.REFUSED, 20, 60)),
    "problem": (*_EXPRESS[:3], (Stage.DAMAGED, 10, 30), (Stage.OUT, 30, 90), (Stage.SIGNED, 10, 40)),
    "instant": ((Stage.COLLECTED, 3, 10), (Stage.OUT, 5, 15), (Stage.SIGNED, 10, 30)),
}


def beijing(at: datetime) -> str:
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class Route:
    """Where a parcel goes, for the trace lines: from the warehouse's city to the buyer or pickup point."""

    carrier: str
    origin_city: str
    dest_city: str
    dest_district: str
    pickup: str | None = None  # the pickup point's name, for pickup orders


def station(stage: Stage, route: Route, rng: random.Random) -> str:
    name = CARRIER_NAMES.get(route.carrier, route.carrier)
    origin, dest = route.origin_city, route.dest_city
    if stage is Stage.COLLECTED:
        return f"【{origin}】{name} 已揽收，揽投员：{rng.choice(COURIERS)}"
    if stage is Stage.DEPARTED:
        return f"快件已从【{origin}转运中心】发出，下一站【{dest}转运中心】"
    if stage is Stage.ARRIVED:
        return f"快件已到达【{dest}转运中心】，正在分拣"
    if stage is Stage.OUT:
        courier = rng.choice(COURIERS)
        phone = f"1{rng.randint(30, 99)}****{rng.randrange(10_000):04d}"
        return f"【{dest}{route.dest_district}】快递员 {courier}（{phone}）正在为您派件"
    if stage is Stage.SIGNED:
        if route.pickup:
            return f"快件已由【{route.pickup}】代收，请凭取件码及时取件"
        return f"您的快件已签收，签收人：本人。感谢使用{name}，期待再次为您服务"
    if stage is Stage.DELAYED:
        return "收件人电话无人接听，派件异常，将于明日再次派送"
    if stage is Stage.DAMAGED:
        return "快件外包装破损，已拍照留存并联系寄件方处理"
    return "收件人拒收，快件退回寄件方"


@dataclass(frozen=True)
class TraceLine:
    at: datetime
    stage: Stage
    station: str


@dataclass
class Parcel:
    """One shipment's journey. Its lines are pushed one after the other, each push with the trace so far."""

    order: str
    shipment: str
    waybill: str
    carrier: str
    warehouse: str
    channel: str  # kdniao | kuaidi100 | api
    kind: str
    lines: list[TraceLine]
    sent: int = 0  # lines the server has accepted
    superseded: bool = False  # re-routed or cancelled: the journey stops
    retries: int = 0
    kuaidi100_returned: str = "4"  # 退签 (4) or 退回 (6)
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.superseded or self.sent >= len(self.lines)

    @property
    def state(self) -> str:
        return CODES[self.lines[self.sent - 1].stage][4] if self.sent else "created"

    def shift(self, start: datetime) -> None:
        """Start the unsent part of the journey at `start` (a parcel that waited out a warehouse outage)."""
        if self.sent >= len(self.lines):
            return
        offset = start - self.lines[self.sent].at
        if offset > timedelta(0):
            self.lines[self.sent :] = [
                TraceLine(line.at + offset, line.stage, line.station) for line in self.lines[self.sent :]
            ]


def plan_journey(rng: random.Random, kind: str, route: Route, start: datetime) -> list[TraceLine]:
    steps = JOURNEYS["instant" if route.carrier == "LOCAL" and kind == "normal" else kind]
    at, lines = start, []
    for stage, low, high in steps:
        at = at + timedelta(minutes=rng.uniform(low, high))
        lines.append(TraceLine(at, stage, station(stage, route, rng)))
    if kind == "problem" and rng.random() < 0.5:
        lines = [
            TraceLine(x.at, Stage.DELAYED, station(Stage.DELAYED, route, rng))
            if x.stage is Stage.DAMAGED
            else x
            for x in lines
        ]
    return lines


def channel_for(carrier: str, rng: random.Random) -> str:
    """Same-city couriers report through our own normalized API; express carriers through an aggregator."""
    if carrier == "LOCAL":
        return "api"
    if carrier not in KUAIDI100_COM:
        return "kdniao"
    return "kdniao" if rng.random() < 0.55 else "kuaidi100"


# --- pushes ----------------------------------------------------------------------------------------------


def kdniao_item(parcel: Parcel, upto: int, stamp: Stamp = _as_planned) -> dict[str, Any]:
    lines = parcel.lines[:upto]
    state, state_ex, *_ = CODES[lines[-1].stage]
    return {
        "ShipperCode": parcel.carrier,
        "LogisticCode": parcel.waybill,
        "State": state,
        "StateEx": state_ex,
        "Traces": [{"AcceptTime": beijing(stamp(x.at)), "AcceptStation": x.station} for x in lines],
    }


def kdniao_form(appkey: str, items: list[dict[str, Any]], pushed_at: datetime) -> dict[str, str]:
    """RequestType 101; DataSign = base64 of the lowercase hex MD5 of RequestData + AppKey (API.md)."""
    request_data = json.dumps(
        {
            "EBusinessID": KDNIAO_BUSINESS_ID,
            "PushTime": beijing(pushed_at),
            "Count": len(items),
            "Data": items,
        },
        ensure_ascii=False,
    )
    digest = hashlib.md5((request_data + appkey).encode()).hexdigest()
    return {
        "RequestData": request_data,
        "DataSign": base64.b64encode(digest.encode()).decode(),
        "RequestType": "101",
    }


def kuaidi100_form(salt: str, parcel: Parcel, upto: int, stamp: Stamp = _as_planned) -> dict[str, str]:
    """`param` with the trace newest first; sign = uppercase hex MD5 of param + salt (API.md)."""
    lines = parcel.lines[:upto]
    state = CODES[lines[-1].stage][2]
    if lines[-1].stage is Stage.REFUSED:
        state = parcel.kuaidi100_returned
    data = [{"context": x.station, "time": beijing(stamp(x.at)), "ftime": beijing(stamp(x.at))}
            for x in reversed(lines)]
    param = json.dumps(
        {
            "status": "polling",
            "billstatus": "got",
            "message": "",
            "lastResult": {
                "message": "ok",
                "nu": parcel.waybill,
                "ischeck": "1" if state in ("3", "4", "6") else "0",
                "com": KUAIDI100_COM[parcel.carrier],
                "status": "200",
                "state": state,
                "data": data,
            },
        },
        ensure_ascii=False,
    )
    return {"param": param, "sign": hashlib.md5((param + salt).encode()).hexdigest().upper()}


def tracking_body(parcel: Parcel, upto: int, stamp: Stamp = _as_planned) -> dict[str, Any]:
    line = parcel.lines[upto - 1]
    return {
        "carrier": parcel.carrier,
        "waybill": parcel.waybill,
        "state": CODES[line.stage][3],
        "at": stamp(line.at).isoformat(),
        "station": line.station,
    }
