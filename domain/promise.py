"""A room's shipping promise (staggered shipping): by the China time an order is paid, the day and hour its parcels
ship by (API.md, "After the pulse": `ship_promise`).

The rules, each `paid_before` → `ship_by_days` at `ship_by_time` (China time), apply like this:
- rules are kept sorted by `paid_before`; an order paid at `t` takes the first rule whose `paid_before` is after
  t's time of day (strictly: paid at 20:00 sharp is not "before 20:00");
- paid after the last cut-off ("later → the day after"), it counts as paid at the start of the next China day, so
  it takes the first rule on the next day. With one rule this is the last rule's days + 1 at its time: "paid before
  20:00 → tomorrow 18:00, later → the day after at 18:00";
- ship_by = China date(t) + ship_by_days, at ship_by_time, in UTC.

Validation keeps the promise honest for every payment time: a same-day rule (days 0) ships no earlier than its own
cut-off, so ship_by is never before payment; and a later payment never gets an earlier ship_by — each rule promises
no earlier than the one before it, and the last no later than the next morning's first (`check`).

A presale order waits for stock: when its backorder is filled, the promise is read again from the fill time and
the later of the two applies (`for_presale_fill`); with no promise an order has no ship_by.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from domain.china_time import CHINA, china_time
from domain.errors import DomainError

MAX_RULES = 10
MAX_DAYS = 30
_DAY = timedelta(days=1)
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True, slots=True)
class Rule:
    paid_before: time
    ship_by_days: int
    ship_by_time: time

    @property
    def offset(self) -> timedelta:
        """How long after the payment day's China midnight the parcels ship by."""
        return timedelta(days=self.ship_by_days, hours=self.ship_by_time.hour, minutes=self.ship_by_time.minute)

    def as_dict(self) -> dict[str, Any]:
        return {"paid_before": hhmm(self.paid_before), "ship_by_days": self.ship_by_days,
                "ship_by_time": hhmm(self.ship_by_time)}


Promise = tuple[Rule, ...]  # sorted by paid_before; empty: no promise


def hhmm(value: time) -> str:
    return f"{value.hour:02d}:{value.minute:02d}"


def _time(value: Any, field: str) -> time:
    match = _HHMM.match(value) if isinstance(value, str) else None
    if match is None:
        raise DomainError(f"{field} must be a China time HH:MM (00:00 to 23:59)", field=field, code="invalid_field")
    return time(int(match[1]), int(match[2]))


def parse(raw: Sequence[Mapping[str, Any]] | None, field: str = "ship_promise") -> Promise:
    """The promise from its JSON form (None or []: no promise), checked (`check`); a refusal names the field."""
    if raw is None:
        return ()
    if len(raw) > MAX_RULES:
        raise DomainError(f"at most {MAX_RULES} promise rules", field=field, code="too_many_rules")
    rules: list[tuple[int, Rule]] = []
    for i, item in enumerate(raw):
        at = f"{field}[{i}]"
        days = item.get("ship_by_days")
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
            raise DomainError(f"{at}.ship_by_days must be a whole number from 0 to {MAX_DAYS}",
                              field=f"{at}.ship_by_days", code="invalid_field")
        rule = Rule(_time(item.get("paid_before"), f"{at}.paid_before"), days,
                    _time(item.get("ship_by_time"), f"{at}.ship_by_time"))
        rules.append((i, rule))
    rules.sort(key=lambda pair: pair[1].paid_before)
    check([r for _, r in rules], [i for i, _ in rules], field)
    return tuple(r for _, r in rules)


def check(rules: Sequence[Rule], positions: Sequence[int], field: str = "ship_promise") -> None:
    """Rules sorted by paid_before, with their positions in the body (for the field a refusal names)."""
    for n, rule in enumerate(rules):
        at = f"{field}[{positions[n]}]"
        if n and rule.paid_before == rules[n - 1].paid_before:
            raise DomainError(f"two rules for payments before {hhmm(rule.paid_before)}", field=f"{at}.paid_before",
                              code="duplicate_rule")
        if rule.ship_by_days == 0 and rule.ship_by_time < rule.paid_before:
            raise DomainError(f"{at}: a same-day rule cannot ship by {hhmm(rule.ship_by_time)}, before its cut-off "
                              f"{hhmm(rule.paid_before)}", field=f"{at}.ship_by_time", code="ships_before_payment")
        if n and rule.offset < rules[n - 1].offset:
            raise DomainError(f"{at}: paying later cannot ship earlier than the rule before it",
                              field=f"{at}.ship_by_time", code="promise_not_monotonic")
    if rules and rules[-1].offset > rules[0].offset + _DAY:
        at = f"{field}[{positions[-1]}]"
        raise DomainError(f"{at}: ships later than an order paid the next morning would",
                          field=f"{at}.ship_by_days", code="promise_not_monotonic")


def ship_by(promise: Promise, paid_at: datetime) -> datetime | None:
    """When an order paid at `paid_at` (aware) ships by under `promise`, in UTC; None without a promise."""
    if not promise:
        return None
    local = china_time(paid_at)
    day = datetime(local.year, local.month, local.day, tzinfo=CHINA)
    of_day = local.time().replace(tzinfo=None)
    rule = next((r for r in promise if of_day < r.paid_before), None)
    if rule is None:  # after the last cut-off: as if paid at the next day's start
        day, rule = day + _DAY, promise[0]
    return (day + rule.offset).astimezone(UTC)


def for_presale_fill(promise: Promise, current: datetime | None, filled_at: datetime) -> datetime | None:
    """A presale order's ship_by once its stock arrived: the promise read from the fill time, never earlier than
    what it had (`current`)."""
    fresh = ship_by(promise, filled_at)
    if fresh is None:
        return current
    return fresh if current is None or fresh > current else current


def as_json(promise: Promise) -> list[dict[str, Any]]:
    return [r.as_dict() for r in promise]
