"""Attribution: which group leader (团长) a buyer belongs to, and who gets the order.

A leader shares codes per room (live and replay). A visit through a code binds the visitor to the code's
leader under the room's binding mode; an order is attributed to the leader bound at the order time, and that
leader is stored on the order. A binding is per visitor across the brand's private domain; the policy applied
to a visit or an order is the one of the room whose code was used (attribution issue; DESIGN.md).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import DomainError
from domain.times import require_aware as _require_aware

SHARE_CODE_LENGTH = 12


class BindingMode(StrEnum):
    FIRST_TOUCH = "first_touch"
    LAST_TOUCH = "last_touch"
    PERMANENT = "permanent"


class LinkKind(StrEnum):
    LIVE = "live"
    REPLAY = "replay"


class BindingOutcome(StrEnum):
    NEW = "new"
    KEPT = "kept"
    REBOUND = "rebound"


def _require_name(value: str, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise DomainError(f"{name} must be a non-empty string", field=name)


@dataclass(frozen=True, slots=True)
class BindingPolicy:
    """A room's binding rule (API.md, rooms: `binding: {mode, protection_days?}`)."""

    mode: BindingMode
    protection_days: int = 7

    def __post_init__(self) -> None:
        try:
            # A wire string ("first_touch") is accepted and stored as the enum member.
            object.__setattr__(self, "mode", BindingMode(self.mode))
        except ValueError:
            raise DomainError(f"unknown binding mode {self.mode!r}", field="mode") from None
        days = self.protection_days
        if isinstance(days, bool) or not isinstance(days, int) or days < 0:
            raise DomainError(
                f"protection_days must be a whole number >= 0, got {days!r}", field="protection_days"
            )


@dataclass(frozen=True, slots=True)
class ShareCode:
    code: str
    room: str
    leader: str
    kind: LinkKind


def share_code(room: str, leader: str, kind: LinkKind, secret: str) -> ShareCode:
    """A leader's share code for a room: one per (room, leader, kind), so live and replay links are told apart
    while a replay code attributes exactly like a live one (attribution issue).

    The code is the first 12 characters of the lowercase, unpadded base32 of HMAC-SHA256(secret, room, leader,
    kind): deterministic, URL-safe, and not guessable without the secret.
    """
    _require_name(room, "room")
    _require_name(leader, "leader")
    _require_name(secret, "secret")
    try:
        link_kind = LinkKind(kind)
    except ValueError:
        raise DomainError(f"unknown link kind {kind!r}", field="kind") from None
    digest = hmac.new(secret.encode(), _code_message(room, leader, link_kind), hashlib.sha256).digest()
    code = base64.b32encode(digest).decode("ascii").rstrip("=").lower()[:SHARE_CODE_LENGTH]
    return ShareCode(code=code, room=room, leader=leader, kind=link_kind)


def _code_message(room: str, leader: str, kind: LinkKind) -> bytes:
    # Length-prefixed fields: room "a|b" + leader "c" must never sign the same bytes as room "a" + "b|c".
    return b"".join(f"{len(part.encode())}:".encode() + part.encode() for part in (room, leader, kind.value))


@dataclass(frozen=True, slots=True)
class Binding:
    """A visitor bound to a leader since `bound_at`; `protected_until` None means bound for good."""

    visitor: str
    leader: str
    bound_at: datetime
    protected_until: datetime | None

    def __post_init__(self) -> None:
        _require_name(self.visitor, "visitor")
        _require_name(self.leader, "leader")
        if self.visitor == self.leader:
            raise DomainError("a visitor cannot be bound to themselves", field="leader", code="self_binding")
        _require_aware(self.bound_at, "bound_at")
        if self.protected_until is not None:
            _require_aware(self.protected_until, "protected_until")
            if self.protected_until < self.bound_at:
                raise DomainError("protection cannot end before the binding starts", field="protected_until")


def is_protected(binding: Binding, at: datetime) -> bool:
    """Whether another leader's click at `at` is refused: a permanent binding is protected for good, any other
    until `protected_until` (exclusive, so a last_touch binding, protected until its own start, never is)
    (attribution issue: first_touch keeps the visitor for protection_days).
    """
    _require_aware(at, "at")
    return binding.protected_until is None or at < binding.protected_until


@dataclass(frozen=True, slots=True)
class VisitDecision:
    binding: Binding | None
    outcome: BindingOutcome


def visit(
    current: Binding | None,
    visitor: str,
    leader: str,
    at: datetime,
    policy: BindingPolicy,
    uplines: Mapping[str, str | None],
) -> VisitDecision:
    """Bind a visitor who clicked `leader`'s code under the room's mode (attribution issue):

    - permanent: the first leader keeps the visitor for good;
    - first_touch: the first leader keeps the visitor for `protection_days`; a click by another leader after
      that rebinds;
    - last_touch: every click by another leader rebinds.

    The same leader clicking again is KEPT; under first_touch an expired protection is renewed from `at`.
    A click by the visitor themselves, or by a leader whose upline chain contains the visitor (a downline
    binding its upline would make a loop), is refused: KEPT with the current binding, which may be None.
    A click older than the current binding (events arrive late) never rebinds.
    """
    _require_aware(at, "at")
    _require_name(leader, "leader")
    _require_visitor(current, visitor)
    if _is_refused(visitor, leader, uplines):
        return VisitDecision(binding=current, outcome=BindingOutcome.KEPT)
    if current is None:
        return VisitDecision(binding=_new_binding(visitor, leader, at, policy), outcome=BindingOutcome.NEW)
    if current.leader == leader:
        return VisitDecision(binding=_renewed(current, at, policy), outcome=BindingOutcome.KEPT)
    if _may_rebind(current, at, policy):
        return VisitDecision(
            binding=_new_binding(visitor, leader, at, policy), outcome=BindingOutcome.REBOUND
        )
    return VisitDecision(binding=current, outcome=BindingOutcome.KEPT)


