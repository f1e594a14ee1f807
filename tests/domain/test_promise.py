"""Shipping promises by payment time (domain/promise.py): which rule an order's payment time takes, the ship_by it
gets, what a promise may not say, and a presale order's ship_by when its stock arrives."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import ordering, promise
from domain.china_time import CHINA
from domain.errors import DomainError
from domain.events import OrderAccepted
from tests.domain.test_ordering import ROOMS, request, snapshot

TOMORROW_18 = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"}]
TWO_WAVES = [  # given out of order on purpose: rules are sorted by paid_before
    {"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"},
    {"paid_before": "12:00", "ship_by_days": 0, "ship_by_time": "18:00"},
]


def china(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA)


def ship_by(raw: list[dict[str, Any]], paid: datetime) -> datetime | None:
    return promise.ship_by(promise.parse(raw), paid)


def test_paid_before_the_cutoff_ships_by_tomorrow_at_the_promised_hour() -> None:
    assert ship_by(TOMORROW_18, china(24, 19, 59)) == china(25, 18)


def test_paid_after_the_last_cutoff_ships_the_day_after() -> None:
    assert ship_by(TOMORROW_18, china(24, 20, 0)) == china(26, 18)  # 20:00 sharp is not "before 20:00"
    assert ship_by(TOMORROW_18, china(24, 23, 59)) == china(26, 18)


def test_the_cutoff_is_read_on_chinas_clock_not_utc() -> None:
    paid = datetime(2026, 11, 24, 11, 30, tzinfo=UTC)  # 19:30 in China
    assert ship_by(TOMORROW_18, paid) == china(25, 18)
    assert ship_by(TOMORROW_18, paid).tzinfo == UTC  # type: ignore[union-attr]


def test_the_first_rule_whose_cutoff_is_after_the_payment_applies() -> None:
    assert ship_by(TWO_WAVES, china(24, 9)) == china(24, 18)
    assert ship_by(TWO_WAVES, china(24, 12)) == china(25, 18)
    assert ship_by(TWO_WAVES, china(24, 21)) == china(25, 18)  # as if paid on the 25th at 00:00: the first rule


def test_rules_are_kept_sorted_by_their_cutoff() -> None:
    assert [r["paid_before"] for r in promise.as_json(promise.parse(TWO_WAVES))] == ["12:00", "20:00"]


def test_no_promise_means_no_ship_by() -> None:
    assert ship_by([], china(24, 9)) is None
    assert promise.ship_by(promise.parse(None), china(24, 9)) is None


@pytest.mark.parametrize(
    ("raw", "field", "code"),
    [
        ([{"paid_before": "24:00", "ship_by_days": 1, "ship_by_time": "18:00"}], "ship_promise[0].paid_before",
         "invalid_field"),
        ([{"paid_before": "8:00", "ship_by_days": 1, "ship_by_time": "18:00"}], "ship_promise[0].paid_before",
         "invalid_field"),
        ([{"paid_before": "20:00", "ship_by_days": 31, "ship_by_time": "18:00"}], "ship_promise[0].ship_by_days",
         "invalid_field"),
        ([{"paid_before": "20:00", "ship_by_days": -1, "ship_by_time": "18:00"}], "ship_promise[0].ship_by_days",
         "invalid_field"),
        ([{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:60"}], "ship_promise[0].ship_by_time",
         "invalid_field"),
        ([{"paid_before": f"{h:02d}:00", "ship_by_days": 1, "ship_by_time": "18:00"} for h in range(11)],
         "ship_promise", "too_many_rules"),
        ([{"paid_before": "20:00", "ship_by_days": 0, "ship_by_time": "18:00"}], "ship_promise[0].ship_by_time",
         "ships_before_payment"),
        ([*TOMORROW_18, {"paid_before": "20:00", "ship_by_days": 2, "ship_by_time": "18:00"}],
         "ship_promise[1].paid_before", "duplicate_rule"),
        ([{"paid_before": "12:00", "ship_by_days": 2, "ship_by_time": "18:00"}, *TOMORROW_18],
         "ship_promise[1].ship_by_time", "promise_not_monotonic"),
        ([{"paid_before": "12:00", "ship_by_days": 0, "ship_by_time": "18:00"},
          {"paid_before": "20:00", "ship_by_days": 2, "ship_by_time": "18:00"}],
         "ship_promise[1].ship_by_days", "promise_not_monotonic"),
    ],
)
def test_a_promise_that_cannot_be_kept_is_refused_naming_its_field(
    raw: list[dict[str, Any]], field: str, code: str
) -> None:
    with pytest.raises(DomainError) as refused:
        promise.parse(raw)
    assert (refused.value.field, refused.value.code) == (field, code)


def test_ten_rules_are_allowed() -> None:
    raw = [{"paid_before": f"{h:02d}:00", "ship_by_days": 1, "ship_by_time": "00:00"} for h in range(1, 11)]
    assert len(promise.parse(raw)) == 10


def test_a_presale_order_ships_by_the_later_of_its_promise_and_the_promise_from_the_fill_time() -> None:
    rules = promise.parse(TOMORROW_18)
    first = promise.ship_by(rules, china(24, 10))
    assert promise.for_presale_fill(rules, first, china(24, 15)) == china(25, 18)  # same window: unchanged
    assert promise.for_presale_fill(rules, first, china(27, 21)) == china(29, 18)  # stock came late: later
    assert promise.for_presale_fill((), first, china(27, 21)) == first
    assert promise.for_presale_fill(rules, None, china(27, 9)) == china(28, 18)


# --- in the order's decision


def test_an_accepted_order_carries_its_rooms_promise_in_the_decision_and_the_event() -> None:
    promised = dataclasses.replace(ROOMS["room-1"], promise=promise.parse(TOMORROW_18))
    paid = china(24, 19, 30)
    decision = ordering.decide(request(at=paid), snapshot(rooms={**ROOMS, "room-1": promised}))
    assert decision.ship_by == china(25, 18)
    accepted = [e for e in decision.events if isinstance(e, OrderAccepted)]
    assert accepted[0].ship_by == china(25, 18)


def test_an_order_in_a_room_without_a_promise_has_no_ship_by() -> None:
    decision = ordering.decide(request(), snapshot())
    assert decision.ship_by is None
    assert next(e for e in decision.events if isinstance(e, OrderAccepted)).ship_by is None


# --- properties, for any valid promise


_hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.integers(0, 59))
_rule = st.fixed_dictionaries(
    {"paid_before": _hhmm, "ship_by_days": st.integers(0, promise.MAX_DAYS), "ship_by_time": _hhmm}
)


def _valid(raw: list[dict[str, Any]]) -> promise.Promise | None:
    try:
        return promise.parse(raw)
    except DomainError:
        return None


def _stepped(pairs: list[tuple[int, int]]) -> promise.Promise | None:
    """Cut-offs with a ship-by offset that grows by each step, from tomorrow 00:00 (at most 1,000 minutes)."""
    rules, offset = [], 1440
    for cut, step in sorted(pairs):
        offset += step
        rules.append({"paid_before": f"{cut // 60:02d}:{cut % 60:02d}", "ship_by_days": offset // 1440,
                      "ship_by_time": f"{offset % 1440 // 60:02d}:{offset % 60:02d}"})
    return _valid(rules)


_promises = st.one_of(
    st.lists(_rule, min_size=1, max_size=promise.MAX_RULES).map(_valid).filter(bool),
    # monotone sets built on purpose (random ones are mostly refused): each rule ships a little later
    st.lists(st.tuples(st.integers(1, 1439), st.integers(0, 100)), min_size=1, max_size=promise.MAX_RULES,
             unique_by=lambda pair: pair[0]).map(_stepped).filter(bool),
)
_moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1), timezones=st.just(UTC))


@settings(max_examples=300, deadline=None)
@given(_promises, _moments)
def test_ship_by_is_never_before_payment(rules: promise.Promise, paid: datetime) -> None:
    shipped = promise.ship_by(rules, paid)
    assert shipped is not None and shipped > paid


@settings(max_examples=300, deadline=None)
@given(_promises, _moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)))
def test_a_later_payment_never_gets_an_earlier_ship_by(
    rules: promise.Promise, paid: datetime, later: timedelta
) -> None:
    assert promise.ship_by(rules, paid + later) >= promise.ship_by(rules, paid)  # type: ignore[operator]


@settings(max_examples=200, deadline=None)
@given(_promises, _moments, st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)))
def test_a_filled_presale_order_never_ships_earlier_than_promised_at_payment(
    rules: promise.Promise, paid: datetime, wait: timedelta
) -> None:
    first = promise.ship_by(rules, paid)
    after = promise.for_presale_fill(rules, first, paid + wait)
    assert after is not None and first is not None and after >= first and after > paid + wait
