"""Tiered stocking before the pulse (issue 13): every SKU of a room is a core hit, a new product or long tail.

The big-promo rule:
- **core** — a SKU whose peak (the most units of it sold in one past session: a room that ended before this room
  starts) reaches the room's `core_units` threshold is stocked at least at 1.5× that peak (more if the leaders'
  forecast, `domain.forecast`, says more).
- **new** — a SKU never sold in a past session gets a conservative first batch: the expected audience × a
  conservative conversion × the room's SKU count share (1 / number of SKUs), no safety factor; and a fast
  follow-up trigger: a sell rate (units per minute, all warehouses) above the first batch's plan, first batch /
  planned selling minutes, says "order more now".
- **long_tail** — sold before but under the threshold: the leaders' forecast, and never less than the room's
  `base_units`.

The audience is the participating leaders' (their history: visitors per session × conversion) and falls back to
the room's `expected_audience` when they have none, so a room of new leaders still gets a recommendation. Each
recommendation names its tier and its reason as a stable code with numbers (the screens translate).

Totals are split over warehouses like the forecast itself (by where the leaders' buyers live; evenly when
nothing is known). The leaders' forecast is rounded up once per (SKU, warehouse) as before; a floor or a first batch
is rounded up once and shared out by the largest remainder, so the warehouses add up to it exactly.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from fractions import Fraction
from typing import Any

from domain import forecast
from domain.errors import DomainError
from domain.forecast import BP, DEFAULT_SAFETY_MILLI, LeaderHistory, SkuHistory

CORE_FLOOR = Fraction(3, 2)  # core hits: at least 1.5× their historical peak
DEFAULT_CORE_UNITS = 200  # units in one session that make a SKU a core hit
DEFAULT_EXPECTED_AUDIENCE = 1_000  # visitors, when neither the leaders nor the room say
DEFAULT_CONVERSION_BP = 200  # 2% of the audience buys a new product: conservative
DEFAULT_BASE_UNITS = 20  # the long tail's base level
DEFAULT_SELLING_MINUTES = 120  # a room with no end planned sells for two hours
MAX_SELLING_MINUTES = 7 * 24 * 60


class Tier(StrEnum):
    CORE = "core"
    NEW = "new"
    LONG_TAIL = "long_tail"


def _whole(value: object, field_name: str, low: int, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise DomainError(f"{field_name} must be a whole number {bound}, got {value!r}", field=field_name)


@dataclass(frozen=True, slots=True)
class TierSettings:
    """A room's forecast settings (`PUT /rooms/{room}` `forecast`). `selling_minutes` None: the room's own length."""

    core_units: int = DEFAULT_CORE_UNITS
    expected_audience: int = DEFAULT_EXPECTED_AUDIENCE
    conversion_bp: int = DEFAULT_CONVERSION_BP
    base_units: int = DEFAULT_BASE_UNITS
    selling_minutes: int | None = None

    def __post_init__(self) -> None:
        _whole(self.core_units, "forecast.core_units", 1)
        _whole(self.expected_audience, "forecast.expected_audience", 0)
        _whole(self.conversion_bp, "forecast.conversion_bp", 0, BP)
        _whole(self.base_units, "forecast.base_units", 0)
        if self.selling_minutes is not None:
            _whole(self.selling_minutes, "forecast.selling_minutes", 1, MAX_SELLING_MINUTES)

    @classmethod
    def of(cls, given: Mapping[str, Any] | None) -> TierSettings:
        """From what a room stored (only the keys given); the rest are the defaults."""
        known = {"core_units", "expected_audience", "conversion_bp", "base_units", "selling_minutes"}
        return cls(**{k: v for k, v in (given or {}).items() if k in known and v is not None})

    def as_dict(self) -> dict[str, int | None]:
        return {"core_units": self.core_units, "expected_audience": self.expected_audience,
                "conversion_bp": self.conversion_bp, "base_units": self.base_units,
                "selling_minutes": self.selling_minutes}


def planned_minutes(settings: TierSettings, starts_at: datetime, ends_at: datetime | None) -> int:
    """Minutes the room plans to sell: the setting, else the room's length, else two hours."""
    if settings.selling_minutes is not None:
        return settings.selling_minutes
    if ends_at is not None and ends_at > starts_at:
        return min(MAX_SELLING_MINUTES, max(1, math.ceil((ends_at - starts_at).total_seconds() / 60)))
    return DEFAULT_SELLING_MINUTES


def tier_of(peak_units: int, core_units: int) -> Tier:
    """A SKU's tier from its peak in past sessions: never sold → new; reaching the threshold → core."""
    if peak_units <= 0:
        return Tier.NEW
    return Tier.CORE if peak_units >= core_units else Tier.LONG_TAIL


def core_floor(peak_units: int) -> int:
    return math.ceil(CORE_FLOOR * peak_units)


@dataclass(frozen=True, slots=True)
class SkuPlan:
    """One SKU's plan over all warehouses."""

    sku: str
    tier: Tier
    units: int  # the sum of its warehouses' recommendations
    peak_units: int
    reason: dict[str, Any]
    follow_up_per_min: float | None = None  # new products: reorder when the sell rate passes this
    warehouses: dict[str, int] = field(default_factory=dict)  # warehouse -> units (> 0 only)


@dataclass(frozen=True, slots=True)
class TieredForecast:
    audience: int
    audience_source: str  # "leaders" | "room"
    selling_minutes: int
    skus: tuple[SkuPlan, ...]


