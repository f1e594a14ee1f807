"""Who gets a pre-live reminder, and when a refused one is tried again (domain/growth.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.growth import RETRY_AFTER_S, needs_reminder, next_attempt

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_a_visitor_who_clicked_before_the_start_and_never_entered_is_reminded() -> None:
    assert needs_reminder(START - MINUTE, None, START)


def test_a_visitor_who_entered_only_after_the_start_is_still_reminded() -> None:
    assert needs_reminder(START - MINUTE, START + MINUTE, START)


def test_a_visitor_already_in_the_room_when_it_started_is_not_reminded() -> None:
    assert not needs_reminder(START - 2 * MINUTE, START - MINUTE, START)
    assert not needs_reminder(START - MINUTE, START, START)


def test_a_click_at_or_after_the_start_earns_no_reminder() -> None:
    assert not needs_reminder(START, None, START)
    assert not needs_reminder(START + MINUTE, None, START)


def test_refused_deliveries_back_off_along_the_schedule_then_give_up() -> None:
    waits = [next_attempt(n, START) for n in range(1, len(RETRY_AFTER_S) + 2)]
    assert waits[:-1] == [START + timedelta(seconds=s) for s in RETRY_AFTER_S]
    assert waits[-1] is None
    assert next_attempt(1, START, (0.5,)) == START + timedelta(seconds=0.5)
    assert next_attempt(2, START, (0.5,)) is None
    with pytest.raises(ValueError):
        next_attempt(0, START)
