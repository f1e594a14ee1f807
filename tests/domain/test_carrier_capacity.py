"""Carrier capacity and dynamic allocation (issue 13): shares kept while every carrier has room, never more than
a carrier's remaining capacity, overflow to the carriers with the most room left, a carrier down gets nothing;
the ops wall's bar levels and exception rate."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import carriers
from domain.errors import DomainError
from domain.routing import CarrierPolicy, Delivery, Destination, Warehouse, choose_carrier, room_left

SH = Warehouse("SH", "上海仓", "上海市", "上海")
ZHEJIANG = Destination("浙江省", "杭州")  # neither remote nor tier 1: the express share decides
BEIJING = Destination("北京市")  # tier 1: next-day first


def allocate(policy: CarrierPolicy, parcels: int, down: frozenset[str] = frozenset(),
             used: Counter[str] | None = None, dest: Destination = ZHEJIANG) -> list[str]:
    assigned: Counter[str] = Counter(used or {})
    chosen = []
    for _ in range(parcels):
        code = choose_carrier(dest, SH, 9_900, Delivery.EXPRESS, policy, down, assigned)
        assigned[code] += 1
        chosen.append(code)
    return chosen


def test_shares_are_kept_while_every_carrier_has_room() -> None:
    roomy = CarrierPolicy(capacity=(("ZTO", 600), ("YTO", 200), ("JTSD", 200)))
    assert Counter(allocate(roomy, 1000)) == {"ZTO": 600, "YTO": 200, "JTSD": 200}
    assert allocate(roomy, 100) == allocate(CarrierPolicy(), 100)


def test_a_carrier_is_never_given_more_than_its_remaining_capacity() -> None:
    policy = CarrierPolicy(capacity=(("ZTO", 50),))
    assert Counter(allocate(policy, 300, used=Counter({"ZTO": 40})))["ZTO"] == 10  # its ten left, no more


def test_overflow_goes_to_the_carrier_with_the_most_room_left() -> None:
    policy = CarrierPolicy(capacity=(("ZTO", 0), ("YTO", 100), ("JTSD", 30)))
    chosen = allocate(policy, 100)
    # ZTO is full: its 60% goes to YTO (most room) until YTO's room falls to JTSD's, then they take turns.
    counts = Counter(chosen)
    assert counts["ZTO"] == 0 and counts["YTO"] + counts["JTSD"] == 100
    assert 100 - counts["YTO"] in (30 - counts["JTSD"], 30 - counts["JTSD"] + 1)  # room left ends level
    assert chosen[:3] == ["YTO", "YTO", "YTO"]


def test_overflow_between_carriers_with_equal_room_follows_their_weights() -> None:
    policy = CarrierPolicy(capacity=(("ZTO", 0),))  # YTO and JTSD unlimited, 20/20
    assert Counter(allocate(policy, 100)) == {"YTO": 50, "JTSD": 50}


def test_a_carrier_marked_down_gets_nothing_until_it_is_up() -> None:
    down = frozenset({"ZTO"})
    assert "ZTO" not in allocate(CarrierPolicy(), 200, down=down)
    assert "SF" not in allocate(CarrierPolicy(), 20, down=frozenset({"SF"}), dest=BEIJING)
    assert allocate(CarrierPolicy(), 1)[0] == "ZTO"  # up again: it takes its share


def test_a_full_next_day_carrier_overflows_to_the_express_carriers() -> None:
    policy = CarrierPolicy(capacity=(("SF", 2),))
    assert allocate(policy, 5, dest=BEIJING) == ["SF", "SF", "ZTO", "YTO", "ZTO"]


def test_every_carrier_full_or_down_refuses_the_parcel() -> None:
    policy = CarrierPolicy(capacity=(("ZTO", 1), ("YTO", 0), ("JTSD", 0)))
    with pytest.raises(DomainError) as caught:
        allocate(policy, 2)
    assert caught.value.code == "no_carrier"


def test_capacity_set_by_operations_overrides_the_configured_one() -> None:
    policy = CarrierPolicy(capacity=(("ZTO", 10),)).with_capacity({"ZTO": None, "YTO": 5})
    assert dict(policy.capacity) == {"YTO": 5}
    assert room_left(policy, "ZTO", {"ZTO": 10**6}) is None and room_left(policy, "YTO", {"YTO": 7}) == 0


capacities = st.one_of(st.none(), st.integers(0, 80))


@settings(max_examples=120, deadline=None)
@given(zto=capacities, yto=capacities, jtsd=capacities, parcels=st.integers(1, 250),
       down=st.sets(st.sampled_from(["ZTO", "YTO", "JTSD"]), max_size=2))
def test_property_never_over_capacity_and_shares_kept_while_room(
    zto: int | None, yto: int | None, jtsd: int | None, parcels: int, down: set[str]
) -> None:
    caps = {"ZTO": zto, "YTO": yto, "JTSD": jtsd}
    policy = CarrierPolicy().with_capacity(caps)
    unlimited = CarrierPolicy()
    assigned: Counter[str] = Counter()
    for n in range(parcels):
        try:
            code = choose_carrier(ZHEJIANG, SH, 9_900, Delivery.EXPRESS, policy, frozenset(down), assigned)
        except DomainError as error:  # only when nobody up has room
            assert error.code == "no_carrier"
            assert all(c in down or (caps[c] is not None and assigned[c] >= caps[c]) for c in caps)
            return
        assert code not in down
        room = {c: None if caps[c] is None else caps[c] - assigned[c] for c in caps}
        if all(r is None or r > 0 for c, r in room.items() if c not in down):
            # every carrier up has room: exactly the configured share's choice
            assert code == choose_carrier(ZHEJIANG, SH, 9_900, Delivery.EXPRESS, unlimited, frozenset(down), assigned)
        else:
            share = choose_carrier(ZHEJIANG, SH, 9_900, Delivery.EXPRESS, unlimited, frozenset(down), assigned)
            if room[share] == 0:  # the share's pick is full: the overflow goes to the most room left
                best = max((r is None, r or 0) for c, r in room.items() if c not in down)
                assert (room[code] is None, room[code] or 0) == best
            else:
                assert code == share
        assigned[code] += 1
        assert all(caps[c] is None or assigned[c] <= caps[c] for c in caps), (n, assigned)


@pytest.mark.parametrize(("used", "capacity", "level"), [
    (0, 100, "ok"), (79, 100, "ok"), (80, 100, "amber"), (94, 100, "amber"), (95, 100, "red"),
    (120, 100, "red"), (5, None, "ok"), (0, 0, "red"), (4, 5, "amber"), (19, 20, "red"),
])
def test_the_bar_turns_amber_at_80_percent_and_red_at_95(used: int, capacity: int | None, level: str) -> None:
    assert carriers.load_level(used, capacity) == level


def test_exception_rate_is_problem_returned_and_stuck_over_parcels() -> None:
    assert carriers.exception_rate(0, 0, 0, 0) == 0.0
    assert carriers.exception_rate(200, 3, 1, 2) == 0.03
    assert carriers.exception_rate(3, 2, 1, 2) == 1.0  # capped


def test_provinces_a_carrier_covers_are_known_provinces_in_short_form() -> None:
    assert carriers.covered_provinces(["广东省", "浙江", "广东"]) == ("广东", "浙江")
    with pytest.raises(DomainError) as caught:
        carriers.covered_provinces(["浙江", "Lilliput"])
    assert (caught.value.field, caught.value.code) == ("provinces[1]", "unknown_province")
