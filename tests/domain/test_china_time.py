"""China's clock: the wall time and calendar day of a UTC time in China (UTC+8)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.china_time import china_day, china_time


def test_a_utc_evening_after_four_is_the_next_day_in_china() -> None:
    assert china_day(datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC)) == "2026-11-23"
    assert china_day(datetime(2026, 11, 23, 16, 0, tzinfo=UTC)) == "2026-11-24"


def test_china_wall_clock_is_eight_hours_ahead_of_utc_all_year() -> None:
    for month in (1, 7):  # no daylight saving time
        at = datetime(2026, month, 1, 12, 0, tzinfo=UTC)
        assert china_time(at).utcoffset() == timedelta(hours=8)
        assert china_time(at).strftime("%H:%M") == "20:00"
