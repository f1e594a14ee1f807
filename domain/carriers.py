"""Carrier capacity as operations sees it (issue 13, "Carrier capacity and dynamic allocation").

Allocation itself is routing's (`routing.choose_carrier`: shares while every carrier has room, overflow to the
most room left); here are the figures the ops wall and `GET /api/v1/carriers` show beside it:
- how full a carrier is today: used / daily capacity, "ok" below 80%, "amber" from 80%, "red" from 95%;
- its exception rate: parcels in `problem` or `returned`, plus parcels flagged stuck, over its parcels not
  cancelled, over all days (not today only: a night's exceptions surface the day after, when today's parcels
  have not moved yet). A parcel both in problem and stuck counts twice; the rate is capped at 1.
"""

from __future__ import annotations

from enum import StrEnum

from domain import geo
from domain.errors import DomainError

AMBER_AT_BP = 8_000  # 80% of the day's capacity
RED_AT_BP = 9_500  # 95%
MAX_CAPACITY = 10_000_000  # parcels a day: far above any carrier, keeps sums and bars sane


class Load(StrEnum):
    OK = "ok"
    AMBER = "amber"
    RED = "red"


def used_bp(used: int, capacity: int | None) -> int | None:
    """Used share of today's capacity in basis points (may pass 10,000 when capacity was lowered below use);
    None for a carrier without a capacity. A capacity of 0 is full at once."""
    if capacity is None:
        return None
    if capacity <= 0:
        return 10_000
    return used * 10_000 // capacity


def load_level(used: int, capacity: int | None) -> Load:
    """The colour of a carrier's bar: amber from 80% of its daily capacity, red from 95%."""
    bp = used_bp(used, capacity)
    if bp is None or bp < AMBER_AT_BP:
        return Load.OK
    return Load.RED if bp >= RED_AT_BP else Load.AMBER


def exception_rate(parcels: int, problem: int, returned: int, stuck: int) -> float:
    """Problem, returned and stuck parcels over parcels (see the module's definition), 0 when it has none,
    rounded to four places."""
    if parcels <= 0:
        return 0.0
    return round(min(problem + returned + stuck, parcels) / parcels, 4)


def covered_provinces(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The provinces a carrier covers best, each as its short name ("广东省" → "广东"), in the order given and
    without repeats; an unknown province is refused naming it (`provinces[i]`)."""
    seen: dict[str, None] = {}
    for i, name in enumerate(names):
        found = geo.province(name) if isinstance(name, str) else None
        if found is None:
            raise DomainError(f"unknown province {name!r}", field=f"provinces[{i}]", code="unknown_province")
        seen.setdefault(found.short, None)
    return tuple(seen)
