"""Routing rules: warehouse plans (fewest shipments, nearest, splits, outages) and carrier choice."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from domain import geo
from domain.errors import DomainError, SoldOut
from domain.routing import (
    MAX_EXACT_WAREHOUSES,
    CarrierPolicy,
    Delivery,
    Destination,
    PlannedShipment,
    Warehouse,
    choose_carrier,
    destination_for,
    plan_warehouses,
    replan,
)

BJ = Warehouse("BJ", "北京仓", "北京", "北京")
SH = Warehouse("SH", "上海仓", "上海市", "上海")
GZ = Warehouse("GZ", "广州仓", "广东省", "广州")
CD = Warehouse("CD", "成都仓", "四川", "成都")
JN = Warehouse("JN", "济南仓", "山东省", "济南")
NJ = Warehouse("NJ", "南京仓", "江苏省", "南京")
URUMQI = Warehouse("XJ", "乌鲁木齐仓", "新疆", "乌鲁木齐")
NATIONWIDE = (BJ, SH, GZ, CD)

GUANGDONG = Destination("广东省", "广州市")
JIANGSU = Destination("江苏", None)
ZHEJIANG = Destination("浙江省", "杭州")
BEIJING = Destination("北京市", "朝阳区")
XINJIANG = Destination("新疆维吾尔自治区", "乌鲁木齐")

PROVINCE_NAMES = [p.name for p in geo.PROVINCES]


def stock(units: int, skus: Sequence[str], warehouses: Sequence[Warehouse]) -> dict[tuple[str, str], int]:
    return {(sku, w.code): units for sku in skus for w in warehouses}


def shipped(plan: Sequence[PlannedShipment]) -> Counter[str]:
    total: Counter[str] = Counter()
    for shipment in plan:
        for sku, qty in shipment.lines:
            total[sku] += qty
    return total


# --- nearest warehouse -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dest", "expected"),
    [(GUANGDONG, "GZ"), (JIANGSU, "SH"), (Destination("河北"), "BJ"), (Destination("Sichuan"), "CD")],
)
def test_buyer_is_served_by_the_nearest_warehouse_holding_every_line(
    dest: Destination, expected: str
) -> None:
    plan = plan_warehouses({"lip": 2, "tea": 1}, stock(5, ["lip", "tea"], NATIONWIDE), NATIONWIDE, dest)
    assert plan == (PlannedShipment(expected, (("lip", 2), ("tea", 1))),)


def test_buyer_city_when_known_is_measured_instead_of_the_province_capital(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Xuzhou lies in Jiangsu but is nearer Jinan than Shanghai; the capital Nanjing is nearer Shanghai.
    xuzhou = geo.Point(34.2044, 117.2859)
    real_locate = geo.locate
    monkeypatch.setattr(geo, "locate", lambda p, c=None: xuzhou if c == "徐州" else real_locate(p, c))
    available = stock(5, ["lip"], (SH, JN))
    assert plan_warehouses({"lip": 1}, available, (SH, JN), Destination("江苏", None))[0].warehouse == "SH"
    assert plan_warehouses({"lip": 1}, available, (SH, JN), Destination("江苏", "徐州"))[0].warehouse == "JN"


def test_one_farther_warehouse_with_every_line_beats_a_split_from_nearer_ones() -> None:
    available = {("lip", "GZ"): 5, ("tea", "SH"): 5, ("lip", "BJ"): 5, ("tea", "BJ"): 5}
    plan = plan_warehouses({"lip": 1, "tea": 1}, available, NATIONWIDE, GUANGDONG)
    assert plan == (PlannedShipment("BJ", (("lip", 1), ("tea", 1))),)


def test_inactive_warehouse_is_skipped_even_when_nearest() -> None:
    closed_gz = Warehouse("GZ", "广州仓", "广东省", "广州", active=False)
    warehouses = (BJ, SH, closed_gz, CD)
    plan = plan_warehouses({"lip": 1}, stock(5, ["lip"], warehouses), warehouses, GUANGDONG)
    assert [s.warehouse for s in plan] == ["SH"]


def test_order_splits_across_warehouses_only_when_no_single_one_can_serve() -> None:
    available = {("lip", "GZ"): 3, ("lip", "SH"): 3, ("tea", "SH"): 1}
    plan = plan_warehouses({"lip": 5, "tea": 1}, available, NATIONWIDE, GUANGDONG)
    # The nearer warehouse gives all it has; the rest of the line comes from the other one.
    assert plan == (PlannedShipment("GZ", (("lip", 3),)), PlannedShipment("SH", (("lip", 2), ("tea", 1))))


def test_split_line_comes_from_as_few_warehouses_as_possible() -> None:
    # Filling nearest-first would take 3 parcels (GZ 4, SH 3, BJ 3); BJ and GZ together fill it in 2.
    available = {("lip", "GZ"): 4, ("lip", "SH"): 3, ("lip", "BJ"): 8}
    plan = plan_warehouses({"lip": 10}, available, NATIONWIDE, GUANGDONG)
    assert plan == (PlannedShipment("GZ", (("lip", 4),)), PlannedShipment("BJ", (("lip", 6),)))


def test_line_is_kept_whole_when_one_chosen_warehouse_holds_it_all() -> None:
    # Both warehouses are needed (only BJ has tea), and BJ can give all the lip: no need to split lip.
    available = {("lip", "GZ"): 2, ("lip", "BJ"): 9, ("tea", "BJ"): 1, ("soap", "GZ"): 1}
    plan = plan_warehouses({"lip": 3, "tea": 1, "soap": 1}, available, NATIONWIDE, GUANGDONG)
    assert plan == (PlannedShipment("GZ", (("soap", 1),)), PlannedShipment("BJ", (("lip", 3), ("tea", 1))))


def test_split_takes_the_pair_with_least_total_distance() -> None:
    # Each holds half the line. From Guangzhou, SH (~1212 km) is just nearer than CD (~1231 km).
    available = {("lip", "CD"): 2, ("lip", "SH"): 2, ("lip", "BJ"): 2, ("lip", "GZ"): 2}
    plan = plan_warehouses({"lip": 4}, available, (BJ, CD, SH, GZ), GUANGDONG)
    assert plan == (PlannedShipment("GZ", (("lip", 2),)), PlannedShipment("SH", (("lip", 2),)))
    without_gz = plan_warehouses({"lip": 4}, available, (BJ, CD, SH), GUANGDONG)
    assert [s.warehouse for s in without_gz] == ["SH", "CD"]


def test_equally_near_warehouses_tie_by_warehouse_code() -> None:
    east = Warehouse("SH-EAST", "浦东仓", "上海", "上海")
    west = Warehouse("SH-WEST", "青浦仓", "上海", "上海")
    available = stock(5, ["lip"], (west, east))
    assert plan_warehouses({"lip": 1}, available, (west, east), ZHEJIANG)[0].warehouse == "SH-EAST"


def test_exact_search_finds_two_parcels_where_taking_the_fullest_warehouse_first_needs_three() -> None:
    big = Warehouse("A-BIG", "大仓", "广东", None)  # nearest, and holds the most ordered lines
    left, right = Warehouse("B-LEFT", "左仓", "湖北", None), Warehouse("C-RIGHT", "右仓", "福建", None)
    available = {(sku, big.code): 1 for sku in ("s1", "s2", "s4", "s5")}
    available |= {(sku, left.code): 1 for sku in ("s1", "s2", "s3")}
    available |= {(sku, right.code): 1 for sku in ("s4", "s5", "s6")}
    lines = dict.fromkeys(("s1", "s2", "s3", "s4", "s5", "s6"), 1)
    plan = plan_warehouses(lines, available, (big, left, right), GUANGDONG)
    assert sorted(s.warehouse for s in plan) == ["B-LEFT", "C-RIGHT"]


def test_above_the_exact_search_bound_the_fullest_then_nearest_warehouses_fill_the_split() -> None:
    provinces = (
        "广东",
        "广西",
        "海南",
        "福建",
        "湖南",
        "江西",
        "贵州",
        "湖北",
        "浙江",
        "云南",
        "重庆",
        "安徽",
        "上海",
        "四川",
    )
    warehouses = [Warehouse(f"W{i:02d}", p, p, None) for i, p in enumerate(provinces)]
    assert len(warehouses) > MAX_EXACT_WAREHOUSES
    available = {("lip", w.code): 1 for w in warehouses} | {("lip", "W13"): 2}  # W13 (Sichuan) is the fullest
    plan = plan_warehouses({"lip": 4}, available, warehouses, GUANGDONG)
    nearest_two = ["W00", "W02"]  # Guangdong itself, then Haikou (about 470 km from Guangzhou)
    assert sorted(s.warehouse for s in plan) == sorted(["W13", *nearest_two])
    assert shipped(plan) == {"lip": 4}


def test_plan_lines_are_sorted_by_sku_and_shipments_nearest_first() -> None:
    available = {("zz", "SH"): 1, ("aa", "SH"): 1, ("mm", "GZ"): 1}
    plan = plan_warehouses({"zz": 1, "mm": 1, "aa": 1}, available, NATIONWIDE, GUANGDONG)
    assert plan == (PlannedShipment("GZ", (("mm", 1),)), PlannedShipment("SH", (("aa", 1), ("zz", 1))))


def test_planning_leaves_its_inputs_untouched() -> None:
    lines = {"lip": 4}
    available = {("lip", "GZ"): 2, ("lip", "SH"): 2}
    before = (dict(lines), dict(available))
    plan_warehouses(lines, available, NATIONWIDE, GUANGDONG)
    assert (lines, available) == before


# --- refusals -------------------------------------------------------------------------------------------


def test_sold_out_names_the_first_line_active_warehouses_cannot_fill_with_their_total() -> None:
    closed_gz = Warehouse("GZ", "广州仓", "广东省", "广州", active=False)
    available = {("lip", "SH"): 1, ("lip", "BJ"): 1, ("lip", "GZ"): 50, ("tea", "SH"): 0}
    with pytest.raises(SoldOut) as caught:
        plan_warehouses({"lip": 3, "tea": 1}, available, (BJ, SH, closed_gz), GUANGDONG)
    assert (caught.value.sku, caught.value.requested, caught.value.available) == ("lip", 3, 2)
    assert caught.value.code == "sold_out"


def test_stock_in_a_warehouse_not_listed_does_not_count() -> None:
    with pytest.raises(SoldOut) as caught:
        plan_warehouses({"lip": 1}, {("lip", "GHOST"): 9}, NATIONWIDE, GUANGDONG)
    assert caught.value.available == 0


def test_unknown_destination_province_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        plan_warehouses({"lip": 1}, stock(5, ["lip"], NATIONWIDE), NATIONWIDE, Destination("Atlantis"))
    assert (caught.value.field, caught.value.code) == ("buyer.province", "unknown_province")


@pytest.mark.parametrize("qty", [0, -1, True, 1.5])
def test_line_quantity_must_be_a_positive_whole_number(qty: int) -> None:
    with pytest.raises(DomainError) as caught:
        plan_warehouses({"lip": qty}, stock(5, ["lip"], NATIONWIDE), NATIONWIDE, GUANGDONG)
    assert caught.value.field == "lines[lip]"


def test_empty_order_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        plan_warehouses({}, {}, NATIONWIDE, GUANGDONG)
    assert caught.value.field == "lines"


@pytest.mark.parametrize("units", [-1, True])
def test_available_units_must_be_whole_and_not_negative(units: int) -> None:
    with pytest.raises(DomainError) as caught:
        plan_warehouses({"lip": 1}, {("lip", "GZ"): units}, NATIONWIDE, GUANGDONG)
    assert caught.value.field == "available"


def test_two_warehouses_with_one_code_are_refused() -> None:
    with pytest.raises(DomainError) as caught:
        plan_warehouses(
            {"lip": 1}, {("lip", "GZ"): 1}, (GZ, Warehouse("GZ", "又一个", "广西", None)), GUANGDONG
        )
    assert caught.value.field == "warehouses"


def test_warehouse_must_be_in_a_known_province_and_have_a_code() -> None:
    with pytest.raises(DomainError) as unknown:
        Warehouse("X", "X", "Narnia", None)
    assert (unknown.value.field, unknown.value.code) == ("province", "unknown_province")
    with pytest.raises(DomainError) as blank:
        Warehouse(" ", "X", "广东", None)
    assert blank.value.field == "code"


def test_outage_replans_the_order_to_the_next_nearest_warehouse() -> None:
    available = stock(5, ["lip"], NATIONWIDE)
    assert plan_warehouses({"lip": 2}, available, NATIONWIDE, GUANGDONG)[0].warehouse == "GZ"
    assert replan({"lip": 2}, available, NATIONWIDE, GUANGDONG, down="GZ") == (
        PlannedShipment("SH", (("lip", 2),)),
    )


def test_outage_of_the_only_stocked_warehouse_makes_the_order_sold_out() -> None:
    with pytest.raises(SoldOut):
        replan({"lip": 1}, {("lip", "GZ"): 5}, NATIONWIDE, GUANGDONG, down="GZ")


def test_outage_of_an_unknown_warehouse_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        replan({"lip": 1}, {("lip", "GZ"): 5}, NATIONWIDE, GUANGDONG, down="NOPE")
    assert caught.value.field == "down"


# --- plan properties ------------------------------------------------------------------------------------

SKUS = ("a", "b", "c")


@st.composite
def scenarios(
    draw: st.DrawFn, min_warehouses: int = 1, max_warehouses: int = 6
) -> tuple[dict[str, int], dict[tuple[str, str], int], list[Warehouse], Destination]:
    count = draw(st.integers(min_warehouses, max_warehouses))
    warehouses = [
        Warehouse(
            f"W{i:02d}",
            f"仓{i}",
            draw(st.sampled_from(PROVINCE_NAMES)),
            None,
            active=draw(st.sampled_from([True, True, True, False])),
        )
        for i in range(count)
    ]
    lines = draw(st.dictionaries(st.sampled_from(SKUS), st.integers(1, 6), min_size=1))
    available = {(sku, w.code): draw(st.integers(0, 6)) for sku in SKUS for w in warehouses}
    return lines, available, warehouses, Destination(draw(st.sampled_from(PROVINCE_NAMES)))


def _covers(
    subset: Sequence[str], lines: Mapping[str, int], available: Mapping[tuple[str, str], int]
) -> bool:
    return all(sum(available.get((sku, w), 0) for w in subset) >= qty for sku, qty in lines.items())


def _fewest_covering(
    lines: Mapping[str, int], available: Mapping[tuple[str, str], int], warehouses: Sequence[Warehouse]
) -> int:
    codes = [w.code for w in warehouses if w.active]
    return next(
        k
        for k in range(1, len(codes) + 1)
        if any(_covers(c, lines, available) for c in combinations(codes, k))
    )


def _check_plan_is_sound(
    plan: Sequence[PlannedShipment],
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    warehouses: Sequence[Warehouse],
) -> None:
    active = {w.code for w in warehouses if w.active}
    assert shipped(plan) == Counter(lines)
    assert all(shipment.warehouse in active for shipment in plan)
    assert len({s.warehouse for s in plan}) == len(plan)
    for shipment in plan:
        assert list(shipment.lines) == sorted(shipment.lines)
        assert all(0 < qty <= available.get((sku, shipment.warehouse), 0) for sku, qty in shipment.lines)
    if any(_covers((code,), lines, available) for code in active):
        assert len(plan) == 1


def _check_sold_out_is_right(
    error: SoldOut,
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    warehouses: Sequence[Warehouse],
) -> None:
    totals = {sku: sum(available.get((sku, w.code), 0) for w in warehouses if w.active) for sku in lines}
    short = [sku for sku, qty in lines.items() if totals[sku] < qty]
    assert short and error.sku == short[0]
    assert (error.requested, error.available) == (lines[error.sku], totals[error.sku])


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_plan_ships_exactly_what_was_ordered_from_active_stock_in_fewest_parcels(
    scenario: tuple[dict[str, int], dict[tuple[str, str], int], list[Warehouse], Destination],
) -> None:
    lines, available, warehouses, dest = scenario
    try:
        plan = plan_warehouses(lines, available, warehouses, dest)
    except SoldOut as error:
        _check_sold_out_is_right(error, lines, available, warehouses)
        return
    _check_plan_is_sound(plan, lines, available, warehouses)
    assert len(plan) == _fewest_covering(lines, available, warehouses)


@settings(max_examples=100, deadline=None)
@given(scenarios(), st.data())
def test_plan_does_not_depend_on_the_order_warehouses_are_listed_in(
    scenario: tuple[dict[str, int], dict[tuple[str, str], int], list[Warehouse], Destination],
    data: st.DataObject,
) -> None:
    lines, available, warehouses, dest = scenario
    shuffled = data.draw(st.permutations(warehouses))
    try:
        plan = plan_warehouses(lines, available, warehouses, dest)
    except SoldOut as error:
        with pytest.raises(SoldOut) as again:
            plan_warehouses(lines, available, shuffled, dest)
        assert again.value.sku == error.sku
        return
    assert plan_warehouses(lines, available, shuffled, dest) == plan


@settings(max_examples=40, deadline=None)
@given(scenarios(min_warehouses=MAX_EXACT_WAREHOUSES + 1, max_warehouses=MAX_EXACT_WAREHOUSES + 4))
def test_above_the_exact_search_bound_plans_stay_sound_and_single_when_possible(
    scenario: tuple[dict[str, int], dict[tuple[str, str], int], list[Warehouse], Destination],
) -> None:
    lines, available, warehouses, dest = scenario
    try:
        plan = plan_warehouses(lines, available, warehouses, dest)
    except SoldOut as error:
        _check_sold_out_is_right(error, lines, available, warehouses)
        return
    _check_plan_is_sound(plan, lines, available, warehouses)


@settings(max_examples=100, deadline=None)
@given(scenarios(min_warehouses=2), st.data())
def test_replan_never_ships_from_the_warehouse_that_went_down(
    scenario: tuple[dict[str, int], dict[tuple[str, str], int], list[Warehouse], Destination],
    data: st.DataObject,
) -> None:
    lines, available, warehouses, dest = scenario
    down = data.draw(st.sampled_from([w.code for w in warehouses]))
    try:
        plan = replan(lines, available, warehouses, dest, down=down)
    except SoldOut:
        still_up = [w.code for w in warehouses if w.active and w.code != down]
        assert not _covers(still_up, lines, available)
        return
    assert down not in {s.warehouse for s in plan}
    assert shipped(plan) == Counter(lines)


# --- pickup ---------------------------------------------------------------------------------------------


def test_pickup_ships_to_the_leaders_pickup_point_instead_of_the_buyer() -> None:
    point = Destination("江苏", "南京")
    assert destination_for(Delivery.PICKUP, GUANGDONG, point) == point
    assert destination_for("pickup", GUANGDONG, point) == point  # type: ignore[arg-type]  # the wire form


@pytest.mark.parametrize("delivery", [Delivery.EXPRESS, Delivery.INSTANT])
def test_express_and_instant_ship_to_the_buyer(delivery: Delivery) -> None:
    assert destination_for(delivery, GUANGDONG, Destination("江苏", "南京")) == GUANGDONG


def test_pickup_without_a_pickup_point_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        destination_for(Delivery.PICKUP, GUANGDONG, None)
    assert (caught.value.field, caught.value.code) == ("delivery", "no_pickup_point")


def test_pickup_point_in_an_unknown_province_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        destination_for(Delivery.PICKUP, GUANGDONG, Destination("Gondor"))
    assert (caught.value.field, caught.value.code) == ("pickup_point.province", "unknown_province")


def test_unknown_delivery_kind_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        destination_for("drone", GUANGDONG, None)  # type: ignore[arg-type]
    assert caught.value.field == "delivery"


# --- carrier rules --------------------------------------------------------------------------------------

POLICY = CarrierPolicy()


def carrier(
    dest: Destination,
    warehouse: Warehouse = SH,
    total_cents: int = 9_900,
    delivery: Delivery = Delivery.EXPRESS,
    policy: CarrierPolicy = POLICY,
    unavailable: frozenset[str] = frozenset(),
    assigned: Mapping[str, int] | None = None,
) -> str:
    return choose_carrier(dest, warehouse, total_cents, delivery, policy, unavailable, assigned or {})


def test_instant_delivery_in_the_warehouses_city_goes_to_the_same_city_courier() -> None:
    assert carrier(Destination("江苏", "南京市"), NJ, delivery=Delivery.INSTANT) == "LOCAL"
    assert carrier(Destination("江苏", None), NJ, delivery=Delivery.INSTANT) == "LOCAL"  # capital by default
    assert (
        carrier(Destination("上海", "浦东新区"), SH, delivery=Delivery.INSTANT) == "LOCAL"
    )  # a municipality


def test_instant_delivery_outside_the_warehouses_city_follows_the_normal_rules() -> None:
    assert carrier(Destination("江苏", "苏州"), NJ, delivery=Delivery.INSTANT) == "ZTO"
    assert carrier(BEIJING, SH, delivery=Delivery.INSTANT) == "SF"


def test_instant_same_city_comes_before_the_remote_rule() -> None:
    assert carrier(XINJIANG, URUMQI, delivery=Delivery.INSTANT) == "LOCAL"
    assert carrier(XINJIANG, URUMQI, delivery=Delivery.EXPRESS) == "EMS"


def test_remote_destination_goes_postal_even_for_a_large_order() -> None:
    assert carrier(XINJIANG) == "EMS"
    assert carrier(Destination("西藏"), total_cents=POLICY.next_day_above_cents * 10) == "EMS"


@pytest.mark.parametrize("dest", [BEIJING, Destination("上海市")])
def test_tier1_destination_goes_next_day(dest: Destination) -> None:
    assert carrier(dest, GZ) == "SF"


def test_order_strictly_above_the_configured_amount_goes_next_day() -> None:
    threshold = POLICY.next_day_above_cents
    assert carrier(ZHEJIANG, total_cents=threshold) == "ZTO"
    assert carrier(ZHEJIANG, total_cents=threshold + 1) == "SF"
    cheap = CarrierPolicy(next_day_above_cents=10_000)
    assert carrier(ZHEJIANG, total_cents=10_001, policy=cheap) == "SF"
    assert carrier(ZHEJIANG, total_cents=10_000, policy=cheap) == "ZTO"


def _express_sequence(
    policy: CarrierPolicy, calls: int, unavailable: frozenset[str] = frozenset()
) -> list[str]:
    assigned: Counter[str] = Counter()
    chosen = []
    for _ in range(calls):
        code = carrier(ZHEJIANG, policy=policy, unavailable=unavailable, assigned=assigned)
        assigned[code] += 1
        chosen.append(code)
    return chosen


def _assert_prefixes_within_one(chosen: Sequence[str], weights: Sequence[tuple[str, int]]) -> None:
    total_weight = sum(w for _, w in weights)
    counts: Counter[str] = Counter()
    for n, code in enumerate(chosen, start=1):
        counts[code] += 1
        for name, weight in weights:
            # |count - weight*n/W| < 1, in integers
            assert abs(counts[name] * total_weight - weight * n) < total_weight, (n, name, counts)


def test_express_share_converges_to_60_20_20_within_one_parcel_over_1000_choices() -> None:
    chosen = _express_sequence(POLICY, 1000)
    _assert_prefixes_within_one(chosen, POLICY.express_weights)
    assert Counter(chosen) == {"ZTO": 600, "YTO": 200, "JTSD": 200}


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 100), min_size=1, max_size=3), st.integers(1, 300))
def test_any_weights_share_parcels_within_one_of_their_target(weights: list[int], calls: int) -> None:
    table = tuple((f"C{i}", w) for i, w in enumerate(weights))
    policy = CarrierPolicy(express_weights=table)
    _assert_prefixes_within_one(_express_sequence(policy, calls), table)


def test_express_share_is_deterministic_and_ties_go_by_listed_order() -> None:
    even = CarrierPolicy(express_weights=(("YTO", 1), ("ZTO", 1)))
    assert _express_sequence(even, 4) == ["YTO", "ZTO", "YTO", "ZTO"]
    assert _express_sequence(POLICY, 50) == _express_sequence(POLICY, 50)
    assert (
        choose_carrier(ZHEJIANG, SH, 100, Delivery.EXPRESS, POLICY) == "ZTO"
    )  # default: nothing assigned yet


def test_express_share_counts_only_express_carriers() -> None:
    assert carrier(ZHEJIANG, assigned={"SF": 500, "EMS": 90}) == "ZTO"
    assert carrier(ZHEJIANG, assigned={"ZTO": 3}) == "YTO"


# --- unavailable and full carriers ----------------------------------------------------------------------


def test_unavailable_next_day_carrier_falls_back_to_weighted_express() -> None:
    assert carrier(BEIJING, unavailable=frozenset({"SF"})) == "ZTO"
    assert carrier(BEIJING, unavailable=frozenset({"SF"}), assigned={"ZTO": 1}) == "YTO"


def test_unavailable_postal_carrier_falls_back_to_next_day_then_express() -> None:
    assert carrier(XINJIANG, unavailable=frozenset({"EMS"})) == "SF"
    assert carrier(XINJIANG, unavailable=frozenset({"EMS", "SF"})) == "ZTO"


def test_unavailable_same_city_courier_falls_back_to_the_normal_rules() -> None:
    down = frozenset({"LOCAL"})
    assert carrier(Destination("江苏", "南京"), NJ, delivery=Delivery.INSTANT, unavailable=down) == "ZTO"
    assert carrier(Destination("上海"), SH, delivery=Delivery.INSTANT, unavailable=down) == "SF"
    assert carrier(XINJIANG, URUMQI, delivery=Delivery.INSTANT, unavailable=down) == "EMS"


def test_remaining_express_carriers_share_by_their_own_weights() -> None:
    chosen = _express_sequence(POLICY, 400, unavailable=frozenset({"YTO"}))
    assert Counter(chosen) == {"ZTO": 300, "JTSD": 100}
    _assert_prefixes_within_one(chosen, (("ZTO", 60), ("JTSD", 20)))


def test_carrier_at_its_daily_capacity_is_skipped() -> None:
    capped = CarrierPolicy(capacity=(("SF", 2), ("ZTO", 0)))
    assert carrier(BEIJING, policy=capped, assigned={"SF": 1}) == "SF"
    assert carrier(BEIJING, policy=capped, assigned={"SF": 2}) == "YTO"  # SF full; ZTO has no room at all
    assert Counter(_express_sequence(capped, 100)) == {"YTO": 50, "JTSD": 50}


def test_no_carrier_left_is_refused() -> None:
    everything = frozenset({"ZTO", "YTO", "JTSD", "SF"})
    with pytest.raises(DomainError) as caught:
        carrier(BEIJING, unavailable=everything)
    assert caught.value.code == "no_carrier"
    full = CarrierPolicy(express_weights=(("ZTO", 1),), capacity=(("ZTO", 3),))
    with pytest.raises(DomainError) as again:
        carrier(ZHEJIANG, policy=full, assigned={"ZTO": 3})
    assert again.value.code == "no_carrier"


# --- carrier input checks -------------------------------------------------------------------------------


@pytest.mark.parametrize("total", [-1, True, 1.5])
def test_order_total_must_be_whole_cents_not_negative(total: int) -> None:
    with pytest.raises(DomainError) as caught:
        carrier(ZHEJIANG, total_cents=total)
    assert caught.value.field == "total_cents"


def test_negative_assigned_count_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        carrier(ZHEJIANG, assigned={"ZTO": -1})
    assert caught.value.field == "assigned"


def test_carrier_for_an_unknown_province_is_refused() -> None:
    with pytest.raises(DomainError) as caught:
        carrier(Destination("Lilliput"))
    assert (caught.value.field, caught.value.code) == ("buyer.province", "unknown_province")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"express_weights": ()}, "express_weights"),
        ({"express_weights": (("ZTO", 0),)}, "express_weights"),
        ({"express_weights": (("ZTO", 1), ("ZTO", 2))}, "express_weights"),
        ({"express_weights": (("", 1),)}, "express_weights"),
        ({"capacity": (("SF", -1),)}, "capacity"),
        ({"next_day_above_cents": -1}, "next_day_above_cents"),
        ({"next_day": ""}, "next_day"),
    ],
)
def test_carrier_policy_refuses_nonsense(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(DomainError) as caught:
        CarrierPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_carrier_policy_given_lists_stores_tuples() -> None:
    policy = CarrierPolicy(express_weights=[["YD", 1]], capacity=[["YD", 5]])  # type: ignore[arg-type]
    assert (policy.express_weights, policy.capacity) == ((("YD", 1),), (("YD", 5),))
    assert hash(policy) == hash(CarrierPolicy(express_weights=(("YD", 1),), capacity=(("YD", 5),)))


# --- a day of carrier choices ---------------------------------------------------------------------------

DAY_POLICY = CarrierPolicy(capacity=(("SF", 4), ("EMS", 2), ("ZTO", 25), ("LOCAL", 3)))
DAY_WAREHOUSES = (SH, GZ, NJ, URUMQI)
DESTINATIONS = (ZHEJIANG, BEIJING, XINJIANG, GUANGDONG, Destination("江苏", "南京"), Destination("上海"))


class CarrierDay(RuleBasedStateMachine):
    """A day of parcels with carriers dropping out and coming back: no carrier is ever used while unavailable
    or past its capacity, and each special carrier is used only where its rule applies."""

    def __init__(self) -> None:
        super().__init__()
        self.assigned: Counter[str] = Counter()
        self.unavailable: set[str] = set()

    @rule(carrier_code=st.sampled_from(["SF", "EMS", "LOCAL", "ZTO", "YTO", "JTSD"]))
    def toggle(self, carrier_code: str) -> None:
        self.unavailable ^= {carrier_code}

    @rule(
        dest=st.sampled_from(DESTINATIONS),
        warehouse=st.sampled_from(DAY_WAREHOUSES),
        total=st.integers(0, 100_000),
        delivery=st.sampled_from(list(Delivery)),
    )
    def ship(self, dest: Destination, warehouse: Warehouse, total: int, delivery: Delivery) -> None:
        try:
            code = choose_carrier(
                dest, warehouse, total, delivery, DAY_POLICY, frozenset(self.unavailable), self.assigned
            )
        except DomainError as error:
            assert error.code == "no_carrier"
            assert all(not self._usable(c) for c, _ in DAY_POLICY.express_weights)
            return
        assert self._usable(code)
        self._assert_rule_applies(code, dest, warehouse, total, delivery)
        self.assigned[code] += 1

    def _usable(self, code: str) -> bool:
        cap = dict(DAY_POLICY.capacity).get(code)
        return code not in self.unavailable and (cap is None or self.assigned[code] < cap)

    def _assert_rule_applies(
        self, code: str, dest: Destination, warehouse: Warehouse, total: int, delivery: Delivery
    ) -> None:
        remote = geo.is_remote(dest.province)
        if code == "LOCAL":
            assert delivery is Delivery.INSTANT
            assert geo.same_city(dest.province, dest.city, warehouse.province, warehouse.city)
        elif code == "EMS":
            assert remote
        elif code == "SF":
            assert remote or geo.is_tier1(dest.province, dest.city) or total > DAY_POLICY.next_day_above_cents

    @invariant()
    def nobody_exceeds_capacity(self) -> None:
        for code, cap in DAY_POLICY.capacity:
            assert self.assigned[code] <= cap


CarrierDay.TestCase.settings = settings(max_examples=40, stateful_step_count=60, deadline=None)
test_a_day_of_carrier_choices_respects_availability_capacity_and_rules = CarrierDay.TestCase
