"""Tracking: a parcel's state from carrier pushes, the carriers' status codes, and stuck parcels.

Tracking issue: a parcel goes created → collected → in_transit → out_for_delivery → signed, with problem and
returned beside that line. Kdniao (快递鸟) State/StateEx and Kuaidi100 (快递100) state codes map onto these
states; events that arrive out of order or twice never move a parcel backwards; a parcel with no event for
too long in a state is stuck. Commission issue: only a signed parcel counts, and a returned or rejected parcel
never settles, so Kdniao 404/406/407 and Kuaidi100 4/6/14/401 map to `returned`.
Carrier codes are Kdniao shipper codes (API.md); Kuaidi100 pushes name the carrier by its own `com` code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from domain.errors import DomainError


class ParcelState(StrEnum):
    CREATED = "created"
    COLLECTED = "collected"
    IN_TRANSIT = "in_transit"
    OUT_FOR_DELIVERY = "out_for_delivery"
    SIGNED = "signed"
    PROBLEM = "problem"
    RETURNED = "returned"


PROGRESS: tuple[ParcelState, ...] = (
    ParcelState.CREATED,
    ParcelState.COLLECTED,
    ParcelState.IN_TRANSIT,
    ParcelState.OUT_FOR_DELIVERY,
    ParcelState.SIGNED,
)
_RANK: Mapping[ParcelState, int] = MappingProxyType({state: rank for rank, state in enumerate(PROGRESS)})
_TERMINAL = frozenset({ParcelState.SIGNED, ParcelState.RETURNED})

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


# --- the parcel state machine ----------------------------------------------------------------------------


def _require_aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got naive {value.isoformat()}")


def _as_state(owner: Any, name: str) -> ParcelState:
    value = getattr(owner, name)
    try:
        # A wire string ("in_transit", as stored) is accepted and kept as the enum member.
        state = ParcelState(value)
    except ValueError:
        raise DomainError(f"unknown parcel state {value!r}", field=name) from None
    object.__setattr__(owner, name, state)
    return state


def is_terminal(state: ParcelState) -> bool:
    """Signed and returned are final: no later event changes them (tracking issue)."""
    return state in _TERMINAL


@dataclass(frozen=True, slots=True)
class TrackingEvent:
    """One carrier report about a parcel, already mapped to our states."""

    state: ParcelState
    at: datetime
    station: str = ""

    def __post_init__(self) -> None:
        _as_state(self, "state")
        _require_aware(self.at, "at")
        if not isinstance(self.station, str):
            raise DomainError(f"station must be text, got {self.station!r}", field="station")


@dataclass(frozen=True, slots=True)
class Parcel:
    """Where a parcel is. `furthest` is the furthest progress state reached, which a problem does not erase;
    `last_event_at` is the latest event heard; `state_since` is when the current state was entered.

    A progress state is always the furthest reached, only a signed parcel has reached `signed`, and a
    terminal parcel knows when it got there.
    """

    state: ParcelState = ParcelState.CREATED
    furthest: ParcelState = ParcelState.CREATED
    last_event_at: datetime | None = None
    state_since: datetime | None = None

    def __post_init__(self) -> None:
        state, furthest = _as_state(self, "state"), _as_state(self, "furthest")
        _require_aware(self.last_event_at, "last_event_at")
        _require_aware(self.state_since, "state_since")
        if furthest not in _RANK or (furthest == _SIGNED) != (state == _SIGNED):
            raise DomainError(f"{state} parcel cannot have reached {furthest}", field="furthest")
        if state in _RANK and state != furthest:
            raise DomainError(f"a {state} parcel has reached {state}, not {furthest}", field="furthest")
        if is_terminal(state) and self.state_since is None:
            raise DomainError(f"a {state} parcel needs the time it became {state}", field="state_since")


def _latest(known: datetime | None, at: datetime) -> datetime:
    return at if known is None or at > known else known


def _further(known: ParcelState, state: ParcelState) -> ParcelState:
    return state if _RANK[state] > _RANK[known] else known


def _enter(parcel: Parcel, event: TrackingEvent, furthest: ParcelState) -> Parcel:
    return Parcel(event.state, furthest, _latest(parcel.last_event_at, event.at), event.at)


def _heard(parcel: Parcel, event: TrackingEvent, furthest: ParcelState) -> Parcel:
    """The parcel stays in its state, but the carrier spoke: the quiet time (stuck detection) restarts."""
    since = parcel.state_since if parcel.state_since is not None else event.at
    return replace(
        parcel, furthest=furthest, last_event_at=_latest(parcel.last_event_at, event.at), state_since=since
    )


def _is_stale(parcel: Parcel, event: TrackingEvent) -> bool:
    return parcel.last_event_at is not None and event.at < parcel.last_event_at


def _on_problem(parcel: Parcel, event: TrackingEvent) -> Parcel:
    if _is_stale(parcel, event):
        return parcel
    if parcel.state == _PROBLEM:
        return _heard(parcel, event, parcel.furthest)
    return _enter(parcel, event, parcel.furthest)


def _leaves_problem(parcel: Parcel, event: TrackingEvent) -> bool:
    caught_up = _RANK[event.state] >= _RANK[parcel.furthest]
    return caught_up and (parcel.state_since is None or event.at >= parcel.state_since)


def _on_progress(parcel: Parcel, event: TrackingEvent) -> Parcel:
    furthest = _further(parcel.furthest, event.state)
    if parcel.state == _PROBLEM:
        if _leaves_problem(parcel, event):
            return _enter(parcel, event, furthest)
        return _heard(parcel, event, furthest)
    if _RANK[event.state] > _RANK[parcel.state]:
        return _enter(parcel, event, furthest)
    return _heard(parcel, event, furthest)


def _next(parcel: Parcel, event: TrackingEvent) -> Parcel:
    if is_terminal(parcel.state):
        return parcel
    if event.state == _RETURNED:
        return _enter(parcel, event, parcel.furthest)
    if event.state == _SIGNED:
        return _enter(parcel, event, _SIGNED)
    if event.state == _PROBLEM:
        return _on_problem(parcel, event)
    return _on_progress(parcel, event)


def apply(parcel: Parcel, event: TrackingEvent) -> Parcel:
    """The parcel after one carrier event (tracking issue: out-of-order or repeated events never move a
    parcel backwards). Returns `parcel` itself when nothing changes.

    - Signed and returned are terminal: a terminal parcel ignores every event, and either one, whatever its
      time, ends any non-terminal parcel (a late signature still signs: commission issue).
    - Progress states only move forward by rank, whatever the event's time; an event of the same or a lower
      rank changes no state but counts as news (`last_event_at`), so the parcel is not stuck.
    - A problem event enters `problem` from any non-terminal state unless it is older than the last event
      heard (a stale exception is already resolved). The parcel leaves `problem` on a progress event of at
      least its furthest rank that is not older than the problem; an older one only records progress.
    - `state_since` is when the current state was entered; `last_event_at` never goes back in time.
    """
    moved = _next(parcel, event)
    return parcel if moved == parcel else moved


def signed_at(parcels: Sequence[Parcel]) -> datetime | None:
    """When an order counts as signed: the last signature of its parcels once ALL of them are signed, else
    None (commission issue: commission freezes when the buyer has signed for the parcel, and a split order
    has been received only when every parcel has). An order without parcels is not signed.
    """
    times = [p.state_since for p in parcels if p.state == _SIGNED and p.state_since is not None]
    if not parcels or len(times) != len(parcels):
        return None
    return max(times)


# A carrier event is believed only between the order's placing and the event's own arrival at our server, with
# this much slack either side for clocks that disagree (API.md, "Carriers"). A `signed` dated before the order
# or in the future would otherwise start (or never start) the after-sale window on a time that never was.
EVENT_TIME_SLACK = timedelta(minutes=10)


def check_event_time(at: datetime, placed_at: datetime, received_at: datetime, field: str) -> None:
    """Refuse (DomainError `event_time_out_of_range` naming `field`) an event time outside
    [placed_at - EVENT_TIME_SLACK, received_at + EVENT_TIME_SLACK]."""
    _require_aware(at, field)
    if at < placed_at - EVENT_TIME_SLACK:
        raise DomainError(f"{field}: {at.isoformat()} is before the order was placed ({placed_at.isoformat()})",
                          field=field, code="event_time_out_of_range")
    if at > received_at + EVENT_TIME_SLACK:
        raise DomainError(f"{field}: {at.isoformat()} is later than the report's arrival "
                          f"({received_at.isoformat()})", field=field, code="event_time_out_of_range")


def any_returned(parcels: Iterable[Parcel]) -> bool:
    """Whether a parcel of the order came back: a returned or rejected parcel never settles its commission
    (commission issue)."""
    return any(p.state == _RETURNED for p in parcels)


# --- stuck parcels ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StuckPolicy:
    """How long a parcel may stay silent in a state before it is stuck (tracking issue: 48 h collected, 24 h
    in transit; 24 h out for delivery). Only progress states short of signed may have a threshold: a problem
    is already an exception and a terminal parcel goes nowhere.
    """

    thresholds: tuple[tuple[ParcelState, timedelta], ...] = (
        (ParcelState.COLLECTED, timedelta(hours=48)),
        (ParcelState.IN_TRANSIT, timedelta(hours=24)),
        (ParcelState.OUT_FOR_DELIVERY, timedelta(hours=24)),
    )

    def __post_init__(self) -> None:
        states = [_threshold_state(state, limit) for state, limit in self.thresholds]
        if len(set(states)) != len(states):
            raise DomainError("a state may have one stuck threshold only", field="thresholds")

    def threshold(self, state: ParcelState) -> timedelta | None:
        """The silence allowed in `state`, or None when that state is never stuck."""
        return next((limit for known, limit in self.thresholds if known == state), None)


def _threshold_state(state: object, limit: object) -> ParcelState:
    if not isinstance(state, str) or state not in PROGRESS[:-1]:
        raise DomainError(f"no stuck threshold can apply to state {state!r}", field="thresholds")
    if not isinstance(limit, timedelta) or limit <= timedelta(0):
        raise DomainError(f"the stuck threshold of {state} must be a positive duration", field="thresholds")
    return ParcelState(state)


DEFAULT_STUCK_POLICY = StuckPolicy()


def is_stuck(parcel: Parcel, now: datetime, policy: StuckPolicy = DEFAULT_STUCK_POLICY) -> bool:
    """Whether the parcel has had no event for longer than its state's threshold (tracking issue: stuck
    parcels raise an exception for ops). Silence is measured from the last event, or from when the parcel
    entered its state if no event came yet; exactly the threshold is not stuck yet. Problem and terminal
    parcels are never stuck.
    """
    _require_aware(now, "now")
    limit = policy.threshold(parcel.state)
    quiet_since = parcel.last_event_at if parcel.last_event_at is not None else parcel.state_since
    if limit is None or quiet_since is None:
        return False
    return now - quiet_since > limit
