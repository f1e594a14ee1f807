"""Stock per SKU × warehouse: reservation without oversell, community deals, alert levels and presale.

Source: the stock issue ("Stock per SKU × warehouse ... no oversell under any interleaving") and DESIGN.md,
"Scale": stock must never oversell. Every function here returns new values; the service writes them with a
conditional update so that two writers cannot both take the last unit.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from domain.errors import Conflict, DomainError, SoldOut

Key = tuple[str, str]  # (sku, warehouse)

DEFAULT_RATE_WINDOW = timedelta(minutes=5)


class InvalidStockInput(DomainError, ValueError):
    """A value the stock rules cannot hold (a negative count, a naive time).

    It is a ValueError for code that builds values directly and a DomainError with a `field` for the service,
    which answers 422 naming that field.
    """


def _require_whole(value: int, field: str) -> None:
    # bool is an int in Python, but True units of stock is a bug upstream, not a count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidStockInput(f"{field} must be a whole number, got {value!r}", field=field)


def _require_count(value: int, field: str, *, minimum: int = 0) -> None:
    _require_whole(value, field)
    if value < minimum:
        raise InvalidStockInput(f"{field} must be at least {minimum}, got {value}", field=field)


def _require_aware(at: datetime, field: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise InvalidStockInput(f"{field} must be a timezone-aware UTC time, got a naive {at!r}", field=field)


# --- stock levels


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Units of one SKU in one warehouse: on hand, reserved by unshipped orders, and what is left to sell."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int = 0

    def __post_init__(self) -> None:
        _require_count(self.on_hand, "on_hand")
        _require_count(self.reserved, "reserved")
        if self.reserved > self.on_hand:
            detail = f"SKU {self.sku} in {self.warehouse}: reserved {self.reserved} > on hand {self.on_hand}"
            raise InvalidStockInput(detail, field="reserved")

    @property
    def key(self) -> Key:
        return (self.sku, self.warehouse)

    @property
    def available(self) -> int:
        """available = on_hand − reserved; never below zero because reserved never exceeds on_hand."""
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class Allocation:
    """Units of one order line taken from one warehouse (routing decides the warehouse)."""

    sku: str
    warehouse: str
    qty: int

    def __post_init__(self) -> None:
        _require_count(self.qty, "qty", minimum=1)


# (the level as loaded, units of its key asked so far in this call, index of the allocation) -> the new level
_Step = Callable[[StockLevel, int, int], StockLevel]


def _level_for(levels: Mapping[Key, StockLevel], key: Key, index: int) -> StockLevel:
    level = levels.get(key)
    if level is None:
        raise DomainError(
            f"no stock row for SKU {key[0]} in warehouse {key[1]}",
            field=f"allocations[{index}].warehouse",
            code="unknown_stock",
        )
    if level.key != key:
        raise InvalidStockInput(f"stock row of {level.key} is filed under {key}", field="levels")
    return level


def _apply(
    levels: Mapping[Key, StockLevel], allocations: Sequence[Allocation], step: _Step
) -> dict[Key, StockLevel]:
    # Each step starts from the level as loaded with the running total of its key, so duplicates add up and a
    # refusal anywhere raises before anything is returned: all or nothing by construction.
    asked: dict[Key, int] = {}
    changed: dict[Key, StockLevel] = {}
    for index, allocation in enumerate(allocations):
        key = (allocation.sku, allocation.warehouse)
        level = _level_for(levels, key, index)
        asked[key] = asked.get(key, 0) + allocation.qty
        changed[key] = step(level, asked[key], index)
    return changed


def _reserve_step(level: StockLevel, units: int, index: int) -> StockLevel:
    if units > level.available:
        raise SoldOut(
            level.sku, field=f"allocations[{index}].qty", requested=units, available=level.available
        )
    return replace(level, reserved=level.reserved + units)


def _require_reserved(level: StockLevel, units: int, index: int, action: str) -> None:
    if units > level.reserved:
        detail = f"cannot {action} {units} of SKU {level.sku} in {level.warehouse}: {level.reserved} reserved"
        raise Conflict(detail, field=f"allocations[{index}].qty", code="exceeds_reserved")


def _release_step(level: StockLevel, units: int, index: int) -> StockLevel:
    _require_reserved(level, units, index, "release")
    return replace(level, reserved=level.reserved - units)


def _ship_step(level: StockLevel, units: int, index: int) -> StockLevel:
    _require_reserved(level, units, index, "ship")
    return replace(level, on_hand=level.on_hand - units, reserved=level.reserved - units)


def reserve(levels: Mapping[Key, StockLevel], allocations: Sequence[Allocation]) -> dict[Key, StockLevel]:
    """Reserve every allocation of an order, or none: an order never holds part of its lines (stock issue).

    Allocations of the same key add up. The first allocation whose running total for its key exceeds what is
    available raises SoldOut (requested = that running total); a key with no stock row raises
    DomainError(code="unknown_stock"). Returns only the levels that changed.
    """
    return _apply(levels, allocations, _reserve_step)


def release(levels: Mapping[Key, StockLevel], allocations: Sequence[Allocation]) -> dict[Key, StockLevel]:
    """Cancel returns the reserved units to available (stock issue); all or nothing.

    Releasing more than is reserved is refused with Conflict(code="exceeds_reserved"): it means the order was
    already cancelled or shipped, and stock must not appear from nowhere.
    """
    return _apply(levels, allocations, _release_step)


def ship(levels: Mapping[Key, StockLevel], allocations: Sequence[Allocation]) -> dict[Key, StockLevel]:
    """A parcel leaving the warehouse takes its units out of on_hand and out of reserved; all or nothing.

    Only reserved units can ship (Conflict(code="exceeds_reserved") otherwise), so available does not move.
    """
    return _apply(levels, allocations, _ship_step)


def _recount(level: StockLevel, on_hand: int, field: str) -> StockLevel:
    if on_hand < level.reserved:
        detail = f"SKU {level.sku} in {level.warehouse}: {on_hand} on hand is below {level.reserved} reserved"
        raise DomainError(detail, field=field, code="below_reserved")
    return replace(level, on_hand=on_hand)


def set_on_hand(level: StockLevel, on_hand: int) -> StockLevel:
    """A stock count sets on_hand; it may not fall below what unshipped orders already hold (stock issue)."""
    _require_count(on_hand, "on_hand")
    return _recount(level, on_hand, "on_hand")


def adjust(level: StockLevel, delta: int) -> StockLevel:
    """Replenishment (+) or shrinkage (−) moves on_hand; it may not fall below what is reserved (stock issue).

    The alert is a function of available units, so replenishment clears it by raising available.
    """
    _require_whole(delta, "delta")
    return _recount(level, level.on_hand + delta, "delta")


def total_available(levels: Iterable[StockLevel]) -> dict[str, int]:
    """Available units per SKU over all the warehouses given (what a buyer can order of it)."""
    totals: dict[str, int] = {}
    for level in levels:
        totals[level.sku] = totals.get(level.sku, 0) + level.available
    return totals


# --- alerts


class AlertLevel(enum.StrEnum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"
    SOLD_OUT = "sold_out"
    PRESALE = "presale"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds of the host's stock-alert screen, per SKU."""

    low_stock_units: int = 20
    low_minutes: int = 10
    critical_minutes: int = 2
    presale_when_sold_out: bool = False

    def __post_init__(self) -> None:
        _require_count(self.low_stock_units, "low_stock_units")
        _require_count(self.low_minutes, "low_minutes")
        _require_count(self.critical_minutes, "critical_minutes")
        if self.critical_minutes > self.low_minutes:
            detail = f"critical_minutes {self.critical_minutes} exceeds low_minutes {self.low_minutes}"
            raise InvalidStockInput(detail, field="critical_minutes")


