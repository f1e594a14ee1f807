"""The carriers' status codes: Kdniao (快递鸟) State/StateEx and Kuaidi100 (快递100) state codes, the normalized
states `POST /api/v1/tracking` accepts, and carrier codes (Kdniao shipper codes, API.md) from Kuaidi100's `com`.

Each maps onto a parcel state of domain.tracking. Commission issue: only a signed parcel counts, and a returned or
rejected parcel never settles, so Kdniao 404/406/407 and Kuaidi100 4/6/14/401 map to `returned`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from domain.errors import DomainError
from domain.tracking import PROGRESS, ParcelState

_CREATED = ParcelState.CREATED
_COLLECTED = ParcelState.COLLECTED
_IN_TRANSIT = ParcelState.IN_TRANSIT
_OUT = ParcelState.OUT_FOR_DELIVERY
_SIGNED = ParcelState.SIGNED
_PROBLEM = ParcelState.PROBLEM
_RETURNED = ParcelState.RETURNED

# --- carrier status codes (data) ---------------------------------------------------------------------------
# A sub-code is its family's code followed by two digits (Kdniao 202 is in family 2, Kuaidi100 501 in 5); a
# sub-code missing from the tables takes its family's state, as the issue asks ("map by range").

KDNIAO_STATE: Mapping[str, ParcelState] = MappingProxyType(
    {
        "0": _CREATED,  # 暂无轨迹: the waybill exists, nothing has moved yet
        "1": _COLLECTED,  # 已揽收
        "2": _IN_TRANSIT,  # 在途中
        "3": _SIGNED,  # 签收
        "4": _PROBLEM,  # 问题件
        "5": _IN_TRANSIT,  # 转寄: forwarded to a new address, still moving
        "6": _IN_TRANSIT,  # 清关
        "10": _CREATED,  # 待揽件: not collected yet
    }
)

KDNIAO_STATE_EX: Mapping[str, ParcelState] = MappingProxyType(
    {
        "201": _IN_TRANSIT,  # 到达派件城市: in the buyer's city, not yet with a courier
        "202": _OUT,  # 派件中
        "204": _IN_TRANSIT,  # 到达转运中心
        "205": _IN_TRANSIT,  # 到达派件网点
        "206": _IN_TRANSIT,  # 寄件网点发件
        "211": _OUT,  # 已放入快递柜或驿站: waiting in the last mile for the buyer
        "301": _SIGNED,  # 正常签收
        "302": _SIGNED,  # 派件异常后最终签收
        "304": _SIGNED,  # 代收签收
        "311": _SIGNED,  # 已取出快递柜或驿站
        "401": _PROBLEM,  # 发货无信息
        "402": _PROBLEM,  # 超时未签收
        "403": _PROBLEM,  # 超时未更新
        "404": _RETURNED,  # 拒收(退件): rejected, never settles (commission issue)
        "405": _PROBLEM,  # 派件异常
        "406": _RETURNED,  # 退货签收: back with the sender
        "407": _RETURNED,  # 退货未签收: on its way back
        "412": _PROBLEM,  # 快递柜或驿站超时未取
        "413": _PROBLEM,  # 单号已拦截
        "414": _PROBLEM,  # 破损
        "415": _PROBLEM,  # 客户取消发货
        "416": _PROBLEM,  # 无法联系
        "417": _PROBLEM,  # 配送延迟
        "418": _PROBLEM,  # 快件取出
        "419": _PROBLEM,  # 重新派送
        "420": _PROBLEM,  # 收货地址不详细
        "421": _PROBLEM,  # 收件人电话错误
        "422": _PROBLEM,  # 错分件
        "423": _PROBLEM,  # 超区件
        "601": _IN_TRANSIT,  # 待清关
        "602": _IN_TRANSIT,  # 清关中
        "603": _IN_TRANSIT,  # 已清关
        "604": _PROBLEM,  # 清关异常
    }
)

KUAIDI100_STATE: Mapping[str, ParcelState] = MappingProxyType(
    {
        "0": _IN_TRANSIT,  # 在途
        "1": _COLLECTED,  # 揽收
        "2": _PROBLEM,  # 疑难
        "3": _SIGNED,  # 签收
        "4": _RETURNED,  # 退签: never settles (commission issue)
        "5": _OUT,  # 派件
        "6": _RETURNED,  # 退回: never settles (commission issue)
        "7": _IN_TRANSIT,  # 转投: handed to another carrier, still moving
        "8": _IN_TRANSIT,  # 清关
        "10": _IN_TRANSIT,  # 待清关 (older clearance states, still sent without the advanced states)
        "11": _IN_TRANSIT,  # 清关中
        "12": _IN_TRANSIT,  # 已清关
        "13": _PROBLEM,  # 清关异常
        "14": _RETURNED,  # 拒签: rejected, never settles (commission issue)
    }
)

KUAIDI100_SUBSTATE: Mapping[str, ParcelState] = MappingProxyType(
    {
        "101": _CREATED,  # 已下单
        "102": _CREATED,  # 待揽收
        "103": _COLLECTED,  # 已揽收
        "1001": _IN_TRANSIT,  # 到达派件城市
        "1002": _IN_TRANSIT,  # 干线
        "1003": _IN_TRANSIT,  # 转递
        "201": _PROBLEM,  # 超时未签收
        "202": _PROBLEM,  # 超时未更新
        "203": _PROBLEM,  # 拒收 (疑难): the carrier still works on it; 14 拒签 is the final rejection
        "204": _PROBLEM,  # 派件异常
        "205": _PROBLEM,  # 柜或驿站超时未取
        "206": _PROBLEM,  # 无法联系
        "207": _PROBLEM,  # 超区
        "208": _PROBLEM,  # 滞留
        "209": _PROBLEM,  # 破损
        "210": _PROBLEM,  # 销单
        "211": _PROBLEM,  # 疑难 (other)
        "301": _SIGNED,  # 本人签收
        "302": _SIGNED,  # 派件异常后签收
        "303": _SIGNED,  # 代签
        "304": _SIGNED,  # 投柜或站签收
        "401": _RETURNED,  # 已销单: never settles (commission issue)
        "501": _OUT,  # 投柜或驿站: waiting in the last mile for the buyer
        "601": _RETURNED,  # 退回
        "801": _IN_TRANSIT,  # 待清关
        "802": _IN_TRANSIT,  # 清关中
        "803": _IN_TRANSIT,  # 已清关
        "804": _PROBLEM,  # 清关异常
    }
)

# 在途 (0) cannot lead a sub-code, so Kuaidi100 writes its sub-codes as 10xx.
_KUAIDI100_FAMILY_ALIAS: Mapping[str, str] = MappingProxyType({"10": "0"})
_NO_ALIAS: Mapping[str, str] = MappingProxyType({})

KDNIAO_TO_KUAIDI100: Mapping[str, str] = MappingProxyType(
    {
        "SF": "shunfeng",
        "ZTO": "zhongtong",
        "YTO": "yuantong",
        "STO": "shentong",
        "YD": "yunda",
        "JTSD": "jtexpress",
        "EMS": "ems",
    }
)
# The carriers operations can configure (`PUT /api/v1/carriers/{carrier}`): the Kdniao shipper codes we ship
# with, JD and Deppon, and `LOCAL` for a same-city courier (routing's CarrierPolicy names its own too).
KNOWN_CARRIERS: frozenset[str] = frozenset({*KDNIAO_TO_KUAIDI100, "JD", "DBL", "LOCAL"})
_KUAIDI100_TO_KDNIAO: Mapping[str, str] = MappingProxyType({v: k for k, v in KDNIAO_TO_KUAIDI100.items()})

# The states `POST /api/v1/tracking` accepts (API.md): `created` is where a parcel starts, never a report.
_NORMALIZED: tuple[ParcelState, ...] = (*PROGRESS[1:], _PROBLEM, _RETURNED)


# Carrier codes are a few digits; a bound keeps str() of an absurd integer from failing.
_CODE_LIMIT = 10**9


def _code(value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value) if 0 <= value < _CODE_LIMIT else None
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return text.lstrip("0") or "0"
    return None


def _shown(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _CODE_LIMIT:
        return "an out-of-range number"
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:36]}...'"


def _family(code: str, alias: Mapping[str, str]) -> str | None:
    if len(code) < 3 or code.endswith("00"):
        return None
    family = code[:-2]
    return alias.get(family, family)


def _lookup(
    value: object, main: Mapping[str, ParcelState], sub: Mapping[str, ParcelState], alias: Mapping[str, str]
) -> ParcelState | None:
    code = _code(value)
    if code is None:
        return None
    if code in sub:
        return sub[code]
    if code in main:
        return main[code]
    family = _family(code, alias)
    return None if family is None else main.get(family)


def from_kdniao(state: str | int, state_ex: str | int | None = None) -> ParcelState:
    """The parcel state a Kdniao push reports (tracking issue; Kdniao push `State`/`StateEx`).

    `StateEx` is the finer code and wins when it is present and known; an unknown or empty one falls back to
    `State`. Codes missing from the tables take their family's state (Kdniao 208 → in_transit). Returned or
    rejected parcels (404/406/407) map to `returned`, which never settles a commission (commission issue).
    Raises DomainError(field="state") when neither code is known.
    """
    finer = None if state_ex is None else _lookup(state_ex, KDNIAO_STATE, KDNIAO_STATE_EX, _NO_ALIAS)
    if finer is not None:
        return finer
    coarse = _lookup(state, KDNIAO_STATE, KDNIAO_STATE_EX, _NO_ALIAS)
    if coarse is None:
        raise DomainError(f"unknown Kdniao State {_shown(state)} (StateEx {_shown(state_ex)})", field="state")
    return coarse


def from_kuaidi100(state: str | int) -> ParcelState:
    """The parcel state a Kuaidi100 push reports, from a main state (0–14) or an advanced sub-code (tracking
    issue; Kuaidi100 `lastResult.state`).

    Sub-codes missing from the tables take their family's state (Kuaidi100 212 → problem, 1004 → in_transit).
    退签 4, 退回 6, 拒签 14 and 已销单 401 map to `returned`: such a parcel never settles a commission
    (commission issue). Raises DomainError(field="state") for an unknown code.
    """
    found = _lookup(state, KUAIDI100_STATE, KUAIDI100_SUBSTATE, _KUAIDI100_FAMILY_ALIAS)
    if found is None:
        raise DomainError(f"unknown Kuaidi100 state {_shown(state)}", field="state")
    return found


def from_normalized(state: str) -> ParcelState:
    """The state of a normalized tracking report (API.md, `POST /api/v1/tracking`).

    Accepts collected, in_transit, out_for_delivery, signed, problem and returned; anything else, `created`
    included (a parcel starts there, no one reports it), raises DomainError(field="state").
    """
    if isinstance(state, str) and state in _NORMALIZED:
        return ParcelState(state)
    raise DomainError(f"state must be one of {', '.join(_NORMALIZED)}, got {_shown(state)}", field="state")


def carrier_from_kuaidi100(com: str) -> str:
    """The Kdniao shipper code (our carrier code, API.md) of a Kuaidi100 company code (`com`).

    Kuaidi100 writes `com` in lower case; other cases are accepted. Raises DomainError(field="com") for a
    company we do not ship with.
    """
    carrier = _KUAIDI100_TO_KDNIAO.get(com.strip().lower()) if isinstance(com, str) else None
    if carrier is None:
        raise DomainError(f"unknown Kuaidi100 company {_shown(com)}", field="com")
    return carrier