def has_history(leaders: Sequence[LeaderHistory]) -> bool:
    return any(leader.audience * leader.conversion_bp > 0 for leader in leaders)


def _room_leader(leaders: Sequence[LeaderHistory], settings: TierSettings) -> LeaderHistory:
    """The room as one leader: its expected audience and conversion, buyers where the leaders' buyers live."""
    provinces: dict[str, int] = defaultdict(int)
    for leader in leaders:
        for province, buyers in leader.buyer_provinces:
            provinces[province] += buyers
    return LeaderHistory("room", settings.expected_audience, settings.conversion_bp,
                         tuple(sorted(provinces.items())))


def _audience_shares(leaders: Sequence[LeaderHistory], sites: Sequence[tuple[str, str]]) -> dict[str, Fraction]:
    """Where the room's buyers are expected, weighted by each leader's expected orders; evenly when none."""
    weights = {leader.leader: leader.audience * leader.conversion_bp for leader in leaders}
    total = sum(weights.values())
    codes = sorted(code for code, _ in sites)
    if total == 0:
        return {code: Fraction(1, len(codes)) for code in codes}
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for leader in leaders:
        if weights[leader.leader]:
            for code, share in forecast.warehouse_shares(leader, sites).items():
                shares[code] += share * Fraction(weights[leader.leader], total)
    return dict(shares)


def _split(total: Fraction, shares: Mapping[str, Fraction]) -> dict[str, int]:
    """`total` rounded up once, then shared out by the largest remainder (ties to the lower code): the warehouses
    add up to exactly that whole number, never a phantom unit per warehouse."""
    whole = math.ceil(total)
    exact = {code: whole * share for code, share in shares.items()}
    split = {code: math.floor(units) for code, units in exact.items()}
    left = whole - sum(split.values())
    for code in sorted(exact, key=lambda c: (-(exact[c] - split[c]), c))[:left]:
        split[code] += 1
    return {code: units for code, units in sorted(split.items()) if units > 0}


def plan(
    leaders: Sequence[LeaderHistory],
    skus: Sequence[SkuHistory],
    peaks: Mapping[str, int],  # sku -> most units sold in one past session (absent: never sold)
    warehouse_sites: Sequence[tuple[str, str]],
    settings: TierSettings,
    selling_minutes: int = DEFAULT_SELLING_MINUTES,
    safety_milli: int = DEFAULT_SAFETY_MILLI,
) -> TieredForecast:
    """The room's tiered pre-stock plan, SKUs in the order given (see the module's rules)."""
    _whole(selling_minutes, "selling_minutes", 1)
    forecast.recommend([], skus, warehouse_sites, safety_milli)  # the forecast's own checks (sites, SKUs, safety)
    from_leaders = has_history(leaders)
    basis = list(leaders) if from_leaders else [_room_leader(leaders, settings)]
    demand = forecast.demand(basis, skus, warehouse_sites, safety_milli)
    audience = sum(leader.audience for leader in leaders) if from_leaders else settings.expected_audience
    shares = _audience_shares(basis, warehouse_sites)
    plans = []
    for sku in skus:
        peak = max(0, peaks.get(sku.sku, 0))
        tier = tier_of(peak, settings.core_units)
        mine = {code: units for (name, code), units in demand.items() if name == sku.sku and units > 0}
        expected = sum(mine.values(), Fraction(0))
        if tier is Tier.NEW:
            plans.append(_new(sku.sku, audience, settings, len(skus), shares, selling_minutes))
            continue
        floor = core_floor(peak) if tier is Tier.CORE else settings.base_units
        if expected >= floor:
            warehouses = {code: math.ceil(units) for code, units in sorted(mine.items())}
            code = "core_forecast" if tier is Tier.CORE else "long_tail_forecast"
        else:
            total_share = sum(mine.values(), Fraction(0))
            split_by = {c: u / total_share for c, u in mine.items()} if total_share else shares
            warehouses = _split(Fraction(floor), split_by)
            code = "core_peak_x1.5" if tier is Tier.CORE else "long_tail_base"
        reason: dict[str, Any] = {"code": code, "peak_units": peak, "forecast_units": math.ceil(expected)}
        reason["floor_units" if tier is Tier.CORE else "base_units"] = floor
        plans.append(SkuPlan(sku.sku, tier, sum(warehouses.values()), peak, reason, None, warehouses))
    return TieredForecast(audience, "leaders" if from_leaders else "room", selling_minutes, tuple(plans))


def _new(sku: str, audience: int, settings: TierSettings, sku_count: int, shares: Mapping[str, Fraction],
         selling_minutes: int) -> SkuPlan:
    batch = Fraction(audience * settings.conversion_bp, BP * max(sku_count, 1))
    warehouses = _split(batch, shares)
    units = sum(warehouses.values())
    reason = {"code": "new_first_batch", "audience": audience, "conversion_bp": settings.conversion_bp,
              "sku_count": sku_count, "first_batch_units": units, "selling_minutes": selling_minutes}
    return SkuPlan(sku, Tier.NEW, units, 0, reason, follow_up_rate(units, selling_minutes), warehouses)


def follow_up_rate(first_batch: int, selling_minutes: int) -> float:
    """The first batch's planned sell rate (units per minute, 2 decimals): selling faster than this, reorder."""
    return round(first_batch / max(selling_minutes, 1), 2)


def follow_up_fires(rate_per_min: float, follow_up_per_min: float | None) -> bool:
    """A new product's fast follow-up trigger: its current sell rate is above its first batch's plan."""
    return follow_up_per_min is not None and rate_per_min > follow_up_per_min
