"""Times at the edge: the one check every time field of a body, a carrier push or the CLI goes through.

A time is accepted when it is an ISO-8601 date-time with a zone (a carrier's clock may leave the zone out: it is
then read in the carrier's own zone), the calendar can hold it in UTC, and it lies in the supported range,
2000-01-01 (inclusive) to 2100-01-01 (exclusive) UTC. Anything else is refused with 422 `invalid_field` naming the
field, never carried further in (a time past the calendar's end used to fail deep inside as an OverflowError).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from server.api.errors import ApiError

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)  # exclusive
RANGE_TEXT = "2000-01-01T00:00:00Z to 2100-01-01T00:00:00Z"
# A calendar date first: pydantic would also read "8" as 8 seconds after 1970, which no client means.
_DATE_TIME = re.compile(r"^\s*\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


class TimeRefused(ValueError):
    """Why a time value is not accepted (the caller names the field)."""


def utc_in_range(value: datetime) -> datetime:
    """`value` (aware) as UTC when it lies in the supported range; TimeRefused otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise TimeRefused("a time needs a zone (e.g. +08:00 or Z)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise TimeRefused(f"outside the supported range {RANGE_TEXT}") from None
    if not EARLIEST <= utc < LATEST:
        raise TimeRefused(f"outside the supported range {RANGE_TEXT}")
    return utc


def read_time(text: str, *, zone: tzinfo | None = None) -> datetime:
    """An ISO-8601 date-time text as UTC in the supported range. Without a zone in the text it is read in `zone`
    (a carrier's local clock); without either it is refused. TimeRefused says why."""
    if not isinstance(text, str) or not _DATE_TIME.match(text):
        raise TimeRefused(f"not a date-time (yyyy-MM-ddTHH:mm:ss with a zone): {text!r}")
    try:
        value = datetime.fromisoformat(text.strip().upper())
    except ValueError:
        raise TimeRefused(f"not a date-time (yyyy-MM-ddTHH:mm:ss with a zone): {text!r}") from None
    if value.tzinfo is None and zone is not None:
        value = value.replace(tzinfo=zone)
    return utc_in_range(value)


def field_time(text: str, field: str, *, zone: tzinfo | None = None) -> datetime:
    """`read_time` for a value that is not in a pydantic body (a form field, a carrier line): 422 naming it."""
    try:
        return read_time(text, zone=zone)
    except TimeRefused as refused:
        raise ApiError(422, "invalid_field", f"{field}: {refused}", field) from None


_NOT_A_DATE_TIME = "not a date-time (ISO 8601 with a zone, e.g. 2026-11-23T20:00:00+08:00)"


def _date_time_text(value: Any) -> Any:
    """Read the text here (a strict body takes no text for a datetime); the zone is required after this."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _DATE_TIME.match(value):
        raise PydanticCustomError("datetime_type", _NOT_A_DATE_TIME)
    try:
        return datetime.fromisoformat(value.strip().upper())  # RFC 3339 allows "t" and "z"; Python reads "T", "Z"
    except ValueError:
        raise PydanticCustomError("datetime_parsing", _NOT_A_DATE_TIME) from None


def _bounded(value: datetime) -> datetime:
    try:
        return utc_in_range(value)
    except TimeRefused as refused:
        raise PydanticCustomError("datetime_range", str(refused)) from None


# The document's word for the range: RFC 3339 date-times written in the years 2000-2099. (The server's own check
# is on the UTC instant, so a time within 14 hours of either end may be refused or taken where its written year
# says otherwise; the pattern keeps generated examples clear of that.)
DOCUMENTED_PATTERN = (
    r"^20[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    r"(\.[0-9]{1,6})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
)

# Every time field of every body: a date-time text with a zone, in the supported range, given on as UTC.
When = Annotated[
    AwareDatetime,
    BeforeValidator(_date_time_text),
    AfterValidator(_bounded),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": DOCUMENTED_PATTERN,
                    "description": f"RFC 3339 date-time with a zone, from {RANGE_TEXT}"}),
]