@dataclass(frozen=True, slots=True)
class Sale:
    """Units of a SKU sold at one moment (feeds the sell rate)."""

    at: datetime
    units: int

    def __post_init__(self) -> None:
        _require_aware(self.at, "at")
        _require_count(self.units, "units", minimum=1)


def sell_rate(sales: Sequence[Sale], now: datetime, window: timedelta = DEFAULT_RATE_WINDOW) -> float:
    """Units sold per minute over the sliding window (now − window, now] (stock issue: sell rate).

    A sale exactly `window` ago has left the window; a sale after `now` has not happened yet.
    """
    _require_aware(now, "now")
    if window <= timedelta(0):
        raise InvalidStockInput(f"window must be positive, got {window}", field="window")
    start = now - window
    units = sum(sale.units for sale in sales if start < sale.at <= now)
    return units / (window / timedelta(minutes=1))


def minutes_to_sellout(available: int, rate_per_min: float) -> float | None:
    """Minutes until the available units are gone at the current rate; None when nothing is selling."""
    _require_count(available, "available")
    if not math.isfinite(rate_per_min) or rate_per_min < 0:
        raise InvalidStockInput(
            f"rate_per_min must be a finite non-negative number, got {rate_per_min}", field="rate_per_min"
        )
    if rate_per_min == 0:
        return None
    return available / rate_per_min


