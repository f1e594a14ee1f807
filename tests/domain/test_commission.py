"""Commission: rates, half-down amounts, and the ledger pending → frozen → settled / reversed."""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule

from domain.commission import (
    Balance,
    Entry,
    GmvTier,
    Reason,
    Role,
    RoomRates,
    State,
    accrue,
    amount_cents,
    balances,
    is_live,
    leader_rate_bp,
    on_cancelled,
    on_refund,
    on_returned,
    on_signed,
    settle_due,
    totals,
    window_closes_at,
)
from domain.errors import Conflict, DomainError

START = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
END = START + timedelta(hours=3)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
TICK = timedelta(microseconds=1)
PAID_AT = START + 2 * HOUR  # live, past the first hour
SIGNED_AT = PAID_AT + 2 * DAY
AFTER_SALE_DAYS = 7

PLAIN = RoomRates(base_rate_bp=1500, starts_at=START, after_sale_days=AFTER_SALE_DAYS)
ROOM = RoomRates(
    base_rate_bp=1000,
    starts_at=START,
    after_sale_days=AFTER_SALE_DAYS,
    ends_at=END,
    live_rate_bp=1500,
    first_hour_bonus_bp=500,
    team_rate_bp=300,
    gmv_tiers=(GmvTier(100_000, 200), GmvTier(500_000, 400)),
)
TEAM = dataclasses.replace(PLAIN, team_rate_bp=300)


def paid(
    total: int, rates: RoomRates = TEAM, order: str = "o1", upline: str | None = "up"
) -> tuple[Entry, ...]:
    return accrue(order, total, "lead", upline, rates, PAID_AT, 0)


def signed(ledger: Sequence[Entry], at: datetime = SIGNED_AT) -> tuple[Entry, ...]:
    return (*ledger, *on_signed(ledger, at))


def line(ledger: Sequence[Entry], role: Role = Role.LEADER, order: str = "o1") -> Balance:
    leader = "lead" if role is Role.LEADER else "up"
    return balances(ledger)[(order, leader, role)]


def closes() -> datetime:
    return window_closes_at(SIGNED_AT, AFTER_SALE_DAYS)


# --- rates --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["base_rate_bp", "live_rate_bp", "first_hour_bonus_bp", "team_rate_bp"])
@pytest.mark.parametrize("value", [-1, 10_001])
def test_room_rates_outside_zero_to_full_rate_are_refused(name: str, value: int) -> None:
    with pytest.raises(DomainError) as refused:
        changes: dict[str, Any] = {name: value}
        dataclasses.replace(ROOM, **changes)
    assert refused.value.field == name


def test_room_rates_accept_the_full_rate_of_ten_thousand_bp() -> None:
    assert dataclasses.replace(PLAIN, base_rate_bp=10_000).base_rate_bp == 10_000


def test_negative_after_sale_days_are_refused() -> None:
    with pytest.raises(DomainError) as refused:
        dataclasses.replace(PLAIN, after_sale_days=-1)
    assert refused.value.field == "after_sale_days"


@pytest.mark.parametrize("ends_at", [START, START - TICK])
def test_room_must_end_after_it_starts(ends_at: datetime) -> None:
    with pytest.raises(DomainError) as refused:
        dataclasses.replace(PLAIN, ends_at=ends_at)
    assert refused.value.field == "ends_at"


def test_naive_room_times_are_refused() -> None:
    with pytest.raises(ValueError, match="starts_at"):
        dataclasses.replace(PLAIN, starts_at=START.replace(tzinfo=None))
    with pytest.raises(ValueError, match="ends_at"):
        dataclasses.replace(PLAIN, ends_at=END.replace(tzinfo=None))


def test_gmv_tiers_are_kept_sorted_by_threshold() -> None:
    rates = dataclasses.replace(PLAIN, gmv_tiers=(GmvTier(500, 30), GmvTier(100, 10), GmvTier(300, 20)))
    assert [tier.gmv_cents for tier in rates.gmv_tiers] == [100, 300, 500]


def test_gmv_tiers_with_a_repeated_threshold_are_refused() -> None:
    with pytest.raises(DomainError) as refused:
        dataclasses.replace(PLAIN, gmv_tiers=(GmvTier(100, 10), GmvTier(100, 20)))
    assert refused.value.field == "gmv_tiers"


