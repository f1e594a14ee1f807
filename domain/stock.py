"""Stock per SKU × warehouse: reservation without oversell, and presale.

Alert levels and the sell rate are in domain.stock_alerts, community deal pricing in domain.deals.

Source: the stock issue ("Stock per SKU × warehouse ... no oversell under any interleaving") and DESIGN.md,
"Scale": stock must never oversell. Every function here returns new values; the service writes them with a
conditional update so that two writers cannot both take the last unit.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import Conflict, DomainError, SoldOut
from domain.times import require_aware

Key = tuple[str, str]  # (sku, warehouse)


class InvalidStockInput(DomainError, ValueError):
    """A value the stock rules cannot hold (a negative count, a naive time).

    It is a ValueError for code that builds values directly and a DomainError with a `field` for the service,
    which answers 422 naming that field.
    """


def _require_whole(value: int, field: str) -> None:
    # bool is an int in Python, but True units of stock is a bug upstream, not a count.
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidStockInput(f"{field} must be a whole number, got {value!r}", field=field)


def require_count(value: int, field: str, *, minimum: int = 0) -> None:
    _require_whole(value, field)
    if value < minimum:
        raise InvalidStockInput(f"{field} must be at least {minimum}, got {value}", field=field)


def require_quantity(qty: int, index: int) -> None:
    require_count(qty, f"items[{index}].qty", minimum=1)


# --- stock levels


@dataclass(frozen=True, slots=True)
class StockLevel:
    """Units of one SKU in one warehouse: on hand, reserved by unshipped orders, and what is left to sell."""

    sku: str
    warehouse: str
    on_hand: int
    reserved: int = 0

    def __post_init__(self) -> None:
        require_count(self.on_hand, "on_hand")
        require_count(self.reserved, "reserved")
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
        require_count(self.qty, "qty", minimum=1)


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
    require_count(on_hand, "on_hand")
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


# --- presale


@dataclass(frozen=True, slots=True)
class Backorder:
    """A presale line waiting for replenishment: taken whole while the SKU was sold out."""

    order: str
    sku: str
    qty: int
    at: datetime

    def __post_init__(self) -> None:
        require_count(self.qty, "qty", minimum=1)
        require_aware(self.at, "at")


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
        require_quantity(qty, index)
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
