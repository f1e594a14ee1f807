"""The growth engine's rules (domain/growth.py): watch-time arithmetic, the points ledger, tasks, recruits, tags."""

from __future__ import annotations

import bisect
import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import growth
from domain.errors import Conflict, DomainError

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SECOND = 1_000_000

# Heartbeats as offsets in seconds (with some sub-second ones): close enough that gaps both under and over 60 s occur.
offsets = st.lists(st.integers(min_value=0, max_value=600) | st.floats(min_value=0, max_value=600).map(
    lambda f: round(f, 3)), max_size=40)


def beats(seconds: list[float]) -> list[datetime]:
    return [T0 + timedelta(seconds=s) for s in seconds]


def incremental(order: list[datetime]) -> int:
    """The watch time as the service keeps it: each new heartbeat adds its gain against its recorded neighbours."""
    recorded: list[datetime] = []
    total = 0
    for beat in order:
        before, after, present = growth.neighbours(recorded, beat)
        if present:
            continue
        gain = growth.beat_gain_us(before, beat, after)
        assert gain >= 0
        total += gain
        bisect.insort(recorded, beat)
    return total


# --- watch time ---------------------------------------------------------------------------------------------


def test_watch_time_is_the_sum_of_gaps_of_at_most_60_seconds() -> None:
    assert growth.watch_seconds(beats([0, 30, 60, 121, 181, 300])) == 30 + 30 + 60
    assert growth.watch_seconds(beats([0, 60.000001])) == 0
    assert growth.watch_seconds([]) == 0


@settings(max_examples=200, deadline=None)
@given(offsets, st.randoms(use_true_random=False), st.integers(min_value=0, max_value=3))
def test_any_order_or_repetition_of_heartbeats_gives_the_same_watch_time(
    seconds: list[float], rnd: random.Random, repeats: int
) -> None:
    base = beats(seconds)
    shuffled = base * (repeats + 1)
    rnd.shuffle(shuffled)
    assert growth.watch_us(shuffled) == growth.watch_us(base)


@settings(max_examples=200, deadline=None)
@given(offsets, st.randoms(use_true_random=False))
def test_adding_heartbeats_one_by_one_in_any_order_sums_to_the_watch_time(
    seconds: list[float], rnd: random.Random
) -> None:
    order = beats(seconds) * 2
    rnd.shuffle(order)
    assert incremental(order) == growth.watch_us(order)


@settings(max_examples=100, deadline=None)
@given(offsets, st.integers(min_value=0, max_value=600))
def test_a_new_heartbeat_never_lowers_the_watch_time(seconds: list[float], extra: int) -> None:
    before = beats(seconds)
    assert growth.watch_us([*before, T0 + timedelta(seconds=extra)]) >= growth.watch_us(before)


def test_a_heartbeat_without_a_zone_is_refused() -> None:
    with pytest.raises(DomainError):
        growth.beat_gain_us(None, datetime(2026, 11, 23, 12, 0), None)


# --- the points ledger --------------------------------------------------------------------------------------

