"""Pre-stock forecast: how many units of each SKU to put in each warehouse before a live session.

Forecast issue: "recommended stock per SKU and warehouse = participating leaders × each leader's historical
conversion × average units per order × safety factor (default 1.2), split by where the leaders' buyers live."
Everything is computed exactly with fractions and rounded up once per (SKU, warehouse) at the end, so that
many small shares never round into phantom units and the recommendation never falls short of the forecast.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeGuard

from domain import geo
from domain.errors import DomainError

BP = 10_000  # basis points in one
MILLI = 1_000  # thousandths in one
DEFAULT_SAFETY_MILLI = 1_200


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _require_count(value: object, field: str) -> None:
    if not _is_int(value) or value < 0:
        raise DomainError(f"{field} must be a whole number >= 0, got {value!r}", field=field)


def _require_bp(value: object, field: str) -> None:
    if not _is_int(value) or not 0 <= value <= BP:
        raise DomainError(f"{field} must be basis points between 0 and {BP}, got {value!r}", field=field)


def _require_name(value: object, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DomainError(f"{field} must be a non-empty name, got {value!r}", field=field)


@dataclass(frozen=True, slots=True)
class LeaderHistory:
    """A leader's track record: visitors brought to a session, orders per visitor, and where the buyers live
    (province as written → buyers seen there, used as weights)."""

    leader: str
    audience: int
    conversion_bp: int
    buyer_provinces: tuple[tuple[str, int], ...]

    def __post_init__(self) -> None:
        _require_name(self.leader, "leader")
        _require_count(self.audience, "audience")
        _require_bp(self.conversion_bp, "conversion_bp")
        for i, entry in enumerate(self.buyer_provinces):
            if not isinstance(entry, tuple) or len(entry) != 2:
                raise DomainError(
                    f"buyer_provinces[{i}] must be a (province, buyers) pair", field=f"buyer_provinces[{i}]"
                )
            _require_name(entry[0], f"buyer_provinces[{i}].province")
            _require_count(entry[1], f"buyer_provinces[{i}].buyers")


@dataclass(frozen=True, slots=True)
class SkuHistory:
    """A SKU's track record: average units per order that contains it (×1000) and its share of orders."""

    sku: str
    units_per_order_milli: int
    share_bp: int

    def __post_init__(self) -> None:
        _require_name(self.sku, "sku")
        _require_count(self.units_per_order_milli, "units_per_order_milli")
        _require_bp(self.share_bp, "share_bp")


@dataclass(frozen=True, slots=True)
class Recommendation:
    sku: str
    warehouse: str
    units: int


@dataclass(frozen=True, slots=True)
class _Site:
    code: str
    point: geo.Point


def expected_units(
    leader: LeaderHistory, sku: SkuHistory, safety_milli: int = DEFAULT_SAFETY_MILLI
) -> Fraction:
    """Units of `sku` one leader's audience is expected to buy, safety included, exactly (forecast issue):
    audience × conversion × share of orders with the SKU × units per such order × safety factor."""
    numerator = (
        leader.audience * leader.conversion_bp * sku.share_bp * sku.units_per_order_milli * safety_milli
    )
    return Fraction(numerator, BP * BP * MILLI * MILLI)


def _sites(warehouse_sites: Sequence[tuple[str, str]]) -> tuple[_Site, ...]:
    if not warehouse_sites:
        raise DomainError("a forecast needs at least one warehouse to stock", field="warehouse_sites")
    sites: dict[str, _Site] = {}
    for i, (code, province) in enumerate(warehouse_sites):
        _require_name(code, f"warehouse_sites[{i}].code")
        point = geo.locate(province)
        if point is None:
            raise DomainError(
                f"warehouse {code} is in unknown province {province!r}",
                field=f"warehouse_sites[{i}].province",
                code="unknown_province",
            )
        if code in sites:
            raise DomainError(f"warehouse {code} is listed twice", field=f"warehouse_sites[{i}].code")
        sites[code] = _Site(code, point)
    return tuple(sorted(sites.values(), key=lambda site: site.code))