@pytest.mark.parametrize(("gmv", "bonus", "field"), [(-1, 10, "gmv_cents"), (0, 10_001, "bonus_bp")])
def test_gmv_tier_needs_a_non_negative_threshold_and_a_bonus_within_full_rate(
    gmv: int, bonus: int, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        GmvTier(gmv, bonus)
    assert refused.value.field == field


def test_room_is_live_from_its_start_up_to_but_not_at_its_end() -> None:
    assert not is_live(ROOM, START - TICK)
    assert is_live(ROOM, START)
    assert is_live(ROOM, END - TICK)
    assert not is_live(ROOM, END)


def test_room_without_an_end_stays_live_once_started() -> None:
    assert not is_live(PLAIN, START - TICK)
    assert is_live(PLAIN, START + 365 * DAY)


def test_is_live_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        is_live(ROOM, START.replace(tzinfo=None))


def test_live_rate_applies_while_the_room_is_live() -> None:
    assert leader_rate_bp(ROOM, PAID_AT, 0) == ROOM.live_rate_bp


def test_base_rate_applies_before_the_start_and_from_the_end() -> None:
    assert leader_rate_bp(ROOM, START - TICK, 0) == ROOM.base_rate_bp
    assert leader_rate_bp(ROOM, END, 0) == ROOM.base_rate_bp


def test_base_rate_applies_while_live_when_the_room_has_no_live_rate() -> None:
    assert leader_rate_bp(PLAIN, PAID_AT, 0) == PLAIN.base_rate_bp


def test_first_hour_bonus_applies_from_the_start_until_one_hour_later() -> None:
    live = ROOM.live_rate_bp
    assert live is not None
    assert leader_rate_bp(ROOM, START, 0) == live + ROOM.first_hour_bonus_bp
    assert leader_rate_bp(ROOM, START + HOUR - TICK, 0) == live + ROOM.first_hour_bonus_bp
    assert leader_rate_bp(ROOM, START + HOUR, 0) == live
    assert leader_rate_bp(ROOM, START - TICK, 0) == ROOM.base_rate_bp


def test_highest_gmv_tier_reached_before_the_order_adds_its_bonus() -> None:
    live = 1500
    assert leader_rate_bp(ROOM, PAID_AT, 99_999) == live
    assert leader_rate_bp(ROOM, PAID_AT, 100_000) == live + 200
    assert leader_rate_bp(ROOM, PAID_AT, 499_999) == live + 200
    assert leader_rate_bp(ROOM, PAID_AT, 500_000) == live + 400


def test_a_lower_bonus_listed_for_a_higher_tier_never_lowers_the_rate() -> None:
    rates = dataclasses.replace(PLAIN, gmv_tiers=(GmvTier(100, 300), GmvTier(200, 100)))
    assert leader_rate_bp(rates, PAID_AT, 250) == PLAIN.base_rate_bp + 300


def test_live_first_hour_and_tier_bonuses_add_up() -> None:
    assert leader_rate_bp(ROOM, START + 30 * timedelta(minutes=1), 600_000) == 1500 + 500 + 400


def test_leader_rate_is_capped_at_the_full_rate() -> None:
    rates = dataclasses.replace(
        ROOM, live_rate_bp=9_000, first_hour_bonus_bp=900, gmv_tiers=(GmvTier(0, 900),)
    )
    assert leader_rate_bp(rates, START, 0) == 10_000


def test_leader_rate_refuses_negative_gmv_and_naive_time() -> None:
    with pytest.raises(DomainError) as refused:
        leader_rate_bp(ROOM, PAID_AT, -1)
    assert refused.value.field == "leader_gmv_before_cents"
    with pytest.raises(ValueError):
        leader_rate_bp(ROOM, PAID_AT.replace(tzinfo=None), 0)


bps = st.integers(min_value=0, max_value=10_000)
tiers = st.lists(st.builds(GmvTier, st.integers(0, 10**7), bps), max_size=4, unique_by=lambda t: t.gmv_cents)


@settings(max_examples=200, deadline=None)
@given(
    base=bps,
    live=st.none() | bps,
    bonus=bps,
    tier_list=tiers,
    minutes=st.integers(-120, 600),
    gmv=st.integers(0, 10**7),
    more=st.integers(0, 10**7),
)
def test_more_gmv_never_lowers_the_rate_and_the_rate_stays_within_full_rate(
    base: int, live: int | None, bonus: int, tier_list: list[GmvTier], minutes: int, gmv: int, more: int
) -> None:
    rates = RoomRates(base, START, 0, END, live, bonus, 0, tuple(tier_list))
    at = START + timedelta(minutes=minutes)
    rate = leader_rate_bp(rates, at, gmv)
    headline = live if live is not None and is_live(rates, at) else base
    assert headline <= rate <= 10_000
    assert leader_rate_bp(rates, at, gmv + more) >= rate


# --- amounts ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "rate", "expected"),
    [
        (333, 1500, 50),  # 49.95 → 50
        (10, 2500, 2),  # 2.5 → 2: an exact half goes down
        (30, 2500, 7),  # 7.5 → 7
        (14, 2500, 3),  # 3.5 → 3
        (15, 2500, 4),  # 3.75 → 4
        (999, 1500, 150),  # 149.85 → 150
        (1, 9999, 1),  # 0.9999 → 1
        (3, 1500, 0),  # 0.45 → 0
        (10_000, 1500, 1500),
        (0, 1500, 0),
        (12_345, 0, 0),
    ],
)
def test_amount_rounds_to_the_nearest_cent_an_exact_half_down(total: int, rate: int, expected: int) -> None:
    assert amount_cents(total, rate) == expected


