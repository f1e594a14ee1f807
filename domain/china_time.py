"""China's clock: liveroom's users, its carriers and the calendar days orders count for all keep China Standard
Time (UTC+8, no daylight saving time). Times are stored in UTC; this is the one place that turns them into
China's wall clock and calendar."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8))


def china_time(at: datetime) -> datetime:
    """`at` on China's wall clock."""
    return at.astimezone(CHINA)


def china_day(at: datetime) -> str:
    """The calendar day (ISO, "2026-11-24") `at` falls on in China."""
    return at.astimezone(CHINA).date().isoformat()
