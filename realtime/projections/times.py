"""Times as the read models keep them: aware UTC datetimes, whatever offset an event or a driver used.

An order's `at` may come from the client with its own offset (+08:00); the database hands back UTC, or on SQLite a
naive string when the type processing is skipped for speed. Comparing and rendering them the same way is what lets
a restarted process show exactly what a running one shows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def utc(value: str | datetime) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def minute_of(at: datetime) -> int:
    """Whole minutes since the epoch (exact: no float rounding at a minute's edge)."""
    return (at - EPOCH) // MINUTE


def minute_start(minute: int) -> datetime:
    return EPOCH + minute * MINUTE