def test_amount_is_never_more_than_the_order_total() -> None:
    assert amount_cents(333, 10_000) == 333
    assert amount_cents(333, 25_000) == 333


@pytest.mark.parametrize(("total", "rate", "field"), [(-1, 1500, "total_cents"), (100, -1, "rate_bp")])
def test_amount_refuses_negative_input(total: int, rate: int, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        amount_cents(total, rate)
    assert refused.value.field == field


def test_amount_refuses_float_money() -> None:
    with pytest.raises(DomainError):
        amount_cents(33.3, 1500)  # type: ignore[arg-type]


def half_down_oracle(exact: Fraction) -> int:
    """Round half-down, computed independently: the nearest integer, and the lower one on an exact half."""
    return math.ceil(exact - Fraction(1, 2))


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 10**9), rate=st.integers(0, 20_000))
def test_amount_matches_exact_rational_arithmetic_rounded_half_down(total: int, rate: int) -> None:
    result = amount_cents(total, rate)
    assert type(result) is int
    assert result == min(half_down_oracle(Fraction(total * rate, 10_000)), total)


# --- accrual ------------------------------------------------------------------------------------------------


def test_house_order_earns_no_commission() -> None:
    assert accrue("o1", 10_000, None, None, TEAM, PAID_AT, 0) == ()


def test_paid_order_accrues_the_leaders_commission_as_pending() -> None:
    (entry,) = accrue("o1", 333, "lead", None, PLAIN, PAID_AT, 0)
    assert entry == Entry("o1", "lead", Role.LEADER, None, State.PENDING, 50, PAID_AT, Reason.PAID)  # 49.95


def test_upline_earns_the_team_rate_on_the_same_order() -> None:
    leader, team = accrue("o1", 10_000, "lead", "up", TEAM, PAID_AT, 0)
    assert (leader.leader, leader.role, leader.amount_cents) == ("lead", Role.LEADER, 1500)
    assert (team.leader, team.role, team.amount_cents) == ("up", Role.TEAM, 300)
    assert team.source is None and team.target is State.PENDING and team.reason is Reason.PAID


def test_upline_earns_nothing_when_the_room_has_no_team_rate() -> None:
    assert [e.role for e in accrue("o1", 10_000, "lead", "up", PLAIN, PAID_AT, 0)] == [Role.LEADER]


def test_team_line_uses_the_team_rate_only_without_leader_bonuses() -> None:
    leader, team = accrue("o1", 10_000, "lead", "up", ROOM, START, 600_000)
    assert leader.amount_cents == 10_000 * (1500 + 500 + 400) // 10_000
    assert team.amount_cents == 300


def test_commission_of_zero_cents_is_not_written() -> None:
    assert accrue("o1", 3, "lead", "up", TEAM, PAID_AT, 0) == ()


def test_leader_and_team_together_never_exceed_the_order_total() -> None:
    rates = dataclasses.replace(TEAM, base_rate_bp=9_900, team_rate_bp=500)
    entries = accrue("o1", 1_000, "lead", "up", rates, PAID_AT, 0)
    assert [e.amount_cents for e in entries] == [990, 10]


def test_a_leader_cannot_be_their_own_upline() -> None:
    with pytest.raises(DomainError) as refused:
        accrue("o1", 1_000, "lead", "lead", TEAM, PAID_AT, 0)
    assert refused.value.field == "upline"


def test_accrue_refuses_a_naive_time_and_a_negative_total() -> None:
    with pytest.raises(ValueError):
        accrue("o1", 1_000, "lead", None, TEAM, PAID_AT.replace(tzinfo=None), 0)
    with pytest.raises(DomainError) as refused:
        accrue("o1", -1, "lead", None, TEAM, PAID_AT, 0)
    assert refused.value.field == "total_cents"


@settings(max_examples=200, deadline=None)
@given(total=st.integers(0, 10**8), base=bps, team=bps, gmv=st.integers(0, 10**7))
def test_accrued_commission_is_pending_and_within_the_order_total(
    total: int, base: int, team: int, gmv: int
) -> None:
    rates = RoomRates(base, START, 0, team_rate_bp=team)
    entries = accrue("o1", total, "lead", "up", rates, PAID_AT, gmv)
    assert sum(e.amount_cents for e in entries) <= total
    assert all(e.source is None and e.target is State.PENDING and e.amount_cents > 0 for e in entries)
    assert [e.amount_cents for e in entries if e.role is Role.LEADER] in ([], [amount_cents(total, base)])


