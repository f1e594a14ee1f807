"""Tiered stocking before the pulse (issue 13): core hits at least 1.5× their peak, new products a conservative
first batch with a fast follow-up trigger, the long tail a base level, the room's expected audience as fallback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import DomainError
from domain.forecast import LeaderHistory, SkuHistory
from domain.forecast_tiers import (
    Tier,
    TierSettings,
    follow_up_fires,
    plan,
    planned_minutes,
    tier_of,
)

ONE = (("GZ", "广东省"),)
GZ_BJ = (("GZ", "广东省"), ("BJ", "北京"))
ANNA = LeaderHistory("anna", audience=1000, conversion_bp=500, buyer_provinces=(("广东", 3), ("北京", 1)))
NEWBIE = LeaderHistory("newbie", audience=0, conversion_bp=0, buyer_provinces=())
TEA = SkuHistory("tea", units_per_order_milli=1000, share_bp=4000)  # ANNA: 1000 × 5% × 40% × 1.2 = 24 units
DEFAULTS = TierSettings()


def _only(forecast, sku):  # type: ignore[no-untyped-def]
    return next(p for p in forecast.skus if p.sku == sku)


def test_a_sku_never_sold_in_a_past_session_is_new_reaching_the_threshold_is_core_else_long_tail() -> None:
    assert tier_of(0, 200) is Tier.NEW
    assert tier_of(199, 200) is Tier.LONG_TAIL
    assert tier_of(200, 200) is Tier.CORE


def test_a_core_hit_is_stocked_at_least_at_one_and_a_half_times_its_peak() -> None:
    # The leaders forecast 24 units, the SKU once sold 300 in one session: 450 units, split 3:1 like the demand.
    tea = _only(plan([ANNA], [TEA], {"tea": 300}, GZ_BJ, DEFAULTS), "tea")
    assert tea.tier is Tier.CORE
    assert tea.units >= 450
    assert tea.warehouses == {"BJ": 113, "GZ": 337}  # 112.5 and 337.5: the tie goes to the lower code
    assert tea.reason == {"code": "core_peak_x1.5", "peak_units": 300, "floor_units": 450, "forecast_units": 24}
    assert tea.follow_up_per_min is None


def test_a_core_hit_takes_the_forecast_when_it_is_above_one_and_a_half_times_the_peak() -> None:
    big = LeaderHistory("big", audience=100_000, conversion_bp=500, buyer_provinces=(("广东", 1),))
    tea = _only(plan([big], [TEA], {"tea": 200}, ONE, DEFAULTS), "tea")  # 100000 × 5% × 40% × 1.2 = 2400
    assert (tea.tier, tea.units, tea.reason["code"]) == (Tier.CORE, 2400, "core_forecast")


def test_the_core_threshold_is_the_rooms_setting() -> None:
    tea = _only(plan([ANNA], [TEA], {"tea": 50}, ONE, TierSettings(core_units=50)), "tea")
    assert (tea.tier, tea.units) == (Tier.CORE, 75)


def test_a_new_product_gets_a_first_batch_from_the_audience_a_conservative_conversion_and_its_sku_share() -> None:
    # 1000 visitors (ANNA's history) × 2% (default) / 4 SKUs = 5 units; 120 minutes planned → 0.04 units/min.
    skus = [SkuHistory(s, 1000, 0) for s in ("a", "b", "c")] + [TEA]
    forecast = plan([ANNA], skus, {"tea": 10}, ONE, DEFAULTS, selling_minutes=120)
    a = _only(forecast, "a")
    assert (a.tier, a.units, a.warehouses) == (Tier.NEW, 5, {"GZ": 5})
    assert a.reason == {"code": "new_first_batch", "audience": 1000, "conversion_bp": 200, "sku_count": 4,
                        "first_batch_units": 5, "selling_minutes": 120}
    assert a.follow_up_per_min == round(5 / 120, 2)
    assert forecast.audience_source == "leaders"


def test_a_new_products_follow_up_trigger_fires_only_above_the_first_batchs_plan() -> None:
    room = TierSettings(expected_audience=60_000, conversion_bp=100)  # 600 units over 60 minutes: 10 units/min
    new = _only(plan([NEWBIE], [SkuHistory("n", 1000, 0)], {}, ONE, room, selling_minutes=60), "n")
    assert (new.units, new.follow_up_per_min) == (600, 10.0)
    assert not follow_up_fires(10.0, new.follow_up_per_min)
    assert follow_up_fires(10.5, new.follow_up_per_min)
    assert not follow_up_fires(99.0, None)  # not a new product: no trigger


def test_a_long_tail_sku_keeps_its_base_level() -> None:
    tea = _only(plan([ANNA], [TEA], {"tea": 40}, ONE, TierSettings(base_units=30)), "tea")
    assert (tea.tier, tea.units) == (Tier.LONG_TAIL, 30)  # the forecast's 24 is under the base level
    assert tea.reason == {"code": "long_tail_base", "peak_units": 40, "base_units": 30, "forecast_units": 24}
    above = _only(plan([ANNA], [TEA], {"tea": 40}, ONE, TierSettings(base_units=10)), "tea")
    assert (above.units, above.reason["code"]) == (24, "long_tail_forecast")


def test_leaders_without_history_fall_back_to_the_rooms_expected_audience() -> None:
    # Nobody has history: the room expects 5000 visitors at 2%: 100 orders; TEA is in 40% of orders → 48 units
    # (×1.2); a new product gets 5000 × 2% / 2 SKUs = 50.
    room = TierSettings(expected_audience=5000, base_units=0)
    forecast = plan([NEWBIE], [TEA, SkuHistory("n", 1000, 0)], {"tea": 10}, GZ_BJ, room)
    assert (forecast.audience, forecast.audience_source) == (5000, "room")
    tea, new = _only(forecast, "tea"), _only(forecast, "n")
    assert (tea.tier, tea.units, tea.warehouses) == (Tier.LONG_TAIL, 48, {"BJ": 24, "GZ": 24})  # evenly
    assert (new.tier, new.units, new.warehouses) == (Tier.NEW, 50, {"BJ": 25, "GZ": 25})


def test_no_leaders_at_all_falls_back_to_the_default_expected_audience() -> None:
    new = _only(plan([], [SkuHistory("n", 1000, 0)], {}, ONE, DEFAULTS), "n")
    assert (new.units, new.reason["audience"]) == (20, 1000)  # 1000 × 2% / 1


def test_the_planned_selling_minutes_are_the_setting_else_the_rooms_length_else_two_hours() -> None:
    start = datetime(2026, 11, 11, 12, tzinfo=UTC)
    assert planned_minutes(TierSettings(selling_minutes=45), start, None) == 45
    assert planned_minutes(DEFAULTS, start, start + timedelta(hours=3)) == 180
    assert planned_minutes(DEFAULTS, start, None) == 120


@pytest.mark.parametrize(("name", "value"), [("core_units", 0), ("conversion_bp", 10_001),
                                             ("expected_audience", -1), ("selling_minutes", 0)])
def test_settings_out_of_range_are_refused_naming_the_field(name: str, value: int) -> None:
    with pytest.raises(DomainError) as refused:
        TierSettings(**{name: value})
    assert refused.value.field == f"forecast.{name}"


@settings(max_examples=200, deadline=None)
@given(
    peak=st.integers(min_value=1, max_value=100_000),
    core_units=st.integers(min_value=1, max_value=1_000),
    audience=st.integers(min_value=0, max_value=1_000_000),
    conversion_bp=st.integers(min_value=0, max_value=10_000),
    share_bp=st.integers(min_value=0, max_value=10_000),
    units_milli=st.integers(min_value=0, max_value=5_000),
    provinces=st.lists(st.sampled_from(["广东", "北京", "上海", "四川", "火星"]), max_size=4),
)
def test_a_core_hits_recommendation_is_never_below_one_and_a_half_times_its_peak(
    peak: int, core_units: int, audience: int, conversion_bp: int, share_bp: int, units_milli: int,
    provinces: list[str],
) -> None:
    leader = LeaderHistory("l", audience, conversion_bp, tuple((p, 1) for p in provinces))
    sites = (("GZ", "广东"), ("BJ", "北京"), ("CD", "四川"))
    forecast = plan([leader], [SkuHistory("s", units_milli, share_bp)], {"s": peak}, sites,
                    TierSettings(core_units=core_units))
    s = _only(forecast, "s")
    if peak >= core_units:
        assert s.tier is Tier.CORE
        assert s.units >= 1.5 * peak
        assert sum(s.warehouses.values()) == s.units
    else:
        assert s.tier is Tier.LONG_TAIL