visitors = st.sampled_from(["v-1", "v-2", "v-3"])
rooms = st.sampled_from(["room-1", "room-2"])
heartbeat_stream = st.lists(st.tuples(rooms, visitors, st.integers(min_value=0, max_value=40)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(heartbeat_stream, st.integers(min_value=1, max_value=300), st.integers(min_value=0, max_value=50))
def test_the_ledger_never_goes_negative_and_rewards_each_visitor_at_most_once_per_room(
    stream: list[tuple[str, str, int]], min_watch_s: int, reward: int
) -> None:
    """Heartbeats (every 30 s slot, in any order, repeated) of invited visitors in two rooms; each one that carries
    a visitor across the mark may earn their leader a reward, which the ledger takes only once per key."""
    inviter = {"v-1": "lead-a", "v-2": "lead-b", "v-3": None}
    recorded: dict[tuple[str, str], list[datetime]] = {}
    ledger: dict[tuple[str, str, str, str], growth.PointsEntry] = {}
    for room, visitor, slot in stream:
        beat = T0 + timedelta(seconds=30 * slot)
        mine = recorded.setdefault((room, visitor), [])
        before_s = growth.watch_seconds(mine)
        if beat not in mine:
            bisect.insort(mine, beat)
        entry = growth.invite_reward(
            room=room, visitor=visitor, inviter=inviter[visitor], watched_before_s=before_s,
            watched_after_s=growth.watch_seconds(mine), min_watch_s=min_watch_s, reward_points=reward, at=beat)
        if entry is not None and growth.post(ledger, entry):
            ledger[entry.key] = entry
    for lead in ("lead-a", "lead-b"):
        assert growth.balance(ledger.values(), lead) >= 0
    per_visitor = Counter((e.room, e.ref) for e in ledger.values() if e.reason == growth.PointsReason.INVITE)
    assert all(n == 1 for n in per_visitor.values())
    for (room, visitor), mine in recorded.items():
        earned = (room, visitor) in per_visitor
        assert earned == (inviter[visitor] is not None and reward > 0
                          and growth.watch_seconds(mine) >= min_watch_s)


def test_a_points_entry_is_never_zero_or_negative() -> None:
    for points in (0, -5):
        with pytest.raises(DomainError):
            growth.PointsEntry("lead-a", "room-1", growth.PointsReason.INVITE, "v-1", points, T0)


def test_a_second_entry_with_the_same_key_is_refused() -> None:
    entry = growth.PointsEntry("lead-a", "room-1", growth.PointsReason.TASK, "t-1", 50, T0)
    assert growth.post({}, entry) and not growth.post({entry.key: entry}, entry)


# --- tasks --------------------------------------------------------------------------------------------------

TASK = growth.InviteTask("room-1", "t-1", "邀请3人", goal=3, min_watch_s=60, reward_points=50, bonus_bp=100)


def test_a_task_completes_once_when_the_goal_is_reached() -> None:
    assert not growth.completes(TASK, 1, 2, completed=False)
    assert growth.completes(TASK, 2, 3, completed=False)
    assert not growth.completes(TASK, 3, 4, completed=True)
    assert growth.progress(TASK, [59, 60, 600, 0], completed=False) == growth.TaskProgress("t-1", 3, 4, 2, False)


def test_a_task_bonus_applies_only_to_orders_placed_after_completion() -> None:
    done = {"t-1": T0, "t-2": T0 + timedelta(hours=1)}
    bonuses = {"t-1": 100, "t-2": 50}
    assert growth.task_bonus_bp(done, bonuses, T0) == 0
    assert growth.task_bonus_bp(done, bonuses, T0 + timedelta(minutes=1)) == 100
    assert growth.task_bonus_bp(done, bonuses, T0 + timedelta(hours=2)) == 150


def test_a_task_outside_its_bounds_names_the_field() -> None:
    with pytest.raises(DomainError) as refused:
        growth.InviteTask("room-1", "t", "x", goal=0, min_watch_s=60, reward_points=0, bonus_bp=0)
    assert refused.value.field == "goal"


# --- recruits -----------------------------------------------------------------------------------------------

leader_ids = st.sampled_from([f"l{i}" for i in range(8)])


@st.composite
def forests(draw: st.DrawFn) -> dict[str, str | None]:
    """An upline tree: each leader's upline is one made before it (so the tree has no loop to start with)."""
    names = draw(st.lists(leader_ids, unique=True, max_size=8))
    tree: dict[str, str | None] = {}
    for i, name in enumerate(names):
        tree[name] = draw(st.none() | st.sampled_from(names[:i])) if i else None
    return tree


def _no_loop(tree: dict[str, str | None]) -> bool:
    for start in tree:
        seen, current = set(), start
        while current is not None:
            if current in seen:
                return False
            seen.add(current)
            current = tree.get(current)
    return True


@settings(max_examples=300, deadline=None)
@given(forests(), leader_ids, st.none() | leader_ids, st.booleans())
def test_recruiting_never_makes_a_loop_of_uplines(
    tree: dict[str, str | None], new: str, bound_to: str | None, already: bool
) -> None:
    bound = bound_to if bound_to in tree else None
    try:
        made = growth.recruit(visitor="v-1", leader=new, bound_to=bound, leader_exists=new in tree,
                              visitor_already_leader=already, uplines=tree)
    except Conflict:
        assert new in tree or already
        return
    except DomainError:
        return
    assert made.upline == bound and made.leader not in tree and not already
    assert _no_loop({**tree, made.leader: made.upline})


def test_a_taken_id_or_a_visitor_already_a_leader_is_a_conflict_naming_the_field() -> None:
    with pytest.raises(Conflict) as taken:
        growth.recruit(visitor="v", leader="l1", bound_to=None, leader_exists=True, visitor_already_leader=False,
                       uplines={})
    assert taken.value.field == "leader"
    with pytest.raises(Conflict) as again:
        growth.recruit(visitor="v", leader="l9", bound_to=None, leader_exists=False, visitor_already_leader=True,
                       uplines={})
    assert again.value.field == "visitor"


# --- tags -------------------------------------------------------------------------------------------------------


def test_tags_are_trimmed_without_blanks_or_repeats_and_bounded() -> None:
    assert growth.clean_tags([" 宝妈 ", "", "宝妈", "爱喝茶"]) == ("宝妈", "爱喝茶")
    with pytest.raises(DomainError) as long_tag:
        growth.clean_tags(["ok", "x" * 21])
    assert long_tag.value.field == "tags[1]"
    with pytest.raises(DomainError) as many:
        growth.clean_tags([f"t{i}" for i in range(11)])
    assert many.value.field == "tags"
