"""Stock rules: no oversell, all-or-nothing reservations, presale."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from domain import stock
from domain.errors import Conflict, DomainError, SoldOut
from domain.stock import (
    Allocation,
    Backorder,
    Key,
    StockLevel,
)

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
NAIVE = datetime(2026, 11, 23, 20, 0)


def levels_of(*levels: StockLevel) -> dict[Key, StockLevel]:
    return {level.key: level for level in levels}


# --- stock levels


@given(on_hand=st.integers(0, 10_000), data=st.data())
def test_available_is_on_hand_minus_reserved(on_hand: int, data: st.DataObject) -> None:
    reserved = data.draw(st.integers(0, on_hand))
    level = StockLevel("sku-1", "GZ", on_hand, reserved)
    assert level.available == on_hand - reserved
    assert level.available >= 0


@pytest.mark.parametrize(("on_hand", "reserved", "field"), [(-1, 0, "on_hand"), (5, -1, "reserved")])
def test_stock_level_refuses_negative_counts(on_hand: int, reserved: int, field: str) -> None:
    with pytest.raises(ValueError) as caught:
        StockLevel("sku-1", "GZ", on_hand, reserved)
    assert isinstance(caught.value, DomainError)
    assert caught.value.field == field


def test_stock_level_refuses_more_reserved_than_on_hand() -> None:
    with pytest.raises(ValueError, match="reserved"):
        StockLevel("sku-1", "GZ", on_hand=3, reserved=4)


def test_stock_level_refuses_fractional_units() -> None:
    with pytest.raises(ValueError):
        StockLevel("sku-1", "GZ", on_hand=2.5)  # type: ignore[arg-type]


def test_allocation_must_take_at_least_one_unit() -> None:
    with pytest.raises(ValueError):
        Allocation("sku-1", "GZ", 0)


# --- reserve / release / ship


def test_reservation_takes_all_lines_or_none() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10), StockLevel("b", "SH", 2))
    before = dict(levels)
    with pytest.raises(SoldOut) as caught:
        stock.reserve(levels, [Allocation("a", "GZ", 4), Allocation("b", "SH", 3)])
    assert caught.value.sku == "b"
    assert (caught.value.requested, caught.value.available) == (3, 2)
    assert levels == before  # the first line, which fitted, holds nothing


def test_reservation_adds_up_duplicate_lines_of_one_key() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10, reserved=1))
    changed = stock.reserve(levels, [Allocation("a", "GZ", 3), Allocation("a", "GZ", 4)])
    assert changed[("a", "GZ")] == StockLevel("a", "GZ", 10, reserved=8)


def test_duplicate_lines_that_together_exceed_available_are_sold_out() -> None:
    levels = levels_of(StockLevel("a", "GZ", 5))
    with pytest.raises(SoldOut) as caught:
        stock.reserve(levels, [Allocation("a", "GZ", 3), Allocation("a", "GZ", 3)])
    assert (caught.value.requested, caught.value.available) == (6, 5)
    assert caught.value.field == "allocations[1].qty"


def test_sold_out_names_the_first_line_that_does_not_fit() -> None:
    levels = levels_of(StockLevel("a", "GZ", 1), StockLevel("b", "GZ", 1), StockLevel("c", "GZ", 9))
    with pytest.raises(SoldOut) as caught:
        stock.reserve(levels, [Allocation("c", "GZ", 2), Allocation("b", "GZ", 2), Allocation("a", "GZ", 2)])
    assert caught.value.sku == "b"
    assert caught.value.code == "sold_out"


def test_reservation_from_a_warehouse_without_a_stock_row_is_refused() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10))
    with pytest.raises(DomainError) as caught:
        stock.reserve(levels, [Allocation("a", "GZ", 1), Allocation("a", "SH", 1)])
    assert caught.value.code == "unknown_stock"
    assert caught.value.field == "allocations[1].warehouse"


def test_reservation_returns_only_the_levels_it_changed() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10), StockLevel("a", "SH", 10), StockLevel("b", "GZ", 10))
    changed = stock.reserve(levels, [Allocation("a", "SH", 2)])
    assert changed == {("a", "SH"): StockLevel("a", "SH", 10, reserved=2)}


def test_a_stock_row_filed_under_another_key_is_refused() -> None:
    with pytest.raises(ValueError):
        stock.reserve({("a", "GZ"): StockLevel("a", "SH", 10)}, [Allocation("a", "GZ", 1)])


@given(
    on_hand=st.lists(st.integers(0, 8), min_size=3, max_size=3),
    lines=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 6)), max_size=6),
)
def test_reservation_succeeds_exactly_when_every_key_fits(
    on_hand: list[int], lines: list[tuple[int, int]]
) -> None:
    warehouses = ["BJ", "GZ", "SH"]
    levels = levels_of(*(StockLevel("a", wh, n) for wh, n in zip(warehouses, on_hand, strict=True)))
    allocations = [Allocation("a", warehouses[i], qty) for i, qty in lines]
    asked = Counter[str]()
    for i, qty in lines:
        asked[warehouses[i]] += qty
    fits = all(asked[wh] <= n for wh, n in zip(warehouses, on_hand, strict=True))
    if not fits:
        with pytest.raises(SoldOut):
            stock.reserve(levels, allocations)
        return
    changed = stock.reserve(levels, allocations)
    assert set(changed) == {("a", wh) for wh in asked}
    assert all(changed[("a", wh)].reserved == asked[wh] for wh in asked)


def test_cancel_returns_reserved_units_to_available() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10, reserved=6))
    changed = stock.release(levels, [Allocation("a", "GZ", 4)])
    assert changed[("a", "GZ")].available == 8
    assert changed[("a", "GZ")].on_hand == 10


def test_releasing_more_than_is_reserved_is_refused() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10, reserved=3), StockLevel("b", "GZ", 10, reserved=5))
    with pytest.raises(Conflict) as caught:
        stock.release(levels, [Allocation("b", "GZ", 1), Allocation("a", "GZ", 2), Allocation("a", "GZ", 2)])
    assert caught.value.code == "exceeds_reserved"
    assert caught.value.field == "allocations[2].qty"


def test_shipping_takes_units_out_of_on_hand_and_reserved_leaving_available() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10, reserved=6))
    changed = stock.ship(levels, [Allocation("a", "GZ", 4)])
    assert changed[("a", "GZ")] == StockLevel("a", "GZ", 6, reserved=2)
    assert changed[("a", "GZ")].available == levels[("a", "GZ")].available


def test_shipping_units_that_were_never_reserved_is_refused() -> None:
    levels = levels_of(StockLevel("a", "GZ", 10, reserved=1))
    with pytest.raises(Conflict):
        stock.ship(levels, [Allocation("a", "GZ", 2)])


# --- stock counts and adjustments


def test_stock_count_sets_on_hand_keeping_reservations() -> None:
    assert stock.set_on_hand(StockLevel("a", "GZ", 10, reserved=4), 30) == StockLevel(
        "a", "GZ", 30, reserved=4
    )


def test_stock_count_below_reserved_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        stock.set_on_hand(StockLevel("a", "GZ", 10, reserved=4), 3)
    assert (caught.value.code, caught.value.field) == ("below_reserved", "on_hand")


def test_negative_stock_count_is_refused_naming_on_hand() -> None:
    with pytest.raises(DomainError) as caught:
        stock.set_on_hand(StockLevel("a", "GZ", 10), -1)
    assert caught.value.field == "on_hand"


def test_replenishment_raises_on_hand_and_available() -> None:
    level = stock.adjust(StockLevel("a", "GZ", 10, reserved=10), 25)
    assert (level.on_hand, level.reserved, level.available) == (35, 10, 25)


def test_shrinkage_into_reserved_units_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        stock.adjust(StockLevel("a", "GZ", 10, reserved=4), -7)
    assert (caught.value.code, caught.value.field) == ("below_reserved", "delta")


def test_shrinkage_of_unreserved_units_is_allowed() -> None:
    assert stock.adjust(StockLevel("a", "GZ", 10, reserved=4), -6).available == 0


def test_total_available_adds_warehouses_per_sku() -> None:
    levels = [StockLevel("a", "GZ", 10, 4), StockLevel("a", "SH", 3), StockLevel("b", "GZ", 1, 1)]
    assert stock.total_available(levels) == {"a": 9, "b": 0}


# --- oversell: any interleaving of reserve / cancel / ship / replenish

KEYS: tuple[Key, ...] = (("a", "GZ"), ("a", "SH"), ("b", "GZ"))


class StockMachine(RuleBasedStateMachine):
    """The model tracks what each order holds; stock.py must agree with it after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.levels: dict[Key, StockLevel] = {}
        self.initial: dict[Key, int] = {}
        self.replenished: Counter[Key] = Counter()
        self.shipped: Counter[Key] = Counter()
        self.holdings: dict[int, tuple[Allocation, ...]] = {}
        self.next_order = 0

    @initialize(on_hand=st.lists(st.integers(0, 12), min_size=len(KEYS), max_size=len(KEYS)))
    def stock_up(self, on_hand: list[int]) -> None:
        self.initial = dict(zip(KEYS, on_hand, strict=True))
        self.levels = {key: StockLevel(*key, on_hand=n) for key, n in self.initial.items()}

    def _model_available(self, key: Key) -> int:
        held = sum(a.qty for lines in self.holdings.values() for a in lines if (a.sku, a.warehouse) == key)
        return self.initial[key] + self.replenished[key] - self.shipped[key] - held

    @rule(lines=st.lists(st.tuples(st.sampled_from(KEYS), st.integers(1, 6)), min_size=1, max_size=4))
    def place_order(self, lines: list[tuple[Key, int]]) -> None:
        allocations = tuple(Allocation(*key, qty) for key, qty in lines)
        asked = Counter[Key]()
        for key, qty in lines:
            asked[key] += qty
        fits = all(qty <= self._model_available(key) for key, qty in asked.items())
        if not fits:
            before = dict(self.levels)
            with pytest.raises(SoldOut):
                stock.reserve(self.levels, allocations)
            assert self.levels == before
            return
        self.levels.update(stock.reserve(self.levels, allocations))
        self.holdings[self.next_order] = allocations
        self.next_order += 1

    @precondition(lambda self: bool(self.holdings))
    @rule(data=st.data())
    def cancel_order(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(sorted(self.holdings)))
        self.levels.update(stock.release(self.levels, self.holdings.pop(order)))

    @precondition(lambda self: bool(self.holdings))
    @rule(data=st.data())
    def ship_order(self, data: st.DataObject) -> None:
        order = data.draw(st.sampled_from(sorted(self.holdings)))
        allocations = self.holdings.pop(order)
        self.levels.update(stock.ship(self.levels, allocations))
        for allocation in allocations:
            self.shipped[(allocation.sku, allocation.warehouse)] += allocation.qty

    @rule(key=st.sampled_from(KEYS), delta=st.integers(1, 10))
    def replenish(self, key: Key, delta: int) -> None:
        self.levels[key] = stock.adjust(self.levels[key], delta)
        self.replenished[key] += delta

    @rule(key=st.sampled_from(KEYS), beyond=st.integers(1, 5))
    def shrink_into_reservations_is_refused(self, key: Key, beyond: int) -> None:
        level = self.levels[key]
        with pytest.raises(DomainError):
            stock.adjust(level, -(level.available + beyond))
        assert self.levels[key] is level

    @invariant()
    def available_never_below_zero(self) -> None:
        assert all(level.available >= 0 for level in self.levels.values())

    @invariant()
    def reserved_is_what_live_orders_hold(self) -> None:
        held = Counter[Key]()
        for allocations in self.holdings.values():
            for allocation in allocations:
                held[(allocation.sku, allocation.warehouse)] += allocation.qty
        assert {key: level.reserved for key, level in self.levels.items()} == {key: held[key] for key in KEYS}

    @invariant()
    def on_hand_is_initial_plus_replenished_minus_shipped(self) -> None:
        for key, level in self.levels.items():
            assert level.on_hand == self.initial[key] + self.replenished[key] - self.shipped[key]


StockMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=30, deadline=None)
TestNoOversellUnderAnyInterleaving = StockMachine.TestCase


# --- presale


def test_short_sku_with_presale_goes_to_presale_whole() -> None:
    chosen = stock.presale_lines([("a", 8), ("b", 1)], {"a": 5, "b": 3}, presale_skus={"a"})
    assert chosen == ("a",)


def test_sku_that_fits_stays_out_of_presale_even_with_presale_on() -> None:
    assert stock.presale_lines([("a", 5)], {"a": 5}, presale_skus={"a"}) == ()


def test_line_that_cannot_be_served_without_presale_is_sold_out() -> None:
    with pytest.raises(SoldOut) as caught:
        stock.presale_lines([("a", 8), ("b", 4)], {"a": 5, "b": 3}, presale_skus={"a"})
    assert caught.value.field == "items[1].sku"
    assert (caught.value.requested, caught.value.available) == (4, 3)


def test_two_lines_of_one_sku_add_up_before_presale_is_decided() -> None:
    assert stock.presale_lines([("a", 3), ("a", 3)], {"a": 5}, presale_skus={"a"}) == ("a",)
    with pytest.raises(SoldOut) as caught:
        stock.presale_lines([("a", 3), ("a", 3)], {"a": 5}, presale_skus=())
    assert caught.value.field == "items[1].sku"