def _require_visitor(current: Binding | None, visitor: str) -> None:
    _require_name(visitor, "visitor")
    if current is not None and current.visitor != visitor:
        raise DomainError(
            f"the current binding belongs to visitor {current.visitor}, not {visitor}", field="current"
        )


def _is_refused(visitor: str, leader: str, uplines: Mapping[str, str | None]) -> bool:
    return visitor == leader or visitor in _ancestors(leader, uplines)


def _ancestors(leader: str, uplines: Mapping[str, str | None]) -> Iterator[str]:
    """The upline chain above `leader`, nearest first; stops at a cycle already present in the data."""
    seen = {leader}
    upline = uplines.get(leader)
    while upline is not None and upline not in seen:
        yield upline
        seen.add(upline)
        upline = uplines.get(upline)


def _may_rebind(current: Binding, at: datetime, policy: BindingPolicy) -> bool:
    if at < current.bound_at:
        return False
    if policy.mode is BindingMode.PERMANENT:
        return False
    if policy.mode is BindingMode.FIRST_TOUCH:
        return not is_protected(current, at)
    return True


def _new_binding(visitor: str, leader: str, at: datetime, policy: BindingPolicy) -> Binding:
    return Binding(visitor=visitor, leader=leader, bound_at=at, protected_until=_protection_end(at, policy))


def _protection_end(at: datetime, policy: BindingPolicy) -> datetime | None:
    if policy.mode is BindingMode.PERMANENT:
        return None
    if policy.mode is BindingMode.LAST_TOUCH:
        return at
    return _first_touch_end(at, policy.protection_days)


def _first_touch_end(at: datetime, protection_days: int) -> datetime:
    try:
        return at + timedelta(days=protection_days)
    except OverflowError:
        raise DomainError("the protection window ends past the supported calendar", field="at") from None


def _renewed(current: Binding, at: datetime, policy: BindingPolicy) -> Binding:
    if policy.mode is not BindingMode.FIRST_TOUCH or is_protected(current, at):
        return current
    return replace(current, protected_until=_protection_end(at, policy))


def on_order(binding: Binding, at: datetime, policy: BindingPolicy) -> Binding:
    """An order extends a first_touch binding's protection to `protection_days` from the order time, never
    shortening it (attribution issue). Other modes, and a binding already protected for good, are unchanged.
    """
    _require_aware(at, "at")
    if policy.mode is not BindingMode.FIRST_TOUCH or binding.protected_until is None:
        return binding
    extended = _first_touch_end(at, policy.protection_days)
    return replace(binding, protected_until=max(binding.protected_until, extended))


@dataclass(frozen=True, slots=True)
class OrderAttribution:
    leader: str | None
    assists: tuple[str, ...]
    binding: Binding | None
    outcome: BindingOutcome | None


def attribute_order(
    current: Binding | None,
    visitor: str,
    code_leader: str | None,
    at: datetime,
    policy: BindingPolicy,
    uplines: Mapping[str, str | None],
) -> OrderAttribution:
    """Attribute an order to the leader bound at the order time; the caller stores that leader on the order,
    so a later rebinding never moves it (attribution issue).

    A code on the order counts as a click first (`visit`). If another leader's binding keeps the visitor, the
    code's leader gets an assist (counted, unpaid); a refused self or loop click gives none. An expired
    first_touch binding still attributes until another click rebinds. No binding and no code: the house
    (leader None). The returned binding has the order's protection extension (`on_order`) applied.
    """
    _require_aware(at, "at")
    if code_leader is not None:
        _require_name(code_leader, "code_leader")
    _require_visitor(current, visitor)
    decision = _order_visit(current, visitor, code_leader, at, policy, uplines)
    binding = decision.binding
    return OrderAttribution(
        leader=binding.leader if binding is not None else None,
        assists=_assists(visitor, code_leader, binding, uplines),
        binding=on_order(binding, at, policy) if binding is not None else None,
        outcome=decision.outcome if code_leader is not None else None,
    )


def _order_visit(
    current: Binding | None,
    visitor: str,
    code_leader: str | None,
    at: datetime,
    policy: BindingPolicy,
    uplines: Mapping[str, str | None],
) -> VisitDecision:
    if code_leader is None:
        return VisitDecision(binding=current, outcome=BindingOutcome.KEPT)
    return visit(current, visitor, code_leader, at, policy, uplines)


def _assists(
    visitor: str, code_leader: str | None, binding: Binding | None, uplines: Mapping[str, str | None]
) -> tuple[str, ...]:
    if code_leader is None or binding is None or binding.leader == code_leader:
        return ()
    if _is_refused(visitor, code_leader, uplines):
        return ()
    return (code_leader,)


def validate_upline(leader: str, upline: str | None, uplines: Mapping[str, str | None]) -> None:
    """Refuse an upline that would make the leader tree a loop: a leader cannot be their own upline, nor take
    one of their own downlines as upline (attribution issue: no loops).
    Raises DomainError(field="upline", code="upline_loop").
    """
    _require_name(leader, "leader")
    if upline is None:
        return
    _require_name(upline, "upline")
    if upline == leader or leader in _ancestors(upline, uplines):
        raise DomainError(
            f"leader {leader} cannot take {upline} as upline: {upline} is {leader} or below them",
            field="upline",
            code="upline_loop",
        )