# --- ledger rows and balances -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "reason"),
    [
        (State.SETTLED, State.REVERSED, Reason.REFUNDED),
        (State.REVERSED, State.PENDING, Reason.PAID),
        (State.PENDING, State.SETTLED, Reason.WINDOW_CLOSED),
        (None, State.FROZEN, Reason.SIGNED),
        (State.PENDING, State.FROZEN, Reason.PAID),
        (State.FROZEN, State.REVERSED, Reason.CANCELLED),
    ],
)
def test_ledger_row_refuses_a_move_the_ledger_does_not_know(
    source: State | None, target: State, reason: Reason
) -> None:
    with pytest.raises(DomainError):
        Entry("o1", "lead", Role.LEADER, source, target, 10, PAID_AT, reason)


def test_ledger_row_takes_wire_strings_as_enums() -> None:
    entry = Entry("o1", "lead", "team", "pending", "frozen", 10, PAID_AT, "signed")  # type: ignore[arg-type]
    assert (entry.role, entry.source, entry.target, entry.reason) == (
        Role.TEAM,
        State.PENDING,
        State.FROZEN,
        Reason.SIGNED,
    )


@pytest.mark.parametrize("cents", [0, -5])
def test_ledger_row_moves_a_positive_amount(cents: int) -> None:
    with pytest.raises(DomainError) as refused:
        Entry("o1", "lead", Role.LEADER, None, State.PENDING, cents, PAID_AT, Reason.PAID)
    assert refused.value.field == "amount_cents"


def test_ledger_row_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        Entry("o1", "lead", Role.LEADER, None, State.PENDING, 1, PAID_AT.replace(tzinfo=None), Reason.PAID)


def test_balances_keep_each_line_of_an_order_apart() -> None:
    ledger = signed(paid(10_000))
    assert line(ledger) == Balance("o1", "lead", Role.LEADER, 1500, 0, 1500, 0, 0)
    assert line(ledger, Role.TEAM) == Balance("o1", "up", Role.TEAM, 300, 0, 300, 0, 0)


def test_balances_refuse_a_line_that_accrues_twice() -> None:
    with pytest.raises(DomainError) as refused:
        balances(paid(10_000) * 2)
    assert refused.value.field == "entries"


def test_balances_refuse_a_move_before_the_accrual() -> None:
    with pytest.raises(DomainError):
        balances([Entry("o1", "lead", Role.LEADER, State.PENDING, State.FROZEN, 5, PAID_AT, Reason.SIGNED)])


def test_balances_refuse_moving_more_than_a_state_holds() -> None:
    over = Entry("o1", "lead", Role.LEADER, State.PENDING, State.FROZEN, 1501, SIGNED_AT, Reason.SIGNED)
    with pytest.raises(DomainError):
        balances([*paid(10_000), over])


def test_leader_totals_sum_each_state_over_all_orders() -> None:
    first = signed(paid(10_000, upline=None, order="o1"))
    second = paid(2_000, upline=None, order="o2")
    second = (*second, *on_refund(second, 2_000, 1_000, SIGNED_AT))
    assert totals([*first, *second]) == {
        State.PENDING: 150,
        State.FROZEN: 1500,
        State.SETTLED: 0,
        State.REVERSED: 150,
    }


def test_totals_of_a_leader_without_commission_are_all_zero() -> None:
    assert totals([]) == dict.fromkeys(State, 0)


# --- signature, return, cancel ------------------------------------------------------------------------------


def test_signed_parcel_freezes_every_pending_line_of_the_order() -> None:
    moves = on_signed(paid(10_000), SIGNED_AT)
    assert [(m.role, m.source, m.target, m.amount_cents, m.reason, m.at) for m in moves] == [
        (Role.LEADER, State.PENDING, State.FROZEN, 1500, Reason.SIGNED, SIGNED_AT),
        (Role.TEAM, State.PENDING, State.FROZEN, 300, Reason.SIGNED, SIGNED_AT),
    ]


def test_a_second_signature_appends_nothing() -> None:
    assert on_signed(signed(paid(10_000)), SIGNED_AT + HOUR) == ()


def test_house_order_moves_nothing() -> None:
    assert on_signed((), SIGNED_AT) == ()
    assert on_returned((), SIGNED_AT) == ()
    assert on_cancelled((), SIGNED_AT) == ()
    assert on_refund((), 10_000, 5_000, SIGNED_AT) == ()
    assert settle_due((), SIGNED_AT, AFTER_SALE_DAYS, closes(), False) == ()


def test_moves_refuse_the_entries_of_two_orders_at_once() -> None:
    with pytest.raises(DomainError) as refused:
        on_signed([*paid(10_000, order="o1"), *paid(10_000, order="o2")], SIGNED_AT)
    assert refused.value.field == "entries"


def test_moves_refuse_a_naive_time() -> None:
    naive = SIGNED_AT.replace(tzinfo=None)
    for move in (on_signed, on_returned, on_cancelled):
        with pytest.raises(ValueError):
            move(paid(10_000), naive)


def test_returned_parcel_reverses_pending_commission() -> None:
    moves = on_returned(paid(10_000), SIGNED_AT)
    assert {(m.source, m.target, m.reason) for m in moves} == {
        (State.PENDING, State.REVERSED, Reason.RETURNED)
    }
    assert sum(m.amount_cents for m in moves) == 1800