def _require_unique(names: Sequence[str], field: str, attribute: str) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            raise DomainError(f"{name} is listed twice", field=f"{field}[{i}]{attribute}")
        seen.add(name)


def _nearest(point: geo.Point, sites: tuple[_Site, ...]) -> str:
    # Whole metres, so that two warehouses in one province tie exactly and the code decides.
    return min(sites, key=lambda site: (round(geo.distance_km(point, site.point) * 1000), site.code)).code


def warehouse_shares(leader: LeaderHistory, sites: Sequence[tuple[str, str]]) -> dict[str, Fraction]:
    """How a leader's demand splits across warehouses (forecast issue: "split by where the leaders' buyers
    live"): each buyer province's weight goes to the warehouse nearest to it (great-circle distance between
    province capitals, ties to the lower warehouse code). Weight we cannot place, a province nobody knows or a
    leader with no buyer history yet, is spread evenly over all warehouses. The shares add up to exactly 1."""
    ordered = _sites(sites)
    total = sum(buyers for _, buyers in leader.buyer_provinces)
    if total == 0:
        return {site.code: Fraction(1, len(ordered)) for site in ordered}
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for province, buyers in leader.buyer_provinces:
        if buyers == 0:
            continue
        _add_province_share(shares, geo.locate(province), Fraction(buyers, total), ordered)
    return dict(shares)


def _add_province_share(
    shares: dict[str, Fraction], point: geo.Point | None, share: Fraction, sites: tuple[_Site, ...]
) -> None:
    if point is not None:
        shares[_nearest(point, sites)] += share
        return
    for site in sites:
        shares[site.code] += share / len(sites)


def demand(
    leaders: Sequence[LeaderHistory],
    skus: Sequence[SkuHistory],
    sites: Sequence[tuple[str, str]],
    safety_milli: int,
) -> Mapping[tuple[str, str], Fraction]:
    """Expected units per (SKU, warehouse), exactly: each leader's `expected_units` split by `warehouse_shares`."""
    needed: dict[tuple[str, str], Fraction] = defaultdict(Fraction)
    for leader in leaders:
        shares = warehouse_shares(leader, sites)
        for sku in skus:
            units = expected_units(leader, sku, safety_milli)
            for warehouse, share in shares.items():
                needed[(sku.sku, warehouse)] += units * share
    return needed


def recommend(
    leaders: Sequence[LeaderHistory],
    skus: Sequence[SkuHistory],
    warehouse_sites: Sequence[tuple[str, str]],  # (warehouse code, province)
    safety_milli: int = DEFAULT_SAFETY_MILLI,
) -> tuple[Recommendation, ...]:
    """Recommended pre-stock per SKU and warehouse (forecast issue).

    Sum over the participating leaders of `expected_units`, split by `warehouse_shares`, rounded up once per
    (SKU, warehouse). Pairs with nothing to stock are left out; the answer lists SKUs in the order given and,
    within a SKU, warehouses by code. A safety factor below 1 (1000 milli) is refused: it would plan a
    shortage.
    """
    if not _is_int(safety_milli) or safety_milli < MILLI:
        raise DomainError(
            f"safety_milli must be a whole number >= {MILLI}, got {safety_milli!r}", field="safety_milli"
        )
    ordered = _sites(warehouse_sites)
    _require_unique([leader.leader for leader in leaders], "leaders", ".leader")
    _require_unique([sku.sku for sku in skus], "skus", ".sku")
    needed = demand(leaders, skus, warehouse_sites, safety_milli)
    return tuple(
        Recommendation(sku.sku, site.code, math.ceil(needed[(sku.sku, site.code)]))
        for sku in skus
        for site in ordered
        if needed.get((sku.sku, site.code), 0) > 0
    )
