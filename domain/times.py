"""Times the rules take: every one is timezone-aware (stored and compared in UTC). The one check, with the one error
type, that every domain module uses where a time enters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from domain.errors import DomainError


class NaiveTime(DomainError, ValueError):
    """A time without a zone: a ValueError for code that builds values directly, a DomainError naming the field for
    a service (422)."""

    code = "naive_time"


def require_aware(value: Any, name: str) -> None:
    """Refuse `value` unless it is a datetime with a zone (None is left to the caller's own rule)."""
    if value is None:
        return
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise NaiveTime(f"{name} must be a timezone-aware UTC datetime, got {value!r}", field=name)