def test_returned_parcel_reverses_frozen_commission() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_returned(ledger, SIGNED_AT + DAY))
    assert line(ledger) == Balance("o1", "lead", Role.LEADER, 1500, 0, 0, 0, 1500)
    assert line(ledger, Role.TEAM).reversed_cents == 300


def test_a_returned_parcel_never_settles() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_returned(ledger, SIGNED_AT + DAY))
    assert settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes() + 30 * DAY, False) == ()


def test_return_after_settlement_leaves_settled_commission_alone() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes(), False))
    assert on_returned(ledger, closes() + DAY) == ()


def test_cancel_before_shipment_voids_the_pending_commission() -> None:
    ledger = paid(10_000)
    moves = on_cancelled(ledger, PAID_AT + HOUR)
    assert {(m.source, m.target, m.reason) for m in moves} == {
        (State.PENDING, State.REVERSED, Reason.CANCELLED)
    }
    assert totals([*ledger, *moves]) == {
        State.PENDING: 0,
        State.FROZEN: 0,
        State.SETTLED: 0,
        State.REVERSED: 1800,
    }


def test_a_second_cancel_appends_nothing() -> None:
    ledger = paid(10_000)
    ledger = (*ledger, *on_cancelled(ledger, PAID_AT + HOUR))
    assert on_cancelled(ledger, PAID_AT + 2 * HOUR) == ()


def test_cancel_after_the_parcel_was_signed_is_refused_as_already_shipped() -> None:
    with pytest.raises(Conflict) as refused:
        on_cancelled(signed(paid(10_000)), SIGNED_AT + HOUR)
    assert (refused.value.code, refused.value.field) == ("already_shipped", "order")


def test_cancel_stays_refused_after_a_signed_order_was_fully_refunded() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_refund(ledger, 10_000, 10_000, SIGNED_AT + DAY))
    with pytest.raises(Conflict):
        on_cancelled(ledger, SIGNED_AT + 2 * DAY)


# --- refunds ------------------------------------------------------------------------------------------------


def test_partial_refund_reverses_each_line_in_proportion() -> None:
    moves = on_refund(signed(paid(10_000)), 10_000, 3_333, SIGNED_AT + DAY)
    # leader 1500 × 3333 / 10000 = 499.95 → 500; team 300 × 3333 / 10000 = 99.99 → 100
    assert [(m.role, m.source, m.amount_cents, m.reason) for m in moves] == [
        (Role.LEADER, State.FROZEN, 500, Reason.REFUNDED),
        (Role.TEAM, State.FROZEN, 100, Reason.REFUNDED),
    ]


def test_proportional_reversal_rounds_half_down_on_the_cumulative_refund() -> None:
    ledger = accrue("o1", 20, "lead", None, dataclasses.replace(PLAIN, base_rate_bp=2500), PAID_AT, 0)
    assert line(ledger).accrued_cents == 5
    assert on_refund(ledger, 20, 2, SIGNED_AT) == ()  # 5 × 2 / 20 = 0.5 → 0
    ledger = (*ledger, *on_refund(ledger, 20, 6, SIGNED_AT))  # 5 × 6 / 20 = 1.5 → 1
    assert line(ledger).reversed_cents == 1
    ledger = (*ledger, *on_refund(ledger, 20, 17, SIGNED_AT))  # 5 × 17 / 20 = 4.25 → 4
    assert line(ledger).reversed_cents == 4
    ledger = (*ledger, *on_refund(ledger, 20, 19, SIGNED_AT))  # 5 × 19 / 20 = 4.75 → 5
    assert line(ledger).reversed_cents == 5


def test_cumulative_refund_is_not_double_counted_when_replayed() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_refund(ledger, 10_000, 4_000, SIGNED_AT + DAY))
    assert on_refund(ledger, 10_000, 4_000, SIGNED_AT + 2 * DAY) == ()
    assert line(ledger).reversed_cents == 600


def test_a_stale_smaller_refund_figure_reverses_nothing_back() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_refund(ledger, 10_000, 4_000, SIGNED_AT + DAY))
    assert on_refund(ledger, 10_000, 1_000, SIGNED_AT + 2 * DAY) == ()


def test_refund_is_taken_from_pending_before_frozen() -> None:
    half_signed = Entry(
        "o1", "lead", Role.LEADER, State.PENDING, State.FROZEN, 1000, SIGNED_AT, Reason.SIGNED
    )
    ledger = (*paid(10_000, upline=None), half_signed)
    moves = on_refund(ledger, 10_000, 8_000, SIGNED_AT + DAY)  # reverse 1200: 500 pending, then 700 frozen
    assert [(m.source, m.amount_cents) for m in moves] == [(State.PENDING, 500), (State.FROZEN, 700)]


