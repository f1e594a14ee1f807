"""Community deals: a leader's exclusive price for buyers bound to them, while its quota lasts, and the pricing
of an order's lines (stock issue: community deals). Money is integer cents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from domain.errors import DomainError
from domain.stock import InvalidStockInput, require_count, require_quantity


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
        require_count(self.price_cents, "price_cents")
        require_count(self.quota, "quota")
        require_count(self.used, "used")
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
        require_count(self.qty, "qty", minimum=1)
        require_count(self.unit_price_cents, "unit_price_cents")

    @property
    def amount_cents(self) -> int:
        return self.qty * self.unit_price_cents


def _validate_items(items: Sequence[tuple[str, int]], prices: Mapping[str, int]) -> None:
    for index, (sku, qty) in enumerate(items):
        if sku not in prices:
            raise DomainError(f"unknown SKU {sku!r}", field=f"items[{index}].sku", code="unknown_sku")
        require_quantity(qty, index)


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
