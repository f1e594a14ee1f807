"""Tracking rules: the parcel state machine, signed orders, event times and stuck parcels."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain.errors import DomainError
from domain.tracking import (
    DEFAULT_STUCK_POLICY,
    PROGRESS,
    Parcel,
    ParcelState,
    StuckPolicy,
    TrackingEvent,
    apply,
    check_event_time,
    is_stuck,
    is_terminal,
    signed_at,
)

CREATED = ParcelState.CREATED
COLLECTED = ParcelState.COLLECTED
IN_TRANSIT = ParcelState.IN_TRANSIT
OUT = ParcelState.OUT_FOR_DELIVERY
SIGNED = ParcelState.SIGNED
PROBLEM = ParcelState.PROBLEM
RETURNED = ParcelState.RETURNED

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RANK = {state: rank for rank, state in enumerate(PROGRESS)}
MICRO = timedelta(microseconds=1)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def event(state: ParcelState, minutes: int, station: str = "") -> TrackingEvent:
    return TrackingEvent(state, at(minutes), station)


def run(events: Sequence[TrackingEvent], parcel: Parcel | None = None) -> Parcel:
    current = parcel if parcel is not None else Parcel()
    for item in events:
        current = apply(current, item)
    return current


# --- the state machine: examples ----------------------------------------------------------------------------


def test_parcel_moves_forward_through_the_progress_states() -> None:
    parcel = run([event(COLLECTED, 0), event(IN_TRANSIT, 60), event(OUT, 120)])
    assert parcel == Parcel(OUT, OUT, at(120), at(120))


def test_late_earlier_state_does_not_move_the_parcel_backwards() -> None:
    in_transit = run([event(COLLECTED, 0), event(IN_TRANSIT, 60)])
    late = apply(in_transit, event(COLLECTED, 30))
    assert late is in_transit


def test_newer_lower_rank_event_keeps_the_state_but_counts_as_news() -> None:
    out = run([event(COLLECTED, 0), event(OUT, 60)])
    after = apply(out, event(IN_TRANSIT, 90, "转运中心"))
    assert (after.state, after.furthest, after.state_since, after.last_event_at) == (OUT, OUT, at(60), at(90))


def test_late_further_state_still_moves_the_parcel_forward() -> None:
    parcel = run([event(COLLECTED, 0), event(IN_TRANSIT, 60), event(OUT, 45)])
    assert parcel == Parcel(OUT, OUT, at(60), at(45))


def test_repeated_event_returns_the_same_parcel() -> None:
    parcel = run([event(COLLECTED, 0), event(IN_TRANSIT, 60)])
    assert apply(parcel, event(IN_TRANSIT, 60)) is parcel
    assert apply(parcel, event(IN_TRANSIT, 60, "another trace line")) is parcel


def test_same_state_newer_event_restarts_quiet_time_but_not_state_since() -> None:
    parcel = run([event(COLLECTED, 0), event(IN_TRANSIT, 60), event(IN_TRANSIT, 600)])
    assert (parcel.state, parcel.state_since, parcel.last_event_at) == (IN_TRANSIT, at(60), at(600))


def test_first_event_of_a_fresh_parcel_dates_its_state() -> None:
    parcel = apply(Parcel(), event(CREATED, 5))
    assert parcel == Parcel(CREATED, CREATED, at(5), at(5))


def test_created_parcel_keeps_its_creation_time_when_no_trace_arrives() -> None:
    created = Parcel(state_since=at(0))
    assert apply(created, event(CREATED, 30)) == Parcel(CREATED, CREATED, at(30), at(0))


def test_signed_is_final_even_when_a_return_arrives_later() -> None:
    signed = run([event(IN_TRANSIT, 0), event(SIGNED, 60)])
    assert signed == Parcel(SIGNED, SIGNED, at(60), at(60))
    for later in (event(RETURNED, 120), event(PROBLEM, 120), event(OUT, 180)):
        assert apply(signed, later) is signed


def test_returned_is_final_and_keeps_the_progress_it_reached() -> None:
    returned = run([event(COLLECTED, 0), event(IN_TRANSIT, 60), event(RETURNED, 120)])
    assert returned == Parcel(RETURNED, IN_TRANSIT, at(120), at(120))
    assert apply(returned, event(SIGNED, 180)) is returned


def test_late_signature_still_signs_a_parcel_in_problem() -> None:
    parcel = run([event(OUT, 0), event(PROBLEM, 120), event(SIGNED, 60)])
    assert (parcel.state, parcel.furthest, parcel.state_since, parcel.last_event_at) == (
        SIGNED,
        SIGNED,
        at(60),
        at(120),
    )


def test_late_return_still_returns_a_parcel_in_transit() -> None:
    parcel = run([event(IN_TRANSIT, 0), event(OUT, 120), event(RETURNED, 60)])
    assert (parcel.state, parcel.furthest) == (RETURNED, OUT)


def test_problem_keeps_the_furthest_progress_reached() -> None:
    parcel = run([event(COLLECTED, 0), event(OUT, 60), event(PROBLEM, 90)])
    assert parcel == Parcel(PROBLEM, OUT, at(90), at(90))


def test_problem_older_than_the_last_event_is_ignored() -> None:
    parcel = run([event(COLLECTED, 0), event(IN_TRANSIT, 60)])
    assert apply(parcel, event(PROBLEM, 59)) is parcel
    assert apply(parcel, event(PROBLEM, 60)).state == PROBLEM


def test_progress_at_the_furthest_rank_after_the_problem_leaves_problem() -> None:
    problem = run([event(IN_TRANSIT, 0), event(PROBLEM, 60)])
    assert apply(problem, event(IN_TRANSIT, 60)) == Parcel(IN_TRANSIT, IN_TRANSIT, at(60), at(60))
    assert apply(problem, event(OUT, 90)) == Parcel(OUT, OUT, at(90), at(90))


def test_progress_below_the_furthest_rank_does_not_leave_problem() -> None:
    problem = run([event(OUT, 0), event(PROBLEM, 60)])
    after = apply(problem, event(IN_TRANSIT, 90))
    assert (after.state, after.furthest, after.state_since, after.last_event_at) == (
        PROBLEM,
        OUT,
        at(60),
        at(90),
    )


def test_progress_older_than_the_problem_records_progress_but_stays_in_problem() -> None:
    problem = run([event(COLLECTED, 0), event(PROBLEM, 60)])
    after = apply(problem, event(OUT, 30))
    assert (after.state, after.furthest, after.state_since, after.last_event_at) == (
        PROBLEM,
        OUT,
        at(60),
        at(60),
    )
    # Only a report at the new furthest rank brings it back now.
    assert apply(after, event(IN_TRANSIT, 90)).state == PROBLEM
    assert apply(after, event(OUT, 90)).state == OUT


def test_another_problem_report_keeps_the_problem_start() -> None:
    parcel = run([event(IN_TRANSIT, 0), event(PROBLEM, 60), event(PROBLEM, 600)])
    assert (parcel.state, parcel.state_since, parcel.last_event_at) == (PROBLEM, at(60), at(600))


def test_event_time_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TrackingEvent(SIGNED, datetime(2026, 11, 23, 12, 0))


def test_parcel_times_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="last_event_at"):
        Parcel(IN_TRANSIT, IN_TRANSIT, datetime(2026, 11, 23), at(0))


def test_stored_wire_strings_become_states() -> None:
    parcel = Parcel("problem", "in_transit", at(0), at(0))  # type: ignore[arg-type]
    assert parcel.state is PROBLEM and parcel.furthest is IN_TRANSIT
    assert TrackingEvent("signed", at(0)).state is SIGNED  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "furthest", "field"),
    [
        ("teleported", CREATED, "state"),
        (IN_TRANSIT, "lost", "furthest"),
        (IN_TRANSIT, COLLECTED, "furthest"),
        (PROBLEM, RETURNED, "furthest"),
        (PROBLEM, SIGNED, "furthest"),
        (RETURNED, SIGNED, "furthest"),
        (SIGNED, OUT, "furthest"),
    ],
)
def test_impossible_parcel_is_refused(state: ParcelState, furthest: ParcelState, field: str) -> None:
    with pytest.raises(DomainError) as refused:
        Parcel(state, furthest, at(0), at(0))
    assert refused.value.field == field


def test_final_parcel_must_know_when_it_got_there() -> None:
    with pytest.raises(DomainError) as refused:
        Parcel(SIGNED, SIGNED, at(0), None)
    assert refused.value.field == "state_since"


def test_only_signed_and_returned_are_terminal() -> None:
    assert [state for state in ParcelState if is_terminal(state)] == [SIGNED, RETURNED]


def test_progress_runs_from_created_to_signed() -> None:
    assert PROGRESS == (CREATED, COLLECTED, IN_TRANSIT, OUT, SIGNED)


# --- the state machine: properties --------------------------------------------------------------------------

ANY_STATE = st.sampled_from(list(ParcelState))
PROGRESS_ONLY = st.sampled_from(PROGRESS[:-1])
NON_TERMINAL = st.sampled_from([state for state in ParcelState if not is_terminal(state)])


def events_of(
    states: st.SearchStrategy[ParcelState], max_size: int = 12
) -> st.SearchStrategy[list[TrackingEvent]]:
    one = st.builds(event, states, st.integers(0, 240))
    return st.lists(one, min_size=1, max_size=max_size)


def first_terminal(events: Sequence[TrackingEvent]) -> int | None:
    return next((i for i, item in enumerate(events) if is_terminal(item.state)), None)


@settings(max_examples=300, deadline=None)
@given(events=events_of(ANY_STATE))
def test_first_terminal_event_in_applied_order_decides_the_outcome(events: list[TrackingEvent]) -> None:
    parcel = run(events)
    first = first_terminal(events)
    if first is None:
        assert not is_terminal(parcel.state)
    else:
        assert (parcel.state, parcel.state_since) == (events[first].state, events[first].at)
        assert parcel.last_event_at == max(item.at for item in events[: first + 1])


@settings(max_examples=300, deadline=None)
@given(events=events_of(ANY_STATE))
def test_furthest_is_the_best_progress_heard_until_the_parcel_ends(events: list[TrackingEvent]) -> None:
    first = first_terminal(events)
    heard = events if first is None else events[: first + 1]
    progress = [RANK[item.state] for item in heard if item.state in RANK]
    assert RANK[run(events).furthest] == max(progress, default=0)


@settings(max_examples=200, deadline=None)
@given(events=events_of(PROGRESS_ONLY), data=st.data())
def test_any_order_or_duplication_of_progress_events_ends_at_the_furthest_state(
    events: list[TrackingEvent], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(events + data.draw(st.lists(st.sampled_from(events), max_size=6))))
    parcel = run(shuffled)
    best = max(events, key=lambda item: RANK[item.state]).state
    assert (parcel.state, parcel.furthest) == (best, best)
    assert parcel.last_event_at == max(item.at for item in events)


@settings(max_examples=200, deadline=None)
@given(events=events_of(NON_TERMINAL), signature=st.integers(0, 240), data=st.data())
def test_any_order_of_a_trace_with_a_signature_and_no_return_ends_signed_at_that_time(
    events: list[TrackingEvent], signature: int, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations([*events, event(SIGNED, signature)]))
    parcel = run(shuffled)
    assert (parcel.state, parcel.furthest, parcel.state_since) == (SIGNED, SIGNED, at(signature))
    assert signed_at([parcel]) == at(signature)


@settings(max_examples=300, deadline=None)
@given(events=events_of(ANY_STATE), again=ANY_STATE, minutes=st.integers(0, 240))
def test_applying_the_same_event_twice_changes_nothing_the_second_time(
    events: list[TrackingEvent], again: ParcelState, minutes: int
) -> None:
    once = apply(run(events), event(again, minutes))
    assert apply(once, event(again, minutes)) is once


class ParcelUnderCarrierPushes(RuleBasedStateMachine):
    """A parcel fed arbitrary, out-of-order and repeated carrier events; every step obeys the rules."""

    def __init__(self) -> None:
        super().__init__()
        self.parcel = Parcel(state_since=T0)
        self.heard: list[TrackingEvent] = []

    def _push(self, item: TrackingEvent) -> None:
        before = self.parcel
        after = apply(before, item)
        self.heard.append(item)
        self.parcel = after
        assert RANK[after.furthest] >= RANK[before.furthest]
        if is_terminal(before.state) or after == before:
            assert after is before
        if before.state in RANK and after.state in RANK:
            assert RANK[after.state] >= RANK[before.state]
        if before.last_event_at is not None:
            assert after.last_event_at is not None and after.last_event_at >= before.last_event_at
        if item.state == PROBLEM and before.last_event_at is not None and item.at < before.last_event_at:
            assert after is before
        if after.state != before.state:
            assert after.state_since == item.at

    @rule(state=ANY_STATE, minutes=st.integers(0, 240))
    def carrier_reports(self, state: ParcelState, minutes: int) -> None:
        self._push(event(state, minutes))

    @rule(data=st.data())
    def carrier_repeats_an_old_report(self, data: st.DataObject) -> None:
        if self.heard:
            self._push(data.draw(st.sampled_from(self.heard)))

    @invariant()
    def progress_state_is_the_furthest_reached(self) -> None:
        if self.parcel.state in RANK:
            assert self.parcel.state == self.parcel.furthest

    @invariant()
    def state_began_no_later_than_the_last_event(self) -> None:
        last, since = self.parcel.last_event_at, self.parcel.state_since
        if last is not None and since is not None and self.heard:
            assert since <= last


ParcelUnderCarrierPushes.TestCase.settings = settings(max_examples=150, stateful_step_count=25, deadline=None)
TestParcelUnderCarrierPushes = ParcelUnderCarrierPushes.TestCase


# --- orders: signed and returned ----------------------------------------------------------------------------


def signed(minutes: int) -> Parcel:
    return Parcel(SIGNED, SIGNED, at(minutes), at(minutes))


def test_order_is_signed_at_its_last_signature_once_every_parcel_is_signed() -> None:
    assert signed_at([signed(30), signed(90), signed(60)]) == at(90)


@pytest.mark.parametrize(
    "other",
    [
        Parcel(),
        Parcel(OUT, OUT, at(10), at(10)),
        Parcel(PROBLEM, OUT, at(10), at(10)),
        Parcel(RETURNED, OUT, at(5), at(5)),
    ],
)
def test_order_with_an_unsigned_parcel_is_not_signed(other: Parcel) -> None:
    assert signed_at([signed(30), other]) is None


def test_order_without_parcels_is_not_signed() -> None:
    assert signed_at([]) is None


@settings(max_examples=100, deadline=None)
@given(minutes=st.lists(st.integers(0, 10_000), min_size=1, max_size=8), data=st.data())
def test_signature_time_of_an_order_does_not_depend_on_parcel_order(
    minutes: list[int], data: st.DataObject
) -> None:
    parcels = data.draw(st.permutations([signed(m) for m in minutes]))
    assert signed_at(parcels) == at(max(minutes))


# --- stuck parcels ------------------------------------------------------------------------------------------


def quiet(state: ParcelState, since: int = 0) -> Parcel:
    return Parcel(state, state if state in RANK else IN_TRANSIT, at(since), at(since))


@pytest.mark.parametrize(("state", "limit"), [(COLLECTED, 48), (IN_TRANSIT, 24), (OUT, 24)])
def test_parcel_is_stuck_only_after_its_state_threshold_without_events(
    state: ParcelState, limit: int
) -> None:
    parcel = quiet(state)
    threshold = T0 + timedelta(hours=limit)
    assert not is_stuck(parcel, threshold - MICRO)
    assert not is_stuck(parcel, threshold)
    assert is_stuck(parcel, threshold + MICRO)


def test_in_transit_parcel_is_stuck_after_a_day_while_a_collected_one_waits_two() -> None:
    later = T0 + timedelta(hours=30)
    assert is_stuck(quiet(IN_TRANSIT), later)
    assert not is_stuck(quiet(COLLECTED), later)


def test_a_new_event_restarts_the_quiet_time() -> None:
    parcel = run([event(IN_TRANSIT, 0)])
    later = T0 + timedelta(hours=25)
    assert is_stuck(parcel, later)
    assert not is_stuck(apply(parcel, event(IN_TRANSIT, 120)), later)


@pytest.mark.parametrize("state", [PROBLEM, SIGNED, RETURNED, CREATED])
def test_problem_final_and_created_parcels_are_never_stuck_by_default(state: ParcelState) -> None:
    assert not is_stuck(quiet(state), T0 + timedelta(days=365))


def test_created_parcel_can_be_stuck_from_its_creation_when_ops_set_a_threshold() -> None:
    policy = StuckPolicy(((CREATED, timedelta(hours=12)),))
    created = Parcel(state_since=T0)
    assert not is_stuck(created, T0 + timedelta(hours=12), policy)
    assert is_stuck(created, T0 + timedelta(hours=12) + MICRO, policy)
    assert not is_stuck(Parcel(), T0 + timedelta(days=30), policy)


def test_custom_policy_replaces_the_defaults() -> None:
    policy = StuckPolicy(((IN_TRANSIT, timedelta(hours=6)),))
    assert is_stuck(quiet(IN_TRANSIT), T0 + timedelta(hours=7), policy)
    assert not is_stuck(quiet(COLLECTED), T0 + timedelta(days=9), policy)


def test_default_policy_is_the_issue_thresholds() -> None:
    assert [DEFAULT_STUCK_POLICY.threshold(s) for s in ParcelState] == [
        None,
        timedelta(hours=48),
        timedelta(hours=24),
        timedelta(hours=24),
        None,
        None,
        None,
    ]


def test_stuck_check_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="now"):
        is_stuck(quiet(IN_TRANSIT), datetime(2026, 11, 25))


def test_stuck_check_compares_instants_across_time_zones() -> None:
    beijing = timezone(timedelta(hours=8))
    parcel = quiet(IN_TRANSIT)
    assert not is_stuck(parcel, (T0 + timedelta(hours=24)).astimezone(beijing))
    assert is_stuck(parcel, (T0 + timedelta(hours=24, seconds=1)).astimezone(beijing))


@pytest.mark.parametrize(
    "thresholds",
    [
        ((PROBLEM, timedelta(hours=1)),),
        ((SIGNED, timedelta(hours=1)),),
        ((RETURNED, timedelta(hours=1)),),
        (("lost", timedelta(hours=1)),),
        ((IN_TRANSIT, timedelta(0)),),
        ((IN_TRANSIT, timedelta(hours=-1)),),
        ((IN_TRANSIT, 24),),
        ((IN_TRANSIT, timedelta(hours=1)), (IN_TRANSIT, timedelta(hours=2))),
    ],
)
def test_policy_with_an_impossible_threshold_is_refused(
    thresholds: tuple[tuple[ParcelState, timedelta], ...],
) -> None:
    with pytest.raises(DomainError) as refused:
        StuckPolicy(thresholds)
    assert refused.value.field == "thresholds"


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from([COLLECTED, IN_TRANSIT, OUT]),
    hours=st.integers(1, 96),
    silence=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)),
)
def test_stuck_means_silent_longer_than_the_threshold(
    state: ParcelState, hours: int, silence: timedelta
) -> None:
    policy = StuckPolicy(((state, timedelta(hours=hours)),))
    assert is_stuck(quiet(state), T0 + silence, policy) == (silence > timedelta(hours=hours))


# --- event times: believed only inside the order's window ------------------------------------------------------


@given(offset=st.integers(min_value=-3 * 86_400, max_value=3 * 86_400))
@example(offset=-600)  # the edges: exactly ten minutes either side is inside, a second more is not
@example(offset=-601)
@example(offset=86_400 + 600)
@example(offset=86_400 + 601)
def test_an_event_time_is_believed_only_from_ten_minutes_before_the_order_to_ten_after_its_arrival(
    offset: int,
) -> None:
    placed = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    received = placed + timedelta(days=1)
    at = placed + timedelta(seconds=offset)
    inside = placed - timedelta(minutes=10) <= at <= received + timedelta(minutes=10)
    try:
        check_event_time(at, placed, received, "Data[0].Traces[1].AcceptTime")
    except DomainError as refused:
        assert not inside
        assert (refused.code, refused.field) == ("event_time_out_of_range", "Data[0].Traces[1].AcceptTime")
    else:
        assert inside
