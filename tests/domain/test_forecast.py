"""Pre-stock forecast: leaders × conversion × units per order × safety, split by where the buyers live."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import geo
from domain.errors import DomainError
from domain.forecast import (
    LeaderHistory,
    Recommendation,
    SkuHistory,
    expected_units,
    recommend,
    warehouse_shares,
)

GZ_BJ = (("GZ", "广东省"), ("BJ", "北京"))
# 1000 visitors × 5% conversion = 50 orders; 40% contain the SKU = 20 orders; 1.5 units each = 30 units.
ANNA = LeaderHistory("anna", audience=1000, conversion_bp=500, buyer_provinces=(("广东", 3), ("北京", 1)))
TEA = SkuHistory("tea", units_per_order_milli=1500, share_bp=4000)


# --- the formula


def test_expected_units_is_audience_times_conversion_share_units_and_safety() -> None:
    assert expected_units(ANNA, TEA, safety_milli=1000) == 30
    assert expected_units(ANNA, TEA) == 36  # default safety factor 1.2


def test_expected_units_stays_exact_below_one_unit() -> None:
    tiny = LeaderHistory("tiny", audience=7, conversion_bp=3, buyer_provinces=())
    assert expected_units(tiny, SkuHistory("s", 1000, 10_000), safety_milli=1000) == Fraction(21, 10_000)


def test_recommendation_splits_by_buyer_province_to_the_nearest_warehouse() -> None:
    # 36 units: 3/4 of the buyers live in 广东 (→ GZ), 1/4 in 北京 (→ BJ).
    assert recommend([ANNA], [TEA], GZ_BJ) == (
        Recommendation("tea", "BJ", 9),
        Recommendation("tea", "GZ", 27),
    )


def test_leaders_add_up_before_rounding() -> None:
    # Without safety each leader needs half a unit in GZ: rounded per leader that is 2, together it is 1.
    half = LeaderHistory("a", audience=10, conversion_bp=500, buyer_provinces=(("广东", 1),))
    other = LeaderHistory("b", audience=10, conversion_bp=500, buyer_provinces=(("广东省", 5),))
    sku = SkuHistory("s", units_per_order_milli=1000, share_bp=10_000)
    assert expected_units(half, sku, safety_milli=1000) == Fraction(1, 2)
    assert recommend([half], [sku], GZ_BJ, safety_milli=1000) == (Recommendation("s", "GZ", 1),)
    assert recommend([half, other], [sku], GZ_BJ, safety_milli=1000) == (Recommendation("s", "GZ", 1),)
    assert recommend([half, other], [sku], GZ_BJ) == (Recommendation("s", "GZ", 2),)  # 0.6 + 0.6


def test_a_fractional_need_rounds_up_to_a_whole_unit() -> None:
    leader = LeaderHistory("a", audience=1000, conversion_bp=100, buyer_provinces=(("北京", 1),))
    sku = SkuHistory("s", units_per_order_milli=1001, share_bp=10_000)
    # 10 orders × 1.001 units × 1.2 = 12.012 units
    assert recommend([leader], [sku], GZ_BJ) == (Recommendation("s", "BJ", 13),)


def test_buyers_go_to_the_nearest_warehouse_by_province_capital() -> None:
    sites = (("SH", "上海"), ("GZ", "广东"), ("CD", "四川"))
    leader = LeaderHistory("a", 1000, 1000, (("浙江", 1), ("广西", 1), ("重庆", 1), ("江苏", 1)))
    shares = warehouse_shares(leader, sites)
    assert shares == {"SH": Fraction(1, 2), "GZ": Fraction(1, 4), "CD": Fraction(1, 4)}


def test_two_warehouses_equally_near_tie_to_the_lower_code() -> None:
    sites = (("GZ-2", "广东"), ("GZ-1", "广东省"), ("BJ", "北京"))
    leader = LeaderHistory("a", 1000, 1000, (("广西", 1),))
    assert warehouse_shares(leader, sites) == {"GZ-1": 1}


def test_a_leader_without_buyer_history_is_spread_evenly_over_the_warehouses() -> None:
    new = LeaderHistory("new", audience=300, conversion_bp=1000, buyer_provinces=())
    sku = SkuHistory("s", units_per_order_milli=1000, share_bp=10_000)
    sites = (("GZ", "广东"), ("BJ", "北京"), ("SH", "上海"))
    # 30 orders × 1.2 = 36 units, 12 per warehouse.
    assert recommend([new], [sku], sites) == (
        Recommendation("s", "BJ", 12),
        Recommendation("s", "GZ", 12),
        Recommendation("s", "SH", 12),
    )
    zero_weights = LeaderHistory("new", 300, 1000, (("广东", 0),))
    assert recommend([zero_weights], [sku], sites) == recommend([new], [sku], sites)


def test_buyers_in_an_unknown_province_are_spread_evenly() -> None:
    leader = LeaderHistory("a", 1000, 1000, (("广东", 1), ("火星", 1)))
    assert warehouse_shares(leader, GZ_BJ) == {"GZ": Fraction(3, 4), "BJ": Fraction(1, 4)}


def test_nothing_to_stock_is_left_out_and_skus_keep_their_order() -> None:
    skus = [SkuHistory("zz", 1000, 5000), SkuHistory("never", 1000, 0), SkuHistory("aa", 2000, 5000)]
    result = recommend([ANNA], skus, GZ_BJ)
    assert [(r.sku, r.warehouse) for r in result] == [("zz", "BJ"), ("zz", "GZ"), ("aa", "BJ"), ("aa", "GZ")]
    assert recommend([], skus, GZ_BJ) == ()


# --- refused input


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"audience": -1}, "audience"),
        ({"audience": 1.5}, "audience"),
        ({"audience": True}, "audience"),
        ({"conversion_bp": 10_001}, "conversion_bp"),
        ({"conversion_bp": -1}, "conversion_bp"),
        ({"leader": " "}, "leader"),
        ({"buyer_provinces": (("广东", -1),)}, "buyer_provinces[0].buyers"),
        ({"buyer_provinces": (("", 1),)}, "buyer_provinces[0].province"),
        ({"buyer_provinces": (("广东",),)}, "buyer_provinces[0]"),
    ],
)
def test_leader_history_refuses_impossible_numbers(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"leader": "a", "audience": 10, "conversion_bp": 100, "buyer_provinces": ()}
    with pytest.raises(DomainError) as caught:
        LeaderHistory(**(values | kwargs))  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"units_per_order_milli": -1}, "units_per_order_milli"),
        ({"units_per_order_milli": 1.5}, "units_per_order_milli"),
        ({"share_bp": 10_001}, "share_bp"),
        ({"sku": ""}, "sku"),
    ],
)
def test_sku_history_refuses_impossible_numbers(kwargs: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"sku": "s", "units_per_order_milli": 1000, "share_bp": 100}
    with pytest.raises(DomainError) as caught:
        SkuHistory(**(values | kwargs))  # type: ignore[arg-type]
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("leaders", "skus", "sites", "safety", "field"),
    [
        ([ANNA], [TEA], (), 1200, "warehouse_sites"),
        ([ANNA], [TEA], (("GZ", "火星"),), 1200, "warehouse_sites[0].province"),
        ([ANNA], [TEA], (("GZ", "广东"), ("GZ", "北京")), 1200, "warehouse_sites[1].code"),
        ([ANNA], [TEA], (("", "广东"),), 1200, "warehouse_sites[0].code"),
        ([ANNA, ANNA], [TEA], GZ_BJ, 1200, "leaders[1].leader"),
        ([ANNA], [TEA, TEA], GZ_BJ, 1200, "skus[1].sku"),
        ([ANNA], [TEA], GZ_BJ, 999, "safety_milli"),
    ],
)
def test_recommend_refuses_what_it_cannot_plan(
    leaders: list[LeaderHistory],
    skus: list[SkuHistory],
    sites: tuple[tuple[str, str], ...],
    safety: int,
    field: str,
) -> None:
    with pytest.raises(DomainError) as caught:
        recommend(leaders, skus, sites, safety_milli=safety)
    assert caught.value.field == field


# --- properties

provinces = st.sampled_from([p.short for p in geo.PROVINCES] + ["火星"])
leader_histories = st.builds(
    LeaderHistory,
    leader=st.text(alphabet="abcdefgh", min_size=1, max_size=6),
    audience=st.integers(0, 50_000),
    conversion_bp=st.integers(0, 10_000),
    buyer_provinces=st.lists(st.tuples(provinces, st.integers(0, 50)), max_size=5).map(tuple),
)
sku_histories = st.builds(
    SkuHistory,
    sku=st.text(alphabet="stuvwxyz", min_size=1, max_size=4),
    units_per_order_milli=st.integers(0, 5_000),
    share_bp=st.integers(0, 10_000),
)
site_lists = st.lists(
    st.tuples(
        st.text(alphabet="ABCDEFGH", min_size=1, max_size=3), st.sampled_from([p.name for p in geo.PROVINCES])
    ),
    min_size=1,
    max_size=5,
    unique_by=lambda site: site[0],
)
leader_lists = st.lists(leader_histories, max_size=5, unique_by=lambda leader: leader.leader)
sku_lists = st.lists(sku_histories, min_size=1, max_size=4, unique_by=lambda sku: sku.sku)


@settings(max_examples=150, deadline=None)
@given(leader=leader_histories, sites=site_lists)
def test_a_leaders_warehouse_shares_add_up_to_exactly_one(
    leader: LeaderHistory, sites: list[tuple[str, str]]
) -> None:
    shares = warehouse_shares(leader, sites)
    assert sum(shares.values()) == 1
    assert set(shares) <= {code for code, _ in sites}
    assert all(share > 0 for share in shares.values())


@settings(max_examples=150, deadline=None)
@given(leaders=leader_lists, skus=sku_lists, sites=site_lists, safety=st.integers(1000, 3000))
def test_each_sku_gets_its_whole_forecast_rounded_up_at_most_once_per_warehouse(
    leaders: list[LeaderHistory], skus: list[SkuHistory], sites: list[tuple[str, str]], safety: int
) -> None:
    result = recommend(leaders, skus, sites, safety_milli=safety)
    for sku in skus:
        exact = sum((expected_units(leader, sku, safety) for leader in leaders), Fraction(0))
        stocked = sum(r.units for r in result if r.sku == sku.sku)
        assert exact <= stocked < exact + len(sites)
        assert stocked >= math.ceil(exact)
    assert all(r.units > 0 for r in result)
    assert len({(r.sku, r.warehouse) for r in result}) == len(result)


@settings(max_examples=100, deadline=None)
@given(leaders=leader_lists, skus=sku_lists, sites=site_lists, data=st.data())
def test_the_order_of_leaders_and_warehouses_does_not_change_the_recommendation(
    leaders: list[LeaderHistory], skus: list[SkuHistory], sites: list[tuple[str, str]], data: st.DataObject
) -> None:
    shuffled_leaders = data.draw(st.permutations(leaders))
    shuffled_sites = data.draw(st.permutations(sites))
    assert recommend(shuffled_leaders, skus, shuffled_sites) == recommend(leaders, skus, sites)


@settings(max_examples=100, deadline=None)
@given(
    leaders=leader_lists,
    skus=sku_lists,
    sites=site_lists,
    low=st.integers(1000, 2000),
    extra=st.integers(0, 1000),
)
def test_a_larger_safety_factor_never_stocks_fewer_units(
    leaders: list[LeaderHistory], skus: list[SkuHistory], sites: list[tuple[str, str]], low: int, extra: int
) -> None:
    less = {(r.sku, r.warehouse): r.units for r in recommend(leaders, skus, sites, safety_milli=low)}
    more = {(r.sku, r.warehouse): r.units for r in recommend(leaders, skus, sites, safety_milli=low + extra)}
    assert all(more.get(key, 0) >= units for key, units in less.items())


def test_recommend_does_not_mutate_its_inputs() -> None:
    leaders, skus, sites = [ANNA], [TEA], list(GZ_BJ)
    recommend(leaders, skus, sites)
    assert (leaders, skus, sites) == ([ANNA], [TEA], list(GZ_BJ))