def test_sku_without_stock_rows_counts_as_sold_out() -> None:
    assert stock.presale_lines([("new", 1)], {}, presale_skus={"new"}) == ("new",)


def test_presale_refuses_a_quantity_below_one() -> None:
    with pytest.raises(DomainError) as caught:
        stock.presale_lines([("a", 0)], {"a": 5}, presale_skus=())
    assert caught.value.field == "items[0].qty"


def backorder(order: str, qty: int, minute: int, sku: str = "a") -> Backorder:
    return Backorder(order=order, sku=sku, qty=qty, at=NOW + timedelta(minutes=minute))


def test_backorders_are_filled_first_in_first_out_by_time_then_order_id() -> None:
    levels = levels_of(StockLevel("a", "GZ", 4))
    late, tie_b, tie_a = (
        backorder("o0", 1, minute=9),
        backorder("o2", 2, minute=1),
        backorder("o1", 2, minute=1),
    )
    filled, changed = stock.fill_backorders(levels, [late, tie_b, tie_a])
    assert [b.order for b, _ in filled] == ["o1", "o2"]
    assert changed[("a", "GZ")].available == 0


def test_backorder_is_served_from_the_fullest_warehouse_ties_by_code() -> None:
    levels = levels_of(StockLevel("a", "SH", 5), StockLevel("a", "BJ", 5), StockLevel("a", "GZ", 3))
    filled, changed = stock.fill_backorders(levels, [backorder("o1", 2, 0), backorder("o2", 4, 1)])
    assert [alloc for _, alloc in filled] == [Allocation("a", "BJ", 2), Allocation("a", "SH", 4)]
    assert changed == {("a", "BJ"): StockLevel("a", "BJ", 5, 2), ("a", "SH"): StockLevel("a", "SH", 5, 4)}