def test_full_refund_reverses_everything_still_pending_or_frozen() -> None:
    ledger = signed(paid(9_999))
    ledger = (*ledger, *on_refund(ledger, 9_999, 3_333, SIGNED_AT + DAY))
    ledger = (*ledger, *on_refund(ledger, 9_999, 9_999, SIGNED_AT + 2 * DAY))
    for role in Role:
        balance = line(ledger, role)
        assert balance.reversed_cents == balance.accrued_cents > 0


def test_refund_after_settlement_reverses_nothing() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes(), False))
    assert on_refund(ledger, 10_000, 10_000, closes() + DAY) == ()
    assert line(ledger).settled_cents == 1500


@pytest.mark.parametrize(("refunded", "field"), [(10_001, "refunded_cents"), (-1, "refunded_cents")])
def test_refund_outside_zero_to_order_total_is_refused(refunded: int, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        on_refund(paid(10_000), 10_000, refunded, SIGNED_AT)
    assert refused.value.field == field


def test_refund_of_a_zero_total_with_commission_is_refused() -> None:
    with pytest.raises(DomainError) as refused:
        on_refund(paid(10_000), 0, 0, SIGNED_AT)
    assert refused.value.field == "order_total_cents"


@settings(max_examples=200, deadline=None)
@given(
    total=st.integers(1, 10**6),
    rate=st.integers(1, 10_000),
    cuts=st.lists(st.integers(0, 10**6), min_size=1, max_size=12),
    sign_first=st.booleans(),
)
def test_many_partial_refunds_reverse_exactly_what_one_refund_of_the_sum_would(
    total: int, rate: int, cuts: list[int], sign_first: bool
) -> None:
    ledger = accrue("o1", total, "lead", None, dataclasses.replace(PLAIN, base_rate_bp=rate), PAID_AT, 0)
    if sign_first:
        ledger = signed(ledger)
    refunded = 0
    for cut in cuts:
        refunded = min(total, refunded + cut)
        ledger = (*ledger, *on_refund(ledger, total, refunded, SIGNED_AT + DAY))
    if not ledger:
        return
    balance = line(ledger)
    assert balance.reversed_cents == half_down_oracle(Fraction(balance.accrued_cents * refunded, total))
    assert balance.pending_cents + balance.frozen_cents == balance.accrued_cents - balance.reversed_cents


# --- the after-sale window and settlement -------------------------------------------------------------------


def test_after_sale_window_closes_whole_days_after_the_signature() -> None:
    assert window_closes_at(SIGNED_AT, 7) == SIGNED_AT + 7 * DAY
    assert window_closes_at(SIGNED_AT, 0) == SIGNED_AT


def test_after_sale_window_refuses_negative_days_and_naive_time() -> None:
    with pytest.raises(DomainError) as refused:
        window_closes_at(SIGNED_AT, -1)
    assert refused.value.field == "after_sale_days"
    with pytest.raises(ValueError):
        window_closes_at(SIGNED_AT.replace(tzinfo=None), 7)


def test_frozen_commission_settles_when_the_window_closes() -> None:
    moves = settle_due(signed(paid(10_000)), SIGNED_AT, AFTER_SALE_DAYS, closes(), False)
    assert [(m.role, m.source, m.target, m.amount_cents, m.reason, m.at) for m in moves] == [
        (Role.LEADER, State.FROZEN, State.SETTLED, 1500, Reason.WINDOW_CLOSED, closes()),
        (Role.TEAM, State.FROZEN, State.SETTLED, 300, Reason.WINDOW_CLOSED, closes()),
    ]


def test_nothing_settles_while_the_window_is_still_open() -> None:
    assert settle_due(signed(paid(10_000)), SIGNED_AT, AFTER_SALE_DAYS, closes() - TICK, False) == ()


def test_an_open_after_sale_blocks_settlement_until_resolved() -> None:
    ledger = signed(paid(10_000))
    assert settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes() + 30 * DAY, True) == ()
    assert len(settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes() + 30 * DAY, False)) == 2


def test_an_unsigned_order_never_settles() -> None:
    assert settle_due(paid(10_000), None, AFTER_SALE_DAYS, closes() + 365 * DAY, False) == ()


def test_only_frozen_commission_settles_so_a_missed_signature_settles_nothing() -> None:
    assert settle_due(paid(10_000), SIGNED_AT, AFTER_SALE_DAYS, closes(), False) == ()


def test_settlement_is_final_and_a_second_run_appends_nothing() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes(), False))
    assert settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes() + DAY, False) == ()
    assert line(ledger) == Balance("o1", "lead", Role.LEADER, 1500, 0, 0, 1500, 0)


def test_what_a_partial_refund_leaves_settles_when_the_window_closes() -> None:
    ledger = signed(paid(10_000))
    ledger = (*ledger, *on_refund(ledger, 10_000, 2_500, SIGNED_AT + DAY))
    ledger = (*ledger, *settle_due(ledger, SIGNED_AT, AFTER_SALE_DAYS, closes(), False))
    assert line(ledger) == Balance("o1", "lead", Role.LEADER, 1500, 0, 0, 1125, 375)
    assert line(ledger, Role.TEAM) == Balance("o1", "up", Role.TEAM, 300, 0, 0, 225, 75)


