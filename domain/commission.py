"""Commission: what a group leader (团长) and the leader's upline earn on an order, and its ledger.

The rate is the room's base rate (or its live rate while the room is live), plus the first-hour bonus,
plus the GMV-tier bonus the leader has reached; the upline earns the team rate on the same order. Each
order's commission is a set of lines, one per (order, leader, role), kept as an append-only ledger whose
entries move cents between states: pending (order paid) → frozen (parcel signed, after-sale window
running) → settled (window closed with no open after-sale), or → reversed (cancel, return, approved
refund). Settled and reversed are final (commission issue; DESIGN.md; API.md, a leader's commission).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TypeVar

from domain.errors import Conflict, DomainError
from domain.times import require_aware as _require_aware

FULL_RATE_BP = 10_000
FIRST_HOUR = timedelta(hours=1)

_E = TypeVar("_E", bound=StrEnum)


class Role(StrEnum):
    LEADER = "leader"
    TEAM = "team"


class State(StrEnum):
    PENDING = "pending"
    FROZEN = "frozen"
    SETTLED = "settled"
    REVERSED = "reversed"


class Reason(StrEnum):
    PAID = "paid"
    SIGNED = "signed"
    WINDOW_CLOSED = "window_closed"
    CANCELLED = "cancelled"
    REFUNDED = "refunded"
    RETURNED = "returned"


# The only moves the ledger knows, with the reasons that may cause each. Nothing leaves settled or reversed.
_MOVES: dict[tuple[State | None, State], frozenset[Reason]] = {
    (None, State.PENDING): frozenset({Reason.PAID}),
    (State.PENDING, State.FROZEN): frozenset({Reason.SIGNED}),
    (State.PENDING, State.REVERSED): frozenset({Reason.CANCELLED, Reason.REFUNDED, Reason.RETURNED}),
    (State.FROZEN, State.SETTLED): frozenset({Reason.WINDOW_CLOSED}),
    (State.FROZEN, State.REVERSED): frozenset({Reason.REFUNDED, Reason.RETURNED}),
}


# --- validation helpers -------------------------------------------------------------------------------------


def _require_whole(value: int, name: str, *, minimum: int = 0, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DomainError(f"{name} must be a whole number, got {value!r}", field=name)
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"{minimum}..{maximum}" if maximum is not None else f">= {minimum}"
        raise DomainError(f"{name} must be {bound}, got {value}", field=name)


def _require_bp(value: int, name: str) -> None:
    _require_whole(value, name, maximum=FULL_RATE_BP)


def _require_name(value: str, name: str) -> None:
    if not isinstance(value, str) or not value:
        raise DomainError(f"{name} must be a non-empty string", field=name)


def _as_enum(kind: type[_E], value: _E | str, name: str) -> _E:
    try:
        return kind(value)
    except ValueError:
        raise DomainError(f"unknown {name} {value!r}", field=name) from None


def _half_down(numerator: int, denominator: int) -> int:
    """numerator / denominator to the nearest whole cent, an exact half rounded down (issue #2: "amounts in
    integer cents, rounded half-down"): 49.95 → 50, 2.5 → 2, 7.5 → 7, 3.75 → 4. Integers only."""
    quotient, remainder = divmod(numerator, denominator)
    return quotient + 1 if 2 * remainder > denominator else quotient


# --- rates --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GmvTier:
    """A leader who has reached `gmv_cents` of GMV in the room earns `bonus_bp` on top of the rate."""

    gmv_cents: int
    bonus_bp: int

    def __post_init__(self) -> None:
        _require_whole(self.gmv_cents, "gmv_cents")
        _require_bp(self.bonus_bp, "bonus_bp")


@dataclass(frozen=True, slots=True)
class RoomRates:
    """A room's commission terms (API.md, rooms: rates, GMV tiers, after-sale days)."""

    base_rate_bp: int
    starts_at: datetime
    after_sale_days: int
    ends_at: datetime | None = None
    live_rate_bp: int | None = None
    first_hour_bonus_bp: int = 0
    team_rate_bp: int = 0
    gmv_tiers: tuple[GmvTier, ...] = ()

    def __post_init__(self) -> None:
        _require_aware(self.starts_at, "starts_at")
        if self.ends_at is not None:
            _require_aware(self.ends_at, "ends_at")
            if self.ends_at <= self.starts_at:
                raise DomainError("ends_at must be after starts_at", field="ends_at")
        _require_whole(self.after_sale_days, "after_sale_days")
        for name in ("base_rate_bp", "first_hour_bonus_bp", "team_rate_bp"):
            _require_bp(getattr(self, name), name)
        if self.live_rate_bp is not None:
            _require_bp(self.live_rate_bp, "live_rate_bp")
        object.__setattr__(self, "gmv_tiers", _sorted_tiers(self.gmv_tiers))


def _sorted_tiers(tiers: Iterable[GmvTier]) -> tuple[GmvTier, ...]:
    ordered = tuple(sorted(tiers, key=lambda tier: tier.gmv_cents))
    thresholds = [tier.gmv_cents for tier in ordered]
    if len(set(thresholds)) != len(thresholds):
        raise DomainError("gmv_tiers must not repeat a gmv_cents threshold", field="gmv_tiers")
    return ordered


def is_live(rates: RoomRates, at: datetime) -> bool:
    """The room is live from its start (inclusive) to its end (exclusive); with no end it stays live once
    started (commission issue: the live rate applies while the room is live)."""
    _require_aware(at, "at")
    return rates.starts_at <= at and (rates.ends_at is None or at < rates.ends_at)


def _headline_rate_bp(rates: RoomRates, at: datetime) -> int:
    if rates.live_rate_bp is not None and is_live(rates, at):
        return rates.live_rate_bp
    return rates.base_rate_bp


def _in_first_hour(rates: RoomRates, at: datetime) -> bool:
    return rates.starts_at <= at < rates.starts_at + FIRST_HOUR


def _tier_bonus_bp(rates: RoomRates, leader_gmv_before_cents: int) -> int:
    # The best bonus reached, not merely the last tier's: reaching more GMV never lowers a leader's rate,
    # even when a room lists a lower bonus for a higher threshold.
    return max(
        (tier.bonus_bp for tier in rates.gmv_tiers if tier.gmv_cents <= leader_gmv_before_cents), default=0
    )


def leader_rate_bp(rates: RoomRates, at: datetime, leader_gmv_before_cents: int, bonus_bp: int = 0) -> int:
    """The leader's rate on an order placed at `at`: the live rate while the room is live (when the room
    has one), else the base rate; plus the first-hour bonus in the hour after the start; plus the bonus
    of the highest GMV tier the leader had reached before this order; plus `bonus_bp`, the bonus of the
    invitation tasks the leader had completed before it (domain/growth.task_bonus_bp). Capped at 100%
    (commission issue)."""
    _require_aware(at, "at")
    _require_whole(leader_gmv_before_cents, "leader_gmv_before_cents")
    _require_whole(bonus_bp, "bonus_bp")
    rate = _headline_rate_bp(rates, at)
    if _in_first_hour(rates, at):
        rate += rates.first_hour_bonus_bp
    rate += _tier_bonus_bp(rates, leader_gmv_before_cents)
    rate += bonus_bp
    return min(rate, FULL_RATE_BP)


def amount_cents(total_cents: int, rate_bp: int) -> int:
    """The commission on `total_cents` at `rate_bp` in whole cents, rounded half-down (333 cents at 1500 bp =
    49.95 → 50; 30 cents at 2500 bp = 7.5 → 7), and never more than the order total (issue #2)."""
    _require_whole(total_cents, "total_cents")
    _require_whole(rate_bp, "rate_bp")
    return min(_half_down(total_cents * rate_bp, FULL_RATE_BP), total_cents)


# --- the ledger ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One append-only ledger row: `amount_cents` moves from `source` to `target` (source None = accrual)."""

    order: str
    leader: str
    role: Role
    source: State | None
    target: State
    amount_cents: int
    at: datetime
    reason: Reason

    def __post_init__(self) -> None:
        _require_name(self.order, "order")
        _require_name(self.leader, "leader")
        # Wire strings ("pending") are accepted and stored as enum members.
        object.__setattr__(self, "role", _as_enum(Role, self.role, "role"))
        if self.source is not None:
            object.__setattr__(self, "source", _as_enum(State, self.source, "source"))
        object.__setattr__(self, "target", _as_enum(State, self.target, "target"))
        object.__setattr__(self, "reason", _as_enum(Reason, self.reason, "reason"))
        _require_whole(self.amount_cents, "amount_cents", minimum=1)
        _require_aware(self.at, "at")
        if self.reason not in _MOVES.get((self.source, self.target), frozenset()):
            raise DomainError(
                f"the ledger has no move {self.source} → {self.target} for reason {self.reason}",
                field="target",
            )

    @property
    def line(self) -> tuple[str, str, Role]:
        return (self.order, self.leader, self.role)


@dataclass(frozen=True, slots=True)
class Balance:
    """Where one commission line's accrued cents are now."""

    order: str
    leader: str
    role: Role
    accrued_cents: int
    pending_cents: int
    frozen_cents: int
    settled_cents: int
    reversed_cents: int

    def cents_in(self, state: State) -> int:
        return {
            State.PENDING: self.pending_cents,
            State.FROZEN: self.frozen_cents,
            State.SETTLED: self.settled_cents,
            State.REVERSED: self.reversed_cents,
        }[state]


def _accrued(entry: Entry) -> Balance:
    return Balance(entry.order, entry.leader, entry.role, entry.amount_cents, entry.amount_cents, 0, 0, 0)


def _moved(balance: Balance, source: State, target: State, cents: int) -> Balance:
    buckets = {state: balance.cents_in(state) for state in State}
    buckets[source] -= cents
    buckets[target] += cents
    return Balance(
        balance.order,
        balance.leader,
        balance.role,
        balance.accrued_cents,
        buckets[State.PENDING],
        buckets[State.FROZEN],
        buckets[State.SETTLED],
        buckets[State.REVERSED],
    )


def _fold(balance: Balance | None, entry: Entry) -> Balance:
    if entry.source is None:
        if balance is not None:
            raise DomainError(f"commission line {entry.line} accrues twice", field="entries")
        return _accrued(entry)
    if balance is None:
        raise DomainError(f"commission line {entry.line} moves before it accrues", field="entries")
    if balance.cents_in(entry.source) < entry.amount_cents:
        raise DomainError(
            f"commission line {entry.line} moves {entry.amount_cents} cents out of {entry.source}, "
            f"which holds {balance.cents_in(entry.source)}",
            field="entries",
        )
    return _moved(balance, entry.source, entry.target, entry.amount_cents)


def balances(entries: Iterable[Entry]) -> dict[tuple[str, str, Role], Balance]:
    """Each commission line's balance, folded from its ledger entries in order. A ledger that accrues a
    line twice, moves a line before it accrues, or moves more than a state holds is refused: the ledger
    is append-only and every cent accrued is in exactly one state (commission issue)."""
    folded: dict[tuple[str, str, Role], Balance] = {}
    for entry in entries:
        folded[entry.line] = _fold(folded.get(entry.line), entry)
    return folded


def totals(entries: Iterable[Entry]) -> dict[State, int]:
    """Cents per state over all the given lines, every state present (API.md: a leader's pending / frozen /
    settled / reversed cents)."""
    lines = balances(entries).values()
    return {state: sum(line.cents_in(state) for line in lines) for state in State}


# --- accrual ------------------------------------------------------------------------------------------------


def accrue(
    order: str,
    total_cents: int,
    leader: str | None,
    upline: str | None,
    rates: RoomRates,
    at: datetime,
    leader_gmv_before_cents: int,
    bonus_bp: int = 0,
) -> tuple[Entry, ...]:
    """The pending commission of a paid order: the leader's line at the leader's rate (with `bonus_bp` from
    completed invitation tasks added like the first-hour and tier bonuses) and, when the leader has an upline
    and the room a team rate, the upline's TEAM line at the team rate. A house order (no leader) earns
    nothing. Lines of zero cents are not written, and the two lines together never exceed the order total
    (commission issue)."""
    _require_name(order, "order")
    _require_whole(total_cents, "total_cents")
    _require_aware(at, "at")
    _require_whole(leader_gmv_before_cents, "leader_gmv_before_cents")
    if leader is None:
        return ()
    _require_name(leader, "leader")
    if upline == leader:
        raise DomainError(f"leader {leader} cannot be their own upline", field="upline")
    leader_cents = amount_cents(total_cents, leader_rate_bp(rates, at, leader_gmv_before_cents, bonus_bp))
    team_cents = 0
    if upline is not None and rates.team_rate_bp > 0:
        _require_name(upline, "upline")
        team_cents = min(amount_cents(total_cents, rates.team_rate_bp), total_cents - leader_cents)
    lines = ((leader, Role.LEADER, leader_cents), (upline, Role.TEAM, team_cents))
    return tuple(
        Entry(order, who, role, None, State.PENDING, cents, at, Reason.PAID)
        for who, role, cents in lines
        if who is not None and cents > 0
    )


# --- moves on one order -------------------------------------------------------------------------------------


def _order_lines(entries: Sequence[Entry]) -> list[Balance]:
    orders = {entry.order for entry in entries}
    if len(orders) > 1:
        raise DomainError(f"expected the entries of one order, got {sorted(orders)}", field="entries")
    return list(balances(entries).values())


def _move(line: Balance, source: State, target: State, cents: int, at: datetime, reason: Reason) -> Entry:
    return Entry(line.order, line.leader, line.role, source, target, cents, at, reason)


def _move_all(
    lines: Iterable[Balance], sources: tuple[State, ...], target: State, at: datetime, reason: Reason
) -> tuple[Entry, ...]:
    _require_aware(at, "at")
    return tuple(
        _move(line, source, target, line.cents_in(source), at, reason)
        for line in lines
        for source in sources
        if line.cents_in(source) > 0
    )


def on_signed(entries: Sequence[Entry], at: datetime) -> tuple[Entry, ...]:
    """The buyer signed for the parcel: every line's pending cents freeze while the after-sale window runs.
    Only a signed parcel freezes commission; a replay appends nothing (commission issue)."""
    return _move_all(_order_lines(entries), (State.PENDING,), State.FROZEN, at, Reason.SIGNED)


def on_returned(entries: Sequence[Entry], at: datetime) -> tuple[Entry, ...]:
    """The parcel came back (returned or rejected at the door): whatever is pending or frozen is reversed,
    so it never settles. Settled cents are final and stay (commission issue)."""
    return _move_all(
        _order_lines(entries), (State.PENDING, State.FROZEN), State.REVERSED, at, Reason.RETURNED
    )


def _was_signed(entries: Sequence[Entry]) -> bool:
    return any(entry.target in (State.FROZEN, State.SETTLED) for entry in entries)


def on_cancelled(entries: Sequence[Entry], at: datetime) -> tuple[Entry, ...]:
    """The order is cancelled before shipment: its pending commission is voided. An order whose commission
    was ever frozen or settled has been signed for; it cannot be cancelled, only refunded (API.md,
    cancel)."""
    _require_aware(at, "at")
    lines = _order_lines(entries)
    if _was_signed(entries):
        raise Conflict(
            "the order's parcel was signed for; ask for an after-sale refund instead",
            field="order",
            code="already_shipped",
        )
    return _move_all(lines, (State.PENDING,), State.REVERSED, at, Reason.CANCELLED)


def _refund_moves(line: Balance, due_cents: int, at: datetime) -> tuple[Entry, ...]:
    from_pending = min(due_cents, line.pending_cents)
    parts = ((State.PENDING, from_pending), (State.FROZEN, due_cents - from_pending))
    return tuple(
        _move(line, source, State.REVERSED, cents, at, Reason.REFUNDED) for source, cents in parts if cents
    )


def _refund_due(line: Balance, order_total_cents: int, refunded_cents: int) -> int:
    owed_reversed = _half_down(line.accrued_cents * refunded_cents, order_total_cents)
    still_open = line.pending_cents + line.frozen_cents
    return min(max(owed_reversed - line.reversed_cents, 0), still_open)


def on_refund(
    entries: Sequence[Entry], order_total_cents: int, refunded_cents: int, at: datetime
) -> tuple[Entry, ...]:
    """An approved refund reverses each line in proportion: `refunded_cents` is the cumulative approved
    refund, so each line's reversed cents become half-down(accrued × refunded / total) with no drift
    over many partial refunds; they come out of pending first, then frozen. A full refund reverses all
    that is still pending or frozen. Settled is final: a refund after settlement reverses nothing
    (commission issue)."""
    _require_whole(order_total_cents, "order_total_cents")
    _require_whole(refunded_cents, "refunded_cents", maximum=order_total_cents)
    _require_aware(at, "at")
    lines = _order_lines(entries)
    if order_total_cents == 0:
        if lines:
            raise DomainError("an order with commission cannot have a zero total", field="order_total_cents")
        return ()
    return tuple(
        move
        for line in lines
        for move in _refund_moves(line, _refund_due(line, order_total_cents, refunded_cents), at)
    )


def window_closes_at(signed_at: datetime, after_sale_days: int) -> datetime:
    """The after-sale window runs `after_sale_days` whole days from the signature (commission issue)."""
    _require_aware(signed_at, "signed_at")
    _require_whole(after_sale_days, "after_sale_days")
    return signed_at + timedelta(days=after_sale_days)


def _may_settle(
    signed_at: datetime | None, after_sale_days: int, as_of: datetime, open_after_sale: bool
) -> bool:
    if signed_at is None or open_after_sale:
        return False
    return as_of >= window_closes_at(signed_at, after_sale_days)


def settle_due(
    entries: Sequence[Entry],
    signed_at: datetime | None,
    after_sale_days: int,
    as_of: datetime,
    open_after_sale: bool,
) -> tuple[Entry, ...]:
    """Frozen commission settles once the parcel was signed for, the after-sale window has closed by
    `as_of`, and no after-sale request is open; an open request blocks settlement until it is resolved.
    Only frozen cents settle (commission issue: final only after the parcel is signed and the window
    closes without refund)."""
    _require_aware(as_of, "as_of")
    _require_whole(after_sale_days, "after_sale_days")
    if signed_at is not None:
        _require_aware(signed_at, "signed_at")
    if not _may_settle(signed_at, after_sale_days, as_of, open_after_sale):
        return ()
    return _move_all(_order_lines(entries), (State.FROZEN,), State.SETTLED, as_of, Reason.WINDOW_CLOSED)
