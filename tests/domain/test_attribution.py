"""Attribution: share codes, visitor→leader binding per mode, order attribution, assists, upline loops."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain.attribution import (
    Binding,
    BindingMode,
    BindingOutcome,
    BindingPolicy,
    LinkKind,
    OrderAttribution,
    attribute_order,
    is_protected,
    on_order,
    share_code,
    validate_upline,
    visit,
)
from domain.errors import DomainError

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
FIRST_TOUCH = BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=7)
LAST_TOUCH = BindingPolicy(BindingMode.LAST_TOUCH)
PERMANENT = BindingPolicy(BindingMode.PERMANENT)
NO_UPLINES: Mapping[str, str | None] = {}
SECRET = "s3cret"


def bound(leader: str, policy: BindingPolicy, at: datetime = AT, visitor: str = "v1") -> Binding:
    decision = visit(None, visitor, leader, at, policy, NO_UPLINES)
    assert decision.outcome is BindingOutcome.NEW and decision.binding is not None
    return decision.binding


def is_ancestor(candidate: str, leader: str, uplines: Mapping[str, str | None]) -> bool:
    """Independent oracle: a bounded walk up the chain (at most one step per known leader)."""
    node = uplines.get(leader)
    for _ in range(len(uplines) + 1):
        if node is None:
            return False
        if node == candidate:
            return True
        node = uplines.get(node)
    return False


def has_cycle(uplines: Mapping[str, str | None]) -> bool:
    return any(is_ancestor(leader, leader, uplines) for leader in uplines)


# --- share codes ----------------------------------------------------------------------------------


def test_same_room_leader_and_kind_give_the_same_code() -> None:
    assert share_code("r1", "L1", LinkKind.LIVE, SECRET) == share_code("r1", "L1", LinkKind.LIVE, SECRET)


def test_live_and_replay_codes_of_a_leader_differ() -> None:
    live = share_code("r1", "L1", LinkKind.LIVE, SECRET)
    replay = share_code("r1", "L1", LinkKind.REPLAY, SECRET)
    assert live.code != replay.code
    assert (live.kind, replay.kind) == (LinkKind.LIVE, LinkKind.REPLAY)


def test_codes_differ_across_rooms_leaders_and_secrets() -> None:
    codes = {
        share_code("r1", "L1", LinkKind.LIVE, SECRET).code,
        share_code("r2", "L1", LinkKind.LIVE, SECRET).code,
        share_code("r1", "L2", LinkKind.LIVE, SECRET).code,
        share_code("r1", "L1", LinkKind.LIVE, "other-secret").code,
    }
    assert len(codes) == 4


def test_room_and_leader_cannot_be_shifted_across_a_separator_to_forge_a_code() -> None:
    assert (
        share_code("a|b", "c", LinkKind.LIVE, SECRET).code
        != share_code("a", "b|c", LinkKind.LIVE, SECRET).code
    )


def test_share_code_names_its_room_leader_and_kind() -> None:
    code = share_code("r1", "L1", LinkKind.REPLAY, SECRET)
    assert (code.room, code.leader, code.kind) == ("r1", "L1", LinkKind.REPLAY)


def test_share_code_accepts_the_wire_kind() -> None:
    from_wire = share_code("r1", "L1", "replay", SECRET)  # type: ignore[arg-type]
    assert from_wire == share_code("r1", "L1", LinkKind.REPLAY, SECRET)
    assert from_wire.kind is LinkKind.REPLAY


@settings(max_examples=200, deadline=None)
@given(room=st.text(min_size=1), leader=st.text(min_size=1), kind=st.sampled_from(LinkKind))
def test_share_code_is_short_lowercase_and_url_safe(room: str, leader: str, kind: LinkKind) -> None:
    code = share_code(room, leader, kind, SECRET).code
    assert re.fullmatch(r"[a-z2-7]{10,12}", code)


@settings(max_examples=200, deadline=None)
@given(room=st.text(min_size=1, max_size=8), leader=st.text(min_size=1, max_size=8))
def test_live_and_replay_codes_differ_for_any_room_and_leader(room: str, leader: str) -> None:
    assert (
        share_code(room, leader, LinkKind.LIVE, SECRET).code
        != share_code(room, leader, LinkKind.REPLAY, SECRET).code
    )


def test_a_replay_code_binds_like_a_live_one() -> None:
    live = share_code("r1", "L1", LinkKind.LIVE, SECRET)
    replay = share_code("r1", "L1", LinkKind.REPLAY, SECRET)
    by_live = visit(None, "v1", live.leader, AT, FIRST_TOUCH, NO_UPLINES)
    by_replay = visit(None, "v1", replay.leader, AT, FIRST_TOUCH, NO_UPLINES)
    assert by_replay == by_live
    assert by_replay.binding is not None and by_replay.binding.leader == "L1"


@pytest.mark.parametrize(
    ("room", "leader", "secret", "field"),
    [("", "L1", SECRET, "room"), ("r1", "", SECRET, "leader"), ("r1", "L1", "", "secret")],
)
def test_share_code_refuses_an_empty_room_leader_or_secret(
    room: str, leader: str, secret: str, field: str
) -> None:
    with pytest.raises(DomainError) as refused:
        share_code(room, leader, LinkKind.LIVE, secret)
    assert refused.value.field == field


def test_share_code_refuses_an_unknown_kind() -> None:
    with pytest.raises(DomainError) as refused:
        share_code("r1", "L1", "rerun", SECRET)  # type: ignore[arg-type]
    assert refused.value.field == "kind"


# --- policy and binding values --------------------------------------------------------------------


def test_negative_protection_days_are_refused() -> None:
    with pytest.raises(DomainError) as refused:
        BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=-1)
    assert refused.value.field == "protection_days"


def test_protection_days_must_be_a_whole_number() -> None:
    with pytest.raises(DomainError):
        BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=1.5)  # type: ignore[arg-type]
    with pytest.raises(DomainError):
        BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=True)


def test_zero_protection_days_are_allowed_and_protect_nothing() -> None:
    policy = BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=0)
    first = bound("L1", policy)
    assert not is_protected(first, AT)
    assert visit(first, "v1", "L2", AT, policy, NO_UPLINES).outcome is BindingOutcome.REBOUND


def test_policy_accepts_the_wire_mode_and_refuses_an_unknown_one() -> None:
    assert BindingPolicy("last_touch").mode is BindingMode.LAST_TOUCH  # type: ignore[arg-type]
    with pytest.raises(DomainError) as refused:
        BindingPolicy("forever")  # type: ignore[arg-type]
    assert refused.value.field == "mode"


def test_a_binding_to_oneself_cannot_exist() -> None:
    with pytest.raises(DomainError) as refused:
        Binding(visitor="L1", leader="L1", bound_at=AT, protected_until=None)
    assert refused.value.field == "leader"


def test_a_binding_with_a_naive_time_is_refused() -> None:
    with pytest.raises(ValueError):
        Binding(visitor="v1", leader="L1", bound_at=AT.replace(tzinfo=None), protected_until=None)
    with pytest.raises(ValueError):
        Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=(AT + DAY).replace(tzinfo=None))


def test_protection_cannot_end_before_the_binding_starts() -> None:
    with pytest.raises(DomainError) as refused:
        Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=AT - DAY)
    assert refused.value.field == "protected_until"


# --- is_protected ---------------------------------------------------------------------------------


def test_a_permanent_binding_is_protected_for_good() -> None:
    assert is_protected(bound("L1", PERMANENT), AT + 100_000 * DAY)


def test_first_touch_protection_ends_exactly_protection_days_after_binding() -> None:
    first = bound("L1", FIRST_TOUCH)
    assert is_protected(first, AT + 7 * DAY - timedelta(microseconds=1))
    assert not is_protected(first, AT + 7 * DAY)


def test_a_last_touch_binding_is_never_protected() -> None:
    assert not is_protected(bound("L1", LAST_TOUCH), AT)


def test_protection_is_judged_in_absolute_time_across_offsets() -> None:
    first = bound("L1", FIRST_TOUCH)
    beijing = timezone(timedelta(hours=8))
    assert not is_protected(first, (AT + 7 * DAY).astimezone(beijing))


# --- visit: binding modes -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "protected_until"),
    [(PERMANENT, None), (FIRST_TOUCH, AT + 7 * DAY), (LAST_TOUCH, AT)],
)
def test_a_first_visit_binds_the_visitor_to_the_codes_leader(
    policy: BindingPolicy, protected_until: datetime | None
) -> None:
    decision = visit(None, "v1", "L1", AT, policy, NO_UPLINES)
    assert decision.outcome is BindingOutcome.NEW
    assert decision.binding == Binding(
        visitor="v1", leader="L1", bound_at=AT, protected_until=protected_until
    )


def test_permanent_first_leader_keeps_the_visitor_for_good() -> None:
    first = bound("L1", PERMANENT)
    decision = visit(first, "v1", "L2", AT + 3650 * DAY, PERMANENT, NO_UPLINES)
    assert (decision.binding, decision.outcome) == (first, BindingOutcome.KEPT)


def test_second_click_within_protection_keeps_first_leader() -> None:
    first = bound("L1", FIRST_TOUCH)
    decision = visit(first, "v1", "L2", AT + 6 * DAY, FIRST_TOUCH, NO_UPLINES)
    assert decision.outcome is BindingOutcome.KEPT
    assert decision.binding == first


def test_click_after_protection_rebinds_with_a_fresh_protection() -> None:
    first = bound("L1", FIRST_TOUCH)
    later = AT + 8 * DAY
    decision = visit(first, "v1", "L2", later, FIRST_TOUCH, NO_UPLINES)
    assert decision.outcome is BindingOutcome.REBOUND
    assert decision.binding == Binding(
        visitor="v1", leader="L2", bound_at=later, protected_until=later + 7 * DAY
    )


def test_click_at_the_end_of_protection_rebinds() -> None:
    first = bound("L1", FIRST_TOUCH)
    assert visit(first, "v1", "L2", AT + 7 * DAY, FIRST_TOUCH, NO_UPLINES).outcome is BindingOutcome.REBOUND


def test_last_touch_every_click_by_another_leader_rebinds() -> None:
    first = bound("L1", LAST_TOUCH)
    second = visit(first, "v1", "L2", AT + timedelta(seconds=1), LAST_TOUCH, NO_UPLINES)
    third = visit(second.binding, "v1", "L1", AT + timedelta(seconds=2), LAST_TOUCH, NO_UPLINES)
    assert (second.outcome, third.outcome) == (BindingOutcome.REBOUND, BindingOutcome.REBOUND)
    assert third.binding == Binding("v1", "L1", AT + timedelta(seconds=2), AT + timedelta(seconds=2))


@pytest.mark.parametrize("policy", [PERMANENT, FIRST_TOUCH, LAST_TOUCH])
def test_same_leader_clicking_again_keeps_the_binding(policy: BindingPolicy) -> None:
    first = bound("L1", policy)
    decision = visit(first, "v1", "L1", AT + DAY, policy, NO_UPLINES)
    assert decision.outcome is BindingOutcome.KEPT
    assert decision.binding == first


def test_same_leader_clicking_after_protection_renews_it_from_the_click() -> None:
    first = bound("L1", FIRST_TOUCH)
    later = AT + 10 * DAY
    decision = visit(first, "v1", "L1", later, FIRST_TOUCH, NO_UPLINES)
    assert decision.outcome is BindingOutcome.KEPT
    assert decision.binding == Binding(
        visitor="v1", leader="L1", bound_at=AT, protected_until=later + 7 * DAY
    )


@pytest.mark.parametrize(("policy", "late_by"), [(LAST_TOUCH, timedelta(seconds=1)), (FIRST_TOUCH, DAY)])
def test_a_click_older_than_the_binding_never_rebinds(policy: BindingPolicy, late_by: timedelta) -> None:
    # For first_touch, the current binding's protection has ended: only lateness can keep it.
    current = Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=AT)
    decision = visit(current, "v1", "L2", AT - late_by, policy, NO_UPLINES)
    assert decision.outcome is BindingOutcome.KEPT
    assert decision.binding == current


def test_a_first_touch_room_cannot_take_a_visitor_bound_for_good() -> None:
    forever = bound("L1", PERMANENT)
    assert visit(forever, "v1", "L2", AT + 30 * DAY, FIRST_TOUCH, NO_UPLINES).binding == forever


def test_a_last_touch_room_rebinds_even_a_visitor_bound_elsewhere_for_good() -> None:
    # The policy is the one of the room whose code was clicked.
    forever = bound("L1", PERMANENT)
    decision = visit(forever, "v1", "L2", AT + DAY, LAST_TOUCH, NO_UPLINES)
    assert decision.outcome is BindingOutcome.REBOUND
    assert decision.binding is not None and decision.binding.leader == "L2"


# --- visit: no self-binding, no loops --------------------------------------------------------------


@pytest.mark.parametrize("policy", [PERMANENT, FIRST_TOUCH, LAST_TOUCH])
def test_a_leader_clicking_their_own_code_is_not_bound(policy: BindingPolicy) -> None:
    decision = visit(None, "L1", "L1", AT, policy, {"L1": None})
    assert decision.outcome is BindingOutcome.KEPT
    assert decision.binding is None


def test_a_leader_clicking_their_own_code_keeps_their_existing_binding() -> None:
    current = bound("L2", LAST_TOUCH, visitor="L1")
    decision = visit(current, "L1", "L1", AT + DAY, LAST_TOUCH, {"L1": None, "L2": None})
    assert (decision.binding, decision.outcome) == (current, BindingOutcome.KEPT)


@pytest.mark.parametrize("downline", ["D1", "D2"])
def test_a_downline_cannot_bind_its_upline(downline: str) -> None:
    uplines: dict[str, str | None] = {"U": None, "D1": "U", "D2": "D1"}
    decision = visit(None, "U", downline, AT, LAST_TOUCH, uplines)
    assert (decision.binding, decision.outcome) == (None, BindingOutcome.KEPT)


def test_an_upline_can_bind_its_downline_and_siblings_bind_each_other() -> None:
    uplines: dict[str, str | None] = {"U": None, "D1": "U", "D2": "U"}
    by_upline = visit(None, "D1", "U", AT, LAST_TOUCH, uplines)
    by_sibling = visit(None, "D1", "D2", AT, LAST_TOUCH, uplines)
    assert (by_upline.outcome, by_sibling.outcome) == (BindingOutcome.NEW, BindingOutcome.NEW)


def test_a_cycle_already_in_the_uplines_does_not_hang_a_visit() -> None:
    uplines: dict[str, str | None] = {"A": "B", "B": "C", "C": "B"}
    assert visit(None, "X", "A", AT, LAST_TOUCH, uplines).outcome is BindingOutcome.NEW
    assert visit(None, "C", "A", AT, LAST_TOUCH, uplines).binding is None


def test_a_visit_refuses_a_binding_of_another_visitor() -> None:
    with pytest.raises(DomainError) as refused:
        visit(bound("L1", FIRST_TOUCH, visitor="v2"), "v1", "L2", AT, FIRST_TOUCH, NO_UPLINES)
    assert refused.value.field == "current"


def test_a_visit_refuses_an_empty_leader() -> None:
    with pytest.raises(DomainError) as refused:
        visit(None, "v1", "", AT, FIRST_TOUCH, NO_UPLINES)
    assert refused.value.field == "leader"


# --- on_order -------------------------------------------------------------------------------------


def test_an_order_extends_first_touch_protection_from_the_order_time() -> None:
    first = bound("L1", FIRST_TOUCH)
    ordered = AT + 5 * DAY
    assert on_order(first, ordered, FIRST_TOUCH).protected_until == ordered + 7 * DAY


def test_an_order_never_shortens_protection() -> None:
    long_protected = Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=AT + 30 * DAY)
    assert on_order(long_protected, AT + DAY, FIRST_TOUCH) == long_protected


def test_an_order_after_protection_ended_protects_again_from_the_order() -> None:
    first = bound("L1", FIRST_TOUCH)
    ordered = AT + 20 * DAY
    extended = on_order(first, ordered, FIRST_TOUCH)
    assert extended == Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=ordered + 7 * DAY)


@pytest.mark.parametrize("policy", [PERMANENT, LAST_TOUCH])
def test_an_order_leaves_other_modes_unchanged(policy: BindingPolicy) -> None:
    first = bound("L1", policy)
    assert on_order(first, AT + DAY, policy) == first


def test_an_order_in_a_first_touch_room_keeps_a_binding_for_good() -> None:
    forever = bound("L1", PERMANENT)
    assert on_order(forever, AT + DAY, FIRST_TOUCH).protected_until is None


# --- attribute_order ------------------------------------------------------------------------------


def test_no_binding_and_no_code_goes_to_the_house() -> None:
    assert attribute_order(None, "v1", None, AT, FIRST_TOUCH, NO_UPLINES) == OrderAttribution(
        leader=None, assists=(), binding=None, outcome=None
    )


def test_an_order_without_code_goes_to_the_bound_leader() -> None:
    first = bound("L1", FIRST_TOUCH)
    attribution = attribute_order(first, "v1", None, AT + DAY, FIRST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.assists, attribution.outcome) == ("L1", (), None)


def test_an_order_with_a_code_and_no_binding_binds_and_goes_to_the_codes_leader() -> None:
    attribution = attribute_order(None, "v1", "L1", AT, FIRST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.outcome) == ("L1", BindingOutcome.NEW)
    assert attribution.binding == Binding("v1", "L1", AT, AT + 7 * DAY)


@pytest.mark.parametrize("policy", [PERMANENT, FIRST_TOUCH])
def test_another_leaders_code_during_protection_earns_an_assist(policy: BindingPolicy) -> None:
    first = bound("L1", policy)
    attribution = attribute_order(first, "v1", "L2", AT + DAY, policy, NO_UPLINES)
    assert (attribution.leader, attribution.assists, attribution.outcome) == (
        "L1",
        ("L2",),
        BindingOutcome.KEPT,
    )


def test_another_leaders_code_after_protection_takes_the_order_without_assist() -> None:
    first = bound("L1", FIRST_TOUCH)
    attribution = attribute_order(first, "v1", "L2", AT + 8 * DAY, FIRST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.assists, attribution.outcome) == (
        "L2",
        (),
        BindingOutcome.REBOUND,
    )


def test_last_touch_order_goes_to_the_codes_leader() -> None:
    first = bound("L1", LAST_TOUCH)
    attribution = attribute_order(first, "v1", "L2", AT + DAY, LAST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.assists) == ("L2", ())


def test_the_bound_leaders_own_code_earns_no_assist() -> None:
    attribution = attribute_order(bound("L1", FIRST_TOUCH), "v1", "L1", AT + DAY, FIRST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.assists) == ("L1", ())


def test_an_expired_first_touch_binding_still_attributes_until_another_click() -> None:
    first = bound("L1", FIRST_TOUCH)
    assert attribute_order(first, "v1", None, AT + 60 * DAY, FIRST_TOUCH, NO_UPLINES).leader == "L1"


def test_a_leader_ordering_with_their_own_code_earns_no_assist() -> None:
    current = bound("L2", FIRST_TOUCH, visitor="L1")
    attribution = attribute_order(current, "L1", "L1", AT + DAY, FIRST_TOUCH, {"L1": None, "L2": None})
    assert (attribution.leader, attribution.assists, attribution.outcome) == ("L2", (), BindingOutcome.KEPT)


def test_a_loop_code_earns_no_assist_and_no_binding() -> None:
    uplines: dict[str, str | None] = {"U": None, "D": "U"}
    assert attribute_order(None, "U", "D", AT, FIRST_TOUCH, uplines) == OrderAttribution(
        leader=None, assists=(), binding=None, outcome=BindingOutcome.KEPT
    )


def test_the_returned_binding_has_the_orders_protection_extension() -> None:
    first = bound("L1", FIRST_TOUCH)
    ordered = AT + 5 * DAY
    attribution = attribute_order(first, "v1", "L2", ordered, FIRST_TOUCH, NO_UPLINES)
    assert attribution.binding == Binding("v1", "L1", AT, ordered + 7 * DAY)


def test_a_later_rebinding_never_moves_an_existing_order() -> None:
    first_order = attribute_order(None, "v1", "L1", AT, LAST_TOUCH, NO_UPLINES)
    rebound = visit(first_order.binding, "v1", "L2", AT + DAY, LAST_TOUCH, NO_UPLINES)
    second_order = attribute_order(rebound.binding, "v1", None, AT + 2 * DAY, LAST_TOUCH, NO_UPLINES)
    assert (first_order.leader, second_order.leader) == ("L1", "L2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        first_order.leader = "L2"  # type: ignore[misc]


def test_a_late_order_with_another_code_keeps_the_newer_binding_and_assists() -> None:
    current = bound("L1", LAST_TOUCH)
    attribution = attribute_order(current, "v1", "L2", AT - DAY, LAST_TOUCH, NO_UPLINES)
    assert (attribution.leader, attribution.assists) == ("L1", ("L2",))


def test_an_order_refuses_an_empty_code_leader() -> None:
    with pytest.raises(DomainError) as refused:
        attribute_order(None, "v1", "", AT, FIRST_TOUCH, NO_UPLINES)
    assert refused.value.field == "code_leader"


# --- naive times ----------------------------------------------------------------------------------


FIRST = Binding(visitor="v1", leader="L1", bound_at=AT, protected_until=AT + 7 * DAY)
TIMED_CALLS: dict[str, Callable[[datetime], object]] = {
    "is_protected": lambda at: is_protected(FIRST, at),
    "visit": lambda at: visit(FIRST, "v1", "L2", at, FIRST_TOUCH, NO_UPLINES),
    "on_order": lambda at: on_order(FIRST, at, FIRST_TOUCH),
    "attribute_order": lambda at: attribute_order(FIRST, "v1", None, at, FIRST_TOUCH, NO_UPLINES),
}


@pytest.mark.parametrize("name", sorted(TIMED_CALLS))
def test_a_naive_time_is_refused_where_time_enters(name: str) -> None:
    TIMED_CALLS[name](AT + DAY)  # an aware time is accepted
    with pytest.raises(ValueError, match="timezone-aware"):
        TIMED_CALLS[name]((AT + DAY).replace(tzinfo=None))


# --- validate_upline ------------------------------------------------------------------------------


def test_a_leader_cannot_be_their_own_upline() -> None:
    with pytest.raises(DomainError) as refused:
        validate_upline("L1", "L1", {"L1": None})
    assert (refused.value.field, refused.value.code) == ("upline", "upline_loop")


@pytest.mark.parametrize("downline", ["D1", "D2"])
def test_a_leader_cannot_take_a_downline_as_upline(downline: str) -> None:
    uplines: dict[str, str | None] = {"U": None, "D1": "U", "D2": "D1"}
    with pytest.raises(DomainError) as refused:
        validate_upline("U", downline, uplines)
    assert (refused.value.field, refused.value.code) == ("upline", "upline_loop")


def test_no_upline_an_unrelated_upline_or_a_move_under_a_sibling_is_accepted() -> None:
    uplines: dict[str, str | None] = {"U": None, "D1": "U", "D2": "U", "X": None}
    for leader, upline in [("D1", None), ("D1", "X"), ("D1", "D2"), ("D1", "U"), ("U", "X")]:
        validate_upline(leader, upline, uplines)  # raises on a refusal


def test_a_cycle_already_in_the_uplines_does_not_hang_validation() -> None:
    uplines: dict[str, str | None] = {"A": "B", "B": "A", "C": None}
    validate_upline("C", "A", uplines)
    with pytest.raises(DomainError):
        validate_upline("A", "B", uplines)


# --- properties -----------------------------------------------------------------------------------

LEADERS = ("L0", "L1", "L2", "L3", "L4", "L5")
leaders = st.sampled_from(LEADERS)
policies = st.builds(BindingPolicy, st.sampled_from(BindingMode), st.integers(min_value=0, max_value=30))
minutes = st.integers(min_value=-60 * 24 * 3, max_value=60 * 24 * 60).map(lambda m: AT + timedelta(minutes=m))


@st.composite
def upline_maps(draw: st.DrawFn, acyclic: bool = False) -> dict[str, str | None]:
    """Upline maps over LEADERS; unless acyclic, they may already hold cycles (bad data must not hang)."""
    uplines: dict[str, str | None] = {}
    for index, leader in enumerate(LEADERS):
        candidates = LEADERS[:index] if acyclic else LEADERS
        uplines[leader] = draw(st.none() | st.sampled_from(candidates)) if candidates else None
    return uplines


@settings(max_examples=300, deadline=None)
@given(
    clicks=st.lists(st.tuples(leaders, minutes), min_size=1, max_size=12),
    uplines=upline_maps(),
    orders=st.lists(minutes, max_size=3),
)
def test_under_permanent_the_first_bound_leader_never_changes(
    clicks: list[tuple[str, datetime]], uplines: dict[str, str | None], orders: list[datetime]
) -> None:
    binding: Binding | None = None
    first_leader: str | None = None
    for leader, at in clicks:
        binding = visit(binding, "v1", leader, at, PERMANENT, uplines).binding
        first_leader = first_leader or (binding.leader if binding else None)
    for at in orders:
        binding = attribute_order(binding, "v1", None, at, PERMANENT, uplines).binding
    assert (binding.leader if binding else None) == first_leader


@settings(max_examples=300, deadline=None)
@given(
    visitor=st.sampled_from((*LEADERS, "buyer")),
    clicks=st.lists(st.tuples(leaders, minutes, policies), max_size=10),
    uplines=upline_maps(),
)
def test_a_visitor_is_never_bound_to_itself_or_to_its_own_downline(
    visitor: str, clicks: list[tuple[str, datetime, BindingPolicy]], uplines: dict[str, str | None]
) -> None:
    before = dict(uplines)
    binding: Binding | None = None
    for leader, at, policy in clicks:
        binding = visit(binding, visitor, leader, at, policy, uplines).binding
        if binding is not None:
            assert binding.leader != visitor
            assert not is_ancestor(visitor, binding.leader, uplines)
    assert uplines == before


@settings(max_examples=300, deadline=None)
@given(
    current_leader=st.none() | leaders,
    code_leader=st.none() | leaders,
    visitor=st.sampled_from((*LEADERS, "buyer")),
    at=minutes,
    policy=policies,
    uplines=upline_maps(),
)
def test_an_orders_leader_is_the_binding_in_effect_at_the_order_time_or_the_house(
    current_leader: str | None,
    code_leader: str | None,
    visitor: str,
    at: datetime,
    policy: BindingPolicy,
    uplines: dict[str, str | None],
) -> None:
    current = None if current_leader in (None, visitor) else bound(current_leader, policy, visitor=visitor)
    attribution = attribute_order(current, visitor, code_leader, at, policy, uplines)
    if code_leader is not None:
        current = visit(current, visitor, code_leader, at, policy, uplines).binding
    in_effect = current
    assert attribution.leader == (in_effect.leader if in_effect else None)
    assert (attribution.binding.leader if attribution.binding else None) == attribution.leader
    assert attribution.leader not in attribution.assists
    assert set(attribution.assists) <= {code_leader}


@settings(max_examples=300, deadline=None)
@given(uplines=upline_maps(acyclic=True), leader=leaders, upline=st.none() | leaders)
def test_validate_upline_refuses_exactly_the_changes_that_make_a_loop(
    uplines: dict[str, str | None], leader: str, upline: str | None
) -> None:
    makes_loop = has_cycle({**uplines, leader: upline})
    try:
        validate_upline(leader, upline, uplines)
        refused = False
    except DomainError as error:
        refused = error.code == "upline_loop"
    assert refused == makes_loop


class FirstTouchBinding(RuleBasedStateMachine):
    """Clicks, late clicks and orders in a first_touch room, in any order."""

    @initialize(days=st.integers(min_value=0, max_value=14))
    def open_room(self, days: int) -> None:
        self.policy = BindingPolicy(BindingMode.FIRST_TOUCH, protection_days=days)
        self.now = AT
        self.binding: Binding | None = None
        self.previous: Binding | None = None

    @rule(leader=leaders, hours=st.integers(min_value=0, max_value=24 * 10))
    def click(self, leader: str, hours: int) -> None:
        self.now += timedelta(hours=hours)
        before = self.binding
        decision = visit(before, "buyer", leader, self.now, self.policy, NO_UPLINES)
        if before is not None and decision.binding is not None and decision.binding.leader != before.leader:
            assert not is_protected(before, self.now)
            assert decision.outcome is BindingOutcome.REBOUND
        self._move_to(decision.binding)

    @precondition(lambda self: self.binding is not None)
    @rule(leader=leaders, hours=st.integers(min_value=1, max_value=24 * 10))
    def late_click(self, leader: str, hours: int) -> None:
        before = self.binding
        assert before is not None
        decision = visit(
            before, "buyer", leader, before.bound_at - timedelta(hours=hours), self.policy, NO_UPLINES
        )
        assert decision.binding is not None and decision.binding.leader == before.leader
        self._move_to(decision.binding)

    @rule(code_leader=st.none() | leaders, hours=st.integers(min_value=0, max_value=24 * 10))
    def order(self, code_leader: str | None, hours: int) -> None:
        self.now += timedelta(hours=hours)
        attribution = attribute_order(self.binding, "buyer", code_leader, self.now, self.policy, NO_UPLINES)
        protection = timedelta(days=self.policy.protection_days)
        if attribution.binding is not None:
            assert attribution.binding.protected_until is not None
            assert attribution.binding.protected_until >= self.now + protection
        self._move_to(attribution.binding)

    def _move_to(self, binding: Binding | None) -> None:
        self.previous, self.binding = self.binding, binding

    @invariant()
    def protection_and_binding_time_never_go_back(self) -> None:
        if self.previous is None or self.binding is None:
            return
        assert self.binding.bound_at >= self.previous.bound_at
        assert self.binding.protected_until is not None and self.previous.protected_until is not None
        assert self.binding.protected_until >= self.previous.protected_until

    @invariant()
    def once_bound_the_visitor_stays_bound(self) -> None:
        assert self.previous is None or self.binding is not None


FirstTouchBinding.TestCase.settings = settings(max_examples=150, stateful_step_count=20, deadline=None)
test_first_touch_binding_sequences_keep_their_invariants = FirstTouchBinding.TestCase