def test_settle_refuses_naive_times() -> None:
    with pytest.raises(ValueError, match="as_of"):
        settle_due(paid(10_000), SIGNED_AT, AFTER_SALE_DAYS, closes().replace(tzinfo=None), False)
    with pytest.raises(ValueError, match="signed_at"):
        settle_due(paid(10_000), SIGNED_AT.replace(tzinfo=None), AFTER_SALE_DAYS, closes(), False)


# --- the ledger invariant over random event sequences -------------------------------------------------------


LineKey = tuple[str, str, Role]


def independent_fold(entries: Sequence[Entry]) -> dict[LineKey, dict[State | None, int]]:
    """Per line: cents accrued (key None) and cents held per state, summed straight from the rows."""
    held: dict[LineKey, dict[State | None, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries:
        if entry.source is not None:
            held[entry.line][entry.source] -= entry.amount_cents
        else:
            held[entry.line][None] += entry.amount_cents
        held[entry.line][entry.target] += entry.amount_cents
    return held


def assert_every_cent_accounted_for(entries: Sequence[Entry]) -> None:
    folded = balances(entries)
    for key, held in independent_fold(entries).items():
        states = [held[state] for state in State]
        assert sum(states) == held[None]
        assert all(cents >= 0 for cents in states)
        assert [folded[key].cents_in(state) for state in State] == states


def assert_nothing_settles_twice(entries: Sequence[Entry]) -> None:
    settled = [e.line for e in entries if e.target is State.SETTLED]
    assert len(settled) == len(set(settled))


def assert_settled_and_reversed_never_shrink(
    before: dict[LineKey, Balance], entries: Sequence[Entry]
) -> None:
    assert not [e for e in entries if e.source in (State.SETTLED, State.REVERSED)]
    now = balances(entries)
    for key, was in before.items():
        assert now[key].settled_cents >= was.settled_cents
        assert now[key].reversed_cents >= was.reversed_cents


class OrderStory:
    """One order as the service sees it: its ledger rows, when its parcel was signed, its refunds."""

    def __init__(self, order: str, total: int, entries: tuple[Entry, ...]) -> None:
        self.order = order
        self.total = total
        self.entries = entries
        self.signed_at: datetime | None = None
        self.refunded = 0
        self.open_after_sale = False

    def append(self, moves: tuple[Entry, ...]) -> None:
        assert all(move.order == self.order for move in moves)
        self.entries = (*self.entries, *moves)

    def sign(self, at: datetime) -> None:
        if self.signed_at is None:
            self.signed_at = at
        self.append(on_signed(self.entries, at))
        assert on_signed(self.entries, at) == ()

    def parcel_returned(self, at: datetime) -> None:
        self.append(on_returned(self.entries, at))
        assert all(line.pending_cents == line.frozen_cents == 0 for line in balances(self.entries).values())

    def cancel(self, at: datetime) -> None:
        was_signed = any(e.reason is Reason.SIGNED for e in self.entries)
        try:
            self.append(on_cancelled(self.entries, at))
        except Conflict as refused:
            assert was_signed and refused.code == "already_shipped"
            return
        assert not was_signed
        assert all(line.pending_cents == 0 for line in balances(self.entries).values())

    def refund(self, share_bp: int, at: datetime) -> None:
        self.refunded = min(self.total, self.refunded + self.total * share_bp // 10_000)
        self.append(on_refund(self.entries, self.total, self.refunded, at))
        assert on_refund(self.entries, self.total, self.refunded, at) == ()

    def settle(self, after_sale_days: int, as_of: datetime) -> None:
        moves = settle_due(self.entries, self.signed_at, after_sale_days, as_of, self.open_after_sale)
        if moves:
            assert self.signed_at is not None and not self.open_after_sale
            assert as_of >= self.signed_at + timedelta(days=after_sale_days)
            assert {m.target for m in moves} == {State.SETTLED}
        self.append(moves)


# Lines worth following: the zero-cent cases (no line written) are proved by the examples above.
earning_bps = st.integers(100, 10_000)
totals_cents = st.integers(100, 10**7)
rooms = st.builds(
    RoomRates,
    base_rate_bp=earning_bps,
    starts_at=st.just(START),
    after_sale_days=st.integers(0, 15),
    ends_at=st.just(END),
    live_rate_bp=st.none() | earning_bps,
    first_hour_bonus_bp=bps,
    team_rate_bp=st.just(0) | earning_bps,
    gmv_tiers=tiers.map(tuple),
)
# Signing, time passing and settling are listed more than once: most histories should reach the end of the
# after-sale window, not only the events that end an order's commission early.
event_kinds = [
    "sign",
    "sign",
    "days",
    "days",
    "days",
    "settle",
    "settle",
    "refund",
    "return",
    "cancel",
    "after_sale",
]
# The number is the days to wait for "days" and "settle" (the scheduler runs after them), the twentieths of
# the order total for "refund", and open (odd) or resolved (even) for "after_sale".
events = st.lists(st.tuples(st.sampled_from(event_kinds), st.integers(0, 20)), min_size=4, max_size=20)


def play(story: OrderStory, rates: RoomRates, now: datetime, kind: str, value: int) -> datetime:
    """Apply one event to one order at `now`; answer the time after it."""
    if kind == "days":
        return now + timedelta(days=value)
    if kind == "sign":
        story.sign(now)
    elif kind == "settle":
        now += timedelta(days=value)
        story.settle(rates.after_sale_days, now)
    elif kind == "refund":
        story.refund(value * 500, now)
    elif kind == "return":
        story.parcel_returned(now)
    elif kind == "cancel":
        story.cancel(now)
    else:
        story.open_after_sale = value % 2 == 1
    return now


@settings(max_examples=400, deadline=None)
@given(
    rates=rooms,
    total=totals_cents,
    upline=st.sampled_from([None, "up"]),
    gmv=st.integers(0, 10**7),
    history=events,
)
def test_random_event_sequences_keep_every_cent_of_an_order_accounted_for(
    rates: RoomRates, total: int, upline: str | None, gmv: int, history: list[tuple[str, int]]
) -> None:
    story = OrderStory("o1", total, accrue("o1", total, "lead", upline, rates, PAID_AT, gmv))
    now = PAID_AT
    for kind, value in history:
        before = balances(story.entries)
        now = play(story, rates, now, kind, value)
        assert_every_cent_accounted_for(story.entries)
        assert_nothing_settles_twice(story.entries)
        assert_settled_and_reversed_never_shrink(before, story.entries)


class CommissionLedger(RuleBasedStateMachine):
    """Many orders of one room paid, signed, returned, cancelled, refunded and settled, interleaved."""

    stories = Bundle("stories")

    @initialize(rates=rooms)
    def open_room(self, rates: RoomRates) -> None:
        self.rates = rates
        self.now = START - HOUR
        self.all: list[OrderStory] = []
        self.before: dict[LineKey, Balance] = {}

    @rule(days=st.integers(0, 20), minutes=st.integers(0, 60 * 24))
    def time_passes(self, days: int, minutes: int) -> None:
        self.now += timedelta(days=days, minutes=minutes)

    @rule(
        target=stories,
        total=totals_cents,
        leader=st.sampled_from(["lead-a", "lead-b", None]),
        upline=st.sampled_from([None, "up"]),
        gmv=st.integers(0, 10**7),
    )
    def pay(self, total: int, leader: str | None, upline: str | None, gmv: int) -> OrderStory:
        order = f"o{len(self.all) + 1}"
        story = OrderStory(order, total, accrue(order, total, leader, upline, self.rates, self.now, gmv))
        assert sum(e.amount_cents for e in story.entries) <= total
        self.all.append(story)
        return story

    @rule(story=stories)
    def sign(self, story: OrderStory) -> None:
        story.sign(self.now)

    @rule()
    def carrier_push_signs_every_parcel(self) -> None:
        for story in self.all:
            story.sign(self.now)

    @rule(story=stories)
    def parcel_returned(self, story: OrderStory) -> None:
        story.parcel_returned(self.now)

    @rule(story=stories)
    def cancel(self, story: OrderStory) -> None:
        story.cancel(self.now)

    @rule(story=stories, share_bp=st.integers(0, 10_000))
    def refund_approved(self, story: OrderStory, share_bp: int) -> None:
        story.refund(share_bp, self.now)

    @rule(story=stories, is_open=st.booleans())
    def after_sale_opened_or_resolved(self, story: OrderStory, is_open: bool) -> None:
        story.open_after_sale = is_open

    @rule(days=st.integers(0, 20))
    def scheduler_settles_every_order_days_later(self, days: int) -> None:
        self.now += timedelta(days=days)
        for story in self.all:
            story.settle(self.rates.after_sale_days, self.now)

    def _ledger(self) -> list[Entry]:
        return [entry for story in self.all for entry in story.entries]

    @invariant()
    def every_accrued_cent_is_in_exactly_one_state_and_none_is_negative(self) -> None:
        assert_every_cent_accounted_for(self._ledger())

    @invariant()
    def nothing_settles_twice(self) -> None:
        assert_nothing_settles_twice(self._ledger())

    @invariant()
    def nothing_moves_out_of_settled_or_reversed(self) -> None:
        assert_settled_and_reversed_never_shrink(self.before, self._ledger())
        self.before = balances(self._ledger())

    @invariant()
    def an_order_never_pays_out_more_than_its_total(self) -> None:
        for story in self.all:
            assert sum(e.amount_cents for e in story.entries if e.source is None) <= story.total


CommissionLedger.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
test_interleaved_orders_keep_every_cent_accounted_for = CommissionLedger.TestCase
