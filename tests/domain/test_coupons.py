"""Live-only coupons and the invitation-task bonus in the order's decision (domain/growth.py, domain/order_growth.py):
the coupon's rules, its quota, what the buyer pays and what commission is computed on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import commission, growth, ordering
from domain.errors import Conflict, DomainError
from domain.events import OrderAccepted
from tests.domain.test_ordering import NOW, RATES, START, request, snapshot


def coupon(**overrides: object) -> growth.Coupon:
    values: dict[str, object] = {
        "room": "room-1",
        "coupon": "LIVE10",
        "threshold_cents": 10_000,
        "off_cents": 1_000,
        "live_only": False,
        "invited_only": False,
        "quota": None,
        "used": 0,
    }
    values.update(overrides)
    return growth.Coupon(**values)  # type: ignore[arg-type]


def with_coupon(c: growth.Coupon, **overrides: object) -> ordering.Snapshot:
    return snapshot(coupons={(c.room, c.coupon): c}, **overrides)


# --- properties ------------------------------------------------------------------------------------------------


@given(quota=st.integers(0, 30), attempts=st.integers(0, 60))
def test_any_sequence_of_uses_never_exceeds_the_quota(quota: int, attempts: int) -> None:
    c = coupon(quota=quota)
    taken = 0
    for _ in range(attempts):
        try:
            c = growth.use(c)
            taken += 1
        except Conflict as spent:
            assert spent.code == "coupon_exhausted"
        assert c.quota is not None and c.used <= c.quota
    assert taken == min(attempts, quota) == c.used


@given(
    subtotal=st.integers(0, 10**9),
    threshold=st.integers(0, 10**9),
    off=st.integers(1, 10**9),
)
def test_the_discount_never_exceeds_the_subtotal_and_the_total_is_never_negative(
    subtotal: int, threshold: int, off: int
) -> None:
    c = coupon(threshold_cents=threshold, off_cents=off)
    try:
        discount = growth.coupon_discount(
            c, name=c.coupon, room="room-1", subtotal_cents=subtotal, live=True, invited=True
        )
    except DomainError as refused:
        assert refused.code == "coupon_below_threshold" and subtotal < threshold
        return
    assert 0 < discount <= subtotal or subtotal == 0 == discount
    assert subtotal - discount >= 0
    assert discount == min(off, subtotal)


@given(units=st.integers(1, 20), off=st.integers(1, 400_000))
def test_an_order_pays_its_subtotal_less_the_discount_and_earns_commission_on_what_it_paid(
    units: int, off: int
) -> None:
    c = coupon(threshold_cents=0, off_cents=off)
    decision = ordering.decide(request(("tea", units), code="code-a", coupon="LIVE10"), with_coupon(c))
    subtotal = 12_800 * units
    assert decision.discount_cents == min(off, subtotal)
    assert decision.total_cents == subtotal - decision.discount_cents >= 0
    assert decision.subtotal_cents == subtotal
    leader = decision.leader_commission
    expected = commission.amount_cents(decision.total_cents, RATES.live_rate_bp or 0)
    assert (leader.amount_cents if leader else 0) == expected


# --- the coupon's rules in the decision ----------------------------------------------------------------------


def test_an_order_with_a_coupon_records_its_use_and_announces_the_discount() -> None:
    decision = ordering.decide(request(("tea", 1), coupon="LIVE10"), with_coupon(coupon(quota=3, used=1)))
    assert decision.coupon is not None and decision.coupon.used == 2
    assert (decision.total_cents, decision.discount_cents) == (11_800, 1_000)
    accepted = next(e for e in decision.events if isinstance(e, OrderAccepted))
    assert (accepted.coupon, accepted.discount_cents, accepted.total_cents) == ("LIVE10", 1_000, 11_800)


def test_an_order_without_a_coupon_pays_its_subtotal() -> None:
    decision = ordering.decide(request(("tea", 1)), with_coupon(coupon()))
    assert (decision.coupon, decision.discount_cents, decision.total_cents) == (None, 0, 12_800)


@pytest.mark.parametrize(
    ("c", "req", "code"),
    [
        (coupon(coupon="OTHER"), request(("tea", 1), coupon="LIVE10"), "coupon_unknown"),
        (coupon(room="room-2"), request(("tea", 1), coupon="LIVE10"), "coupon_unknown"),
        (coupon(threshold_cents=20_000), request(("tea", 1), coupon="LIVE10"), "coupon_below_threshold"),
        (coupon(live_only=True), request(("tea", 1), coupon="LIVE10", at=START - timedelta(minutes=1)),
         "coupon_not_live"),
        (coupon(live_only=True), request(("tea", 1), coupon="LIVE10", at=START + timedelta(hours=4)),
         "coupon_not_live"),
        (coupon(invited_only=True), request(("tea", 1), coupon="LIVE10"), "coupon_not_invited"),
    ],
)
def test_a_coupon_that_does_not_apply_is_refused_naming_the_coupon_field(
    c: growth.Coupon, req: ordering.OrderRequest, code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        ordering.decide(req, with_coupon(c))
    assert (refused.value.code, refused.value.field) == (code, "coupon")
    assert not isinstance(refused.value, Conflict)


def test_a_live_only_invited_only_coupon_applies_to_an_invited_order_while_live() -> None:
    c = coupon(live_only=True, invited_only=True)
    decision = ordering.decide(request(("tea", 1), code="code-a", coupon="LIVE10"), with_coupon(c))
    assert decision.discount_cents == 1_000 and decision.leader == "lead-a"


def test_a_spent_coupon_is_a_conflict() -> None:
    with pytest.raises(Conflict) as refused:
        ordering.decide(request(("tea", 1), coupon="LIVE10"), with_coupon(coupon(quota=2, used=2)))
    assert (refused.value.code, refused.value.field) == ("coupon_exhausted", "coupon")


# --- the invitation task's bonus ------------------------------------------------------------------------------


def test_a_completed_task_adds_its_bonus_only_to_orders_placed_after_its_completion() -> None:
    done_at = NOW
    snap = snapshot(
        completions={("room-1", "lead-a"): {"t-1": done_at}}, task_bonuses={"room-1": {"t-1": 500}}
    )
    before = ordering.decide(request(("tea", 1), code="code-a", at=done_at - timedelta(seconds=1)), snap)
    after = ordering.decide(request(("tea", 1), code="code-a", at=done_at + timedelta(seconds=1)), snap)
    live = RATES.live_rate_bp or 0
    assert before.leader_commission and before.leader_commission.amount_cents == 12_800 * live // 10_000
    assert after.leader_commission and after.leader_commission.amount_cents == 12_800 * (live + 500) // 10_000


def test_the_task_bonus_keeps_leader_and_team_within_the_order_total() -> None:
    snap = snapshot(
        completions={("room-1", "lead-b"): {"t-1": START}}, task_bonuses={"room-1": {"t-1": 10_000}}
    )
    decision = ordering.decide(request(("tea", 1), code="code-b"), snap)
    assert sum(e.amount_cents for e in decision.ledger) <= decision.total_cents
    assert decision.leader_commission and decision.leader_commission.amount_cents == decision.total_cents


def test_another_leaders_or_another_rooms_completion_adds_nothing() -> None:
    snap = snapshot(
        completions={("room-1", "lead-b"): {"t-1": START}, ("room-2", "lead-a"): {"t-2": START}},
        task_bonuses={"room-1": {"t-1": 500}, "room-2": {"t-2": 500}},
    )
    decision = ordering.decide(request(("tea", 1), code="code-a"), snap)
    live = RATES.live_rate_bp or 0
    assert decision.leader_commission and decision.leader_commission.amount_cents == 12_800 * live // 10_000
