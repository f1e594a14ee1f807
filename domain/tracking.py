"""Tracking: a parcel's state from carrier pushes, and stuck parcels.

Tracking issue: a parcel goes created → collected → in_transit → out_for_delivery → signed, with problem and
returned beside that line. Events that arrive out of order or twice never move a parcel backwards; a parcel with
no event for too long in a state is stuck. The carriers' status codes that map onto these states are in
domain.carrier_codes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from domain.errors import DomainError
from domain.times import require_aware as _require_aware


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

_SIGNED = ParcelState.SIGNED
_PROBLEM = ParcelState.PROBLEM
_RETURNED = ParcelState.RETURNED

# --- the parcel state machine ----------------------------------------------------------------------------


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
        raise DomainError(
            f"{field}: {at.isoformat()} is before the order was placed ({placed_at.isoformat()})",
            field=field,
            code="event_time_out_of_range",
        )
    if at > received_at + EVENT_TIME_SLACK:
        raise DomainError(
            f"{field}: {at.isoformat()} is later than the report's arrival ({received_at.isoformat()})",
            field=field,
            code="event_time_out_of_range",
        )


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