def _under(minutes: float | None, limit: int) -> bool:
    return minutes is not None and minutes < limit


def alert_level(available: int, rate_per_min: float, policy: AlertPolicy) -> AlertLevel:
    """Alert level of a SKU (stock issue).

    `sold_out` at zero available, or `presale` when the SKU takes presale orders; `critical` under
    `critical_minutes` to sell-out; `low` below `low_stock_units` or under `low_minutes` to sell-out;
    otherwise `ok`. Thresholds are strict: exactly 10 minutes or exactly 20 units left is not low.
    """
    minutes = minutes_to_sellout(available, rate_per_min)
    if available == 0:
        return AlertLevel.PRESALE if policy.presale_when_sold_out else AlertLevel.SOLD_OUT
    if _under(minutes, policy.critical_minutes):
        return AlertLevel.CRITICAL
    if available < policy.low_stock_units or _under(minutes, policy.low_minutes):
        return AlertLevel.LOW
    return AlertLevel.OK


@dataclass(frozen=True, slots=True)
class SkuAlert:
    """One row of the host's stock-alert screen."""

    sku: str
    available: int
    rate_per_min: float
    minutes_to_sellout: float | None
    level: AlertLevel


def sku_alert(
    sku: str, levels: Iterable[StockLevel], sales: Sequence[Sale], now: datetime, policy: AlertPolicy
) -> SkuAlert:
    """The alert row of a SKU from its available units over all warehouses and its sell rate over the
    default window (stock issue). Levels of other SKUs are ignored, so a caller may pass a whole room's
    levels; `sales` must be this SKU's sales.
    """
    available = total_available(levels).get(sku, 0)
    rate = sell_rate(sales, now)
    return SkuAlert(
        sku=sku,
        available=available,
        rate_per_min=rate,
        minutes_to_sellout=minutes_to_sellout(available, rate),
        level=alert_level(available, rate, policy),
    )


# --- community deals


@dataclass(frozen=True, slots=True)
class Deal:
    """A community-exclusive price: buyers bound to `leader` pay `price_cents` for the first `quota` units."""

    room: str
    sku: str
    leader: str
    price_cents: int
    quota: int
    used: int = 0

    def __post_init__(self) -> None:
        _require_count(self.price_cents, "price_cents")
        _require_count(self.quota, "quota")
        _require_count(self.used, "used")
        if self.used > self.quota:
            raise InvalidStockInput(
                f"deal on {self.sku} used {self.used} of a quota of {self.quota}", field="used"
            )

    @property
    def remaining(self) -> int:
        return self.quota - self.used


@dataclass(frozen=True, slots=True)
class PricedLine:
    """Part of an order line at one unit price; `deal_leader` names the leader whose deal priced it."""

    sku: str
    qty: int
    unit_price_cents: int
    deal_leader: str | None

    def __post_init__(self) -> None:
        _require_count(self.qty, "qty", minimum=1)
        _require_count(self.unit_price_cents, "unit_price_cents")

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_price_cents


def _require_quantity(qty: int, index: int) -> None:
    _require_count(qty, f"items[{index}].qty", minimum=1)


def _validate_items(items: Sequence[tuple[str, int]], prices: Mapping[str, int]) -> None:
    for index, (sku, qty) in enumerate(items):
        if sku not in prices:
            raise DomainError(f"unknown SKU {sku!r}", field=f"items[{index}].sku", code="unknown_sku")
        _require_quantity(qty, index)


def _deal_part(deal: Deal | None, bound_leader: str | None, qty: int) -> tuple[PricedLine, Deal] | None:
    if deal is None or bound_leader is None or deal.leader != bound_leader or deal.remaining == 0:
        return None
    units = min(qty, deal.remaining)
    return PricedLine(deal.sku, units, deal.price_cents, deal.leader), replace(deal, used=deal.used + units)


def _price_item(
    sku: str, qty: int, normal_price_cents: int, deal: Deal | None, bound_leader: str | None
) -> tuple[list[PricedLine], Deal | None]:
    part = _deal_part(deal, bound_leader, qty)
    if part is None:
        return [PricedLine(sku, qty, normal_price_cents, None)], None
    deal_line, used_deal = part
    if deal_line.qty == qty:
        return [deal_line], used_deal
    return [deal_line, PricedLine(sku, qty - deal_line.qty, normal_price_cents, None)], used_deal