def test_backorder_is_never_split_across_warehouses() -> None:
    levels = levels_of(StockLevel("a", "SH", 5), StockLevel("a", "BJ", 5))
    filled, changed = stock.fill_backorders(levels, [backorder("o1", 8, 0)])
    assert (filled, changed) == ((), {})


def test_unfilled_backorder_stops_later_ones_of_its_sku_but_not_other_skus() -> None:
    levels = levels_of(StockLevel("a", "GZ", 3), StockLevel("b", "GZ", 3))
    queue = [backorder("o1", 5, 0), backorder("o2", 1, 1), backorder("o3", 1, 2, sku="b")]
    filled, changed = stock.fill_backorders(levels, queue)
    assert [b.order for b, _ in filled] == ["o3"]
    assert set(changed) == {("b", "GZ")}


def test_backorder_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        Backorder("o1", "a", 1, NAIVE)


@given(
    on_hand=st.lists(st.integers(0, 10), min_size=2, max_size=2),
    queue=st.lists(st.tuples(st.integers(1, 6), st.integers(0, 5)), max_size=8),
)
@settings(max_examples=200)
def test_backorders_fill_a_fifo_prefix_without_oversell(
    on_hand: list[int], queue: list[tuple[int, int]]
) -> None:
    levels = levels_of(StockLevel("a", "BJ", on_hand[0]), StockLevel("a", "SH", on_hand[1]))
    backorders = [backorder(f"o{i:02d}", qty, minute) for i, (qty, minute) in enumerate(queue)]
    filled, changed = stock.fill_backorders(levels, backorders)
    fifo = sorted(backorders, key=lambda b: (b.at, b.order))
    assert [b for b, _ in filled] == fifo[: len(filled)]
    assert all(b.qty == alloc.qty and alloc.sku == b.sku for b, alloc in filled)
    after: Mapping[Key, StockLevel] = {**levels, **changed}
    for key, level in after.items():
        assert level.reserved == sum(a.qty for _, a in filled if (a.sku, a.warehouse) == key)
        assert level.on_hand == levels[key].on_hand
    if len(filled) < len(fifo):
        assert fifo[len(filled)].qty > max(level.available for level in after.values())
