"""Community deals: a leader's price for bound buyers while its quota lasts, and order pricing."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.deals import Deal, PricedLine, order_total_cents, price_order
from domain.errors import DomainError

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
NAIVE = datetime(2026, 11, 23, 20, 0)


# --- community deals

PRICES = {"a": 9_900, "b": 4_500}


def deal(quota: int = 3, used: int = 0, leader: str = "L1", sku: str = "a") -> Deal:
    return Deal(room="r1", sku=sku, leader=leader, price_cents=6_900, quota=quota, used=used)


def test_bound_buyer_gets_the_deal_price_until_the_quota_then_the_normal_price() -> None:
    lines, used = price_order([("a", 5)], PRICES, {"a": deal(quota=3, used=1)}, bound_leader="L1")
    assert lines == (PricedLine("a", 2, 6_900, "L1"), PricedLine("a", 3, 9_900, None))
    assert used == {"a": deal(quota=3, used=3)}
    assert order_total_cents(lines) == 2 * 6_900 + 3 * 9_900


def test_buyer_bound_to_another_leader_pays_the_normal_price() -> None:
    lines, used = price_order([("a", 2)], PRICES, {"a": deal(leader="L1")}, bound_leader="L2")
    assert lines == (PricedLine("a", 2, 9_900, None),)
    assert used == {}


def test_unbound_buyer_pays_the_normal_price() -> None:
    lines, used = price_order([("a", 1)], PRICES, {"a": deal()}, bound_leader=None)
    assert lines == (PricedLine("a", 1, 9_900, None),)
    assert used == {}


def test_exhausted_deal_leaves_the_normal_price() -> None:
    lines, used = price_order([("a", 1)], PRICES, {"a": deal(quota=2, used=2)}, bound_leader="L1")
    assert lines == (PricedLine("a", 1, 9_900, None),)
    assert used == {}


def test_same_sku_on_two_lines_draws_on_one_quota() -> None:
    lines, used = price_order([("a", 2), ("b", 1), ("a", 2)], PRICES, {"a": deal(quota=3)}, "L1")
    assert lines == (
        PricedLine("a", 2, 6_900, "L1"),
        PricedLine("b", 1, 4_500, None),
        PricedLine("a", 1, 6_900, "L1"),
        PricedLine("a", 1, 9_900, None),
    )
    assert used["a"].remaining == 0


def test_unknown_sku_is_refused_naming_its_line() -> None:
    with pytest.raises(DomainError) as caught:
        price_order([("a", 1), ("zz", 1)], PRICES, {}, None)
    assert (caught.value.code, caught.value.field) == ("unknown_sku", "items[1].sku")


@pytest.mark.parametrize("qty", [0, -2])
def test_quantity_below_one_is_refused_naming_its_line(qty: int) -> None:
    with pytest.raises(DomainError) as caught:
        price_order([("b", 1), ("a", qty)], PRICES, {}, None)
    assert caught.value.field == "items[1].qty"


def test_deal_cannot_be_used_beyond_its_quota() -> None:
    with pytest.raises(ValueError):
        deal(quota=2, used=3)


@given(
    items=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(1, 9)), min_size=1, max_size=6),
    quota=st.integers(0, 12),
    used=st.integers(0, 12),
    bound=st.sampled_from(["L1", "L2", None]),
)
def test_pricing_conserves_units_and_never_exceeds_the_quota(
    items: list[tuple[str, int]], quota: int, used: int, bound: str | None
) -> None:
    deals = {"a": deal(quota=max(quota, used), used=used)}
    lines, changed = price_order(items, PRICES, deals, bound)
    ordered = Counter[str]()
    for sku, qty in items:
        ordered[sku] += qty
    priced = Counter[str]()
    for line in lines:
        priced[line.sku] += line.qty
    assert priced == ordered
    deal_units = sum(line.qty for line in lines if line.deal_leader is not None)
    expected_deal_units = min(ordered["a"], deals["a"].remaining) if bound == "L1" else 0
    assert deal_units == expected_deal_units
    assert all(line.deal_leader in (None, "L1") for line in lines)
    new_used = changed.get("a", deals["a"]).used
    assert new_used == deals["a"].used + deal_units <= deals["a"].quota
    assert (
        order_total_cents(lines)
        == deal_units * 6_900
        + sum(qty * PRICES[sku] for sku, qty in ordered.items())
        - deal_units * PRICES["a"]
    )