def _check_deal_keys(deals: Mapping[str, Deal]) -> None:
    for sku, deal in deals.items():
        if deal.sku != sku:
            raise InvalidStockInput(f"deal for SKU {deal.sku} is filed under {sku}", field="deals")


def price_order(
    items: Sequence[tuple[str, int]],
    prices: Mapping[str, int],
    deals: Mapping[str, Deal],
    bound_leader: str | None,
) -> tuple[tuple[PricedLine, ...], dict[str, Deal]]:
    """Price an order's lines (stock issue: community deals).

    A community deal serves only buyers bound to its leader and only while its quota lasts; then the
    normal price applies. So a line splits into a deal part (up to the remaining quota) and a normal-price
    part, and a SKU ordered on two lines draws on one quota. `deals` is keyed by SKU. Returns the priced
    lines, in item order with the deal part first, and the deals whose `used` changed.
    """
    _validate_items(items, prices)
    _check_deal_keys(deals)
    lines: list[PricedLine] = []
    changed: dict[str, Deal] = {}
    for sku, qty in items:
        item_lines, deal = _price_item(sku, qty, prices[sku], changed.get(sku, deals.get(sku)), bound_leader)
        lines.extend(item_lines)
        if deal is not None:
            changed[sku] = deal
    return tuple(lines), changed


def order_total_cents(lines: Iterable[PricedLine]) -> int:
    """What the buyer pays: the sum of the priced lines, in integer cents."""
    return sum(line.amount_cents for line in lines)


# --- presale


@dataclass(frozen=True, slots=True)
class Backorder:
    """A presale line waiting for replenishment: taken whole while the SKU was sold out."""

    order: str
    sku: str
    qty: int
    at: datetime

    def __post_init__(self) -> None:
        _require_count(self.qty, "qty", minimum=1)
        _require_aware(self.at, "at")


def presale_lines(
    items: Sequence[tuple[str, int]], available_by_sku: Mapping[str, int], presale_skus: Collection[str]
) -> tuple[str, ...]:
    """The SKUs of an order whose lines go to presale (stock issue: sold out with `presale_when_sold_out`).

    Presale is whole-line: when an order's units of a SKU (its lines added up) exceed what is available
    and the SKU takes presale, all its lines become backorders, none is split. Without presale the first
    line whose running total does not fit raises SoldOut(field="items[i].sku"). A SKU missing from
    `available_by_sku` has none available. The answer keeps the order of first appearance.
    """
    for index, (_, qty) in enumerate(items):
        _require_quantity(qty, index)
    asked: dict[str, int] = {}
    presale: dict[str, None] = {}  # an ordered set
    for index, (sku, qty) in enumerate(items):
        asked[sku] = asked.get(sku, 0) + qty
        available = available_by_sku.get(sku, 0)
        if asked[sku] <= available:
            continue
        if sku not in presale_skus:
            raise SoldOut(sku, field=f"items[{index}].sku", requested=asked[sku], available=available)
        presale[sku] = None
    return tuple(presale)


def _fullest_warehouse(levels: Iterable[StockLevel], sku: str) -> StockLevel | None:
    return min(
        (level for level in levels if level.sku == sku),
        key=lambda lv: (-lv.available, lv.warehouse),
        default=None,
    )


def fill_backorders(
    levels: Mapping[Key, StockLevel], backorders: Sequence[Backorder]
) -> tuple[tuple[tuple[Backorder, Allocation], ...], dict[Key, StockLevel]]:
    """On replenishment, serve presale lines first-in first-out by time, then order id (stock issue).

    Each backorder is reserved whole from one warehouse, the one with the most available (ties by
    warehouse code). FIFO is strict per SKU: a backorder that cannot be filled stops the later ones of its
    SKU, so a small late order never overtakes a large early one; other SKUs go on. Pass only the levels
    of warehouses that can ship. Returns what was filled, in serving order, and the levels it reserved.
    """
    current = dict(levels)
    changed: dict[Key, StockLevel] = {}
    filled: list[tuple[Backorder, Allocation]] = []
    waiting: set[str] = set()
    for backorder in sorted(backorders, key=lambda b: (b.at, b.order)):
        level = None if backorder.sku in waiting else _fullest_warehouse(current.values(), backorder.sku)
        if level is None or level.available < backorder.qty:
            waiting.add(backorder.sku)
            continue
        allocation = Allocation(level.sku, level.warehouse, backorder.qty)
        reserved = reserve(current, [allocation])
        current.update(reserved)
        changed.update(reserved)
        filled.append((backorder, allocation))
    return tuple(filled), changed
