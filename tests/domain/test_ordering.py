"""Placing an order decided without a database: a frozen snapshot in, a frozen decision and its events out."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import commission, deals, ordering, routing, stock
from domain.address import Address
from domain.attribution import Binding, BindingMode, BindingPolicy
from domain.errors import DomainError, SoldOut
from domain.events import (
    CommissionMoved,
    OrderAccepted,
    OrderHeld,
    ShipmentPlanned,
    StockChanged,
    VisitorBound,
)

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW = START + timedelta(minutes=90)  # live, past the first hour

GUANGZHOU = Address("张三", "13800138000", "广东", "广州", "天河区", "天河路385号太古汇1座")
LANDLINE = dataclasses.replace(GUANGZHOU, phone="020-12345678")

WAREHOUSES = (
    routing.Warehouse("SH", "上海仓", "上海", "上海市"),
    routing.Warehouse("GZ", "广州仓", "广东省", "广州市"),
    routing.Warehouse("BJ", "北京仓", "北京", "北京"),
)
SKUS = {
    "tea": ordering.Sku("tea", 12_800),
    "mango": ordering.Sku("mango", 5_990),
    "serum": ordering.Sku("serum", 25_900, presale_when_sold_out=True),
    "socks": ordering.Sku("socks", 990),  # sold, but not in room-1
}
RATES = commission.RoomRates(
    base_rate_bp=1000,
    starts_at=START,
    after_sale_days=7,
    live_rate_bp=1500,
    ends_at=START + timedelta(hours=4),
)
ROOMS = {
    "room-1": ordering.Room(
        "room-1", frozenset({"tea", "mango", "serum"}), RATES, BindingPolicy(BindingMode.FIRST_TOUCH, 7)
    ),
    "room-2": ordering.Room("room-2", frozenset(), RATES, BindingPolicy(BindingMode.FIRST_TOUCH, 7)),
}
LEADERS = {
    "lead-a": ordering.Leader("lead-a"),
    "lead-b": ordering.Leader("lead-b", upline="lead-a"),
    "lead-c": ordering.Leader("lead-c", pickup=routing.Destination("北京", "北京")),
}
LINKS = {
    "code-a": ordering.Link("code-a", "room-1", "lead-a"),
    "code-b": ordering.Link("code-b", "room-1", "lead-b"),
    "code-c": ordering.Link("code-c", "room-1", "lead-c"),
    "code-other": ordering.Link("code-other", "room-2", "lead-a"),
}


def levels(**on_hand: int) -> dict[tuple[str, str], stock.StockLevel]:
    """`tea_GZ=5` → tea in GZ, 5 on hand."""
    out = {}
    for key, units in on_hand.items():
        sku, warehouse = key.split("_")
        out[(sku, warehouse)] = stock.StockLevel(sku, warehouse, units, 0)
    return out


def snapshot(**overrides: Any) -> ordering.Snapshot:
    values: dict[str, Any] = {
        "now": NOW,
        "rooms": ROOMS,
        "skus": SKUS,
        "levels": levels(tea_SH=100, tea_GZ=100, tea_BJ=100, mango_GZ=50, serum_SH=5),
        "warehouses": WAREHOUSES,
        "links": LINKS,
        "bindings": {},
        "leaders": LEADERS,
        "uplines": {name: leader.upline for name, leader in LEADERS.items()},
        "deals": {},
        "gmv": {},
        "carrier_load": {},
        "unavailable": frozenset(),
        "policy": routing.CarrierPolicy(),
    }
    values.update(overrides)
    return ordering.Snapshot(**values)


def request(*items: tuple[str, int], **overrides: Any) -> ordering.OrderRequest:
    values: dict[str, Any] = {
        "order": "o-1",
        "room": "room-1",
        "visitor": "v-1",
        "code": None,
        "buyer": GUANGZHOU,
        "items": items or (("tea", 1),),
        "delivery": "express",
        "at": None,
    }
    values.update(overrides)
    return ordering.OrderRequest(**values)


def refusal(req: ordering.OrderRequest, snap: ordering.Snapshot | None = None) -> DomainError:
    with pytest.raises(DomainError) as refused:
        ordering.decide(req, snap or snapshot())
    return refused.value


# --- what may be ordered where


def test_a_sku_not_sold_in_the_room_is_refused_naming_its_line() -> None:
    error = refusal(request(("tea", 1), ("socks", 2)))
    assert (error.code, error.field) == ("sku_not_in_room", "items[1].sku")


def test_a_room_listing_no_skus_sells_every_sku() -> None:
    assert (
        ordering.decide(request(("socks", 1), room="room-2"), snapshot(levels=levels(socks_GZ=3))).total_cents
        == 990
    )


def test_an_unknown_sku_or_room_is_not_found() -> None:
    assert (refusal(request(("caviar", 1))).code, refusal(request(("caviar", 1))).field) == (
        "not_found",
        "items[0].sku",
    )
    assert refusal(request(room="room-9")).field == "room"


def test_a_share_code_from_another_room_is_refused_not_credited() -> None:
    error = refusal(request(code="code-other"))
    assert (error.code, error.field) == ("code_other_room", "code")


def test_an_unknown_share_code_is_refused() -> None:
    assert (refusal(request(code="nope")).code, refusal(request(code="nope")).field) == ("not_found", "code")


def test_a_share_code_of_the_room_binds_the_visitor_and_credits_its_leader() -> None:
    decision = ordering.decide(request(code="code-a"), snapshot())
    assert decision.leader == "lead-a" and decision.binding is not None and decision.binds_anew
    assert isinstance(decision.events[0], VisitorBound) and decision.events[0].leader == "lead-a"


def test_a_protected_binding_keeps_the_order_and_the_code_leader_gets_an_assist() -> None:
    bound = Binding("v-1", "lead-b", NOW - timedelta(days=1), NOW + timedelta(days=6))
    decision = ordering.decide(request(code="code-a"), snapshot(bindings={"v-1": bound}))
    assert decision.leader == "lead-b" and decision.attribution.assists == ("lead-a",)
    assert not decision.binds_anew and not any(isinstance(e, VisitorBound) for e in decision.events)


# --- the buyer


@pytest.mark.parametrize(
    ("name", "masked"), [("张三", "张*"), ("欧阳娜娜", "欧**"), ("李", "李*"), ("  ", "*"), ("", "*")]
)
def test_the_public_feed_shows_the_first_character_of_the_name_and_stars(name: str, masked: str) -> None:
    assert ordering.mask_name(name) == masked


def test_the_order_event_carries_the_masked_name_never_the_name() -> None:
    decision = ordering.decide(request(), snapshot())
    accepted = next(e for e in decision.events if isinstance(e, OrderAccepted))
    assert decision.buyer_masked == accepted.buyer_masked == "张*"
    assert "张三" not in repr(decision.events)


def test_an_address_screening_flags_holds_the_order_and_gets_no_waybill() -> None:
    decision = ordering.decide(request(buyer=LANDLINE), snapshot())
    assert decision.status == "held" and decision.flags == ("phone_not_mobile",)
    assert decision.waybills_wanted == ()
    assert [e.kind for e in decision.events if isinstance(e, OrderHeld)] == ["order_held"]
    assert all(p.waybill is None for p in decision.shipments)
    with pytest.raises(DomainError) as refused:
        decision.with_waybills(["ZT100"])
    assert refused.value.code == "held"


def test_an_accepted_order_takes_one_waybill_per_parcel_into_its_parcels_and_events() -> None:
    snap = snapshot(levels=levels(tea_SH=5, mango_GZ=50, mango_BJ=50))
    decision = ordering.decide(request(("tea", 1), ("mango", 60)), snap)
    assert decision.status == "accepted" and len(decision.shipments) == 3  # SH tea; GZ and BJ share the mango
    assert decision.waybills_wanted == tuple(p.carrier for p in decision.shipments)
    numbered = decision.with_waybills(["W1", "W2", "W3"])
    assert [p.waybill for p in numbered.shipments] == ["W1", "W2", "W3"]
    planned = [e for e in numbered.events if isinstance(e, ShipmentPlanned)]
    assert [(e.shipment, e.waybill) for e in planned] == [(p.shipment, p.waybill) for p in numbered.shipments]
    assert decision.shipments[0].waybill is None  # the decision itself is unchanged


# --- stock, presale, routing


def test_a_sold_out_sku_with_presale_waits_whole_and_takes_no_stock() -> None:
    decision = ordering.decide(request(("serum", 3), ("tea", 1), ("serum", 4)), snapshot())
    assert decision.presale == (("serum", 7),)
    assert all(sku != "serum" for p in decision.shipments for sku, _ in p.lines)
    assert all(level.sku != "serum" for level in decision.reserved.values())
    assert next(e for e in decision.events if isinstance(e, OrderAccepted)).presale


def test_a_sold_out_sku_without_presale_is_refused_naming_its_first_line() -> None:
    with pytest.raises(SoldOut) as sold_out:
        ordering.decide(request(("tea", 1), ("mango", 51)), snapshot())
    assert (sold_out.value.field, sold_out.value.available) == ("items[1].sku", 50)


def test_stock_in_a_warehouse_that_is_down_is_not_available_for_presale_either() -> None:
    down = tuple(dataclasses.replace(w, active=False) if w.code == "SH" else w for w in WAREHOUSES)
    decision = ordering.decide(request(("serum", 1)), snapshot(warehouses=down))
    assert decision.presale == (("serum", 1),) and decision.shipments == ()


def test_the_order_reserves_from_the_nearest_warehouse_and_says_so_in_a_stock_event() -> None:
    decision = ordering.decide(request(("tea", 2)), snapshot())
    assert [(p.shipment, p.warehouse.code, p.lines) for p in decision.shipments] == [
        ("o-1-1", "GZ", (("tea", 2),))
    ]
    assert decision.reserved == {("tea", "GZ"): stock.StockLevel("tea", "GZ", 100, 2)}
    changed = [e for e in decision.events if isinstance(e, StockChanged)]
    assert [(e.sku, e.warehouse, e.reserved, e.sold) for e in changed] == [("tea", "GZ", 2, 2)]


def test_a_pickup_order_ships_to_its_leaders_pickup_point() -> None:
    decision = ordering.decide(request(code="code-c", delivery="pickup"), snapshot())
    assert decision.destination == routing.Destination("北京", "北京")
    assert decision.shipments[0].warehouse.code == "BJ"


def test_a_switched_off_carrier_is_not_chosen() -> None:
    chosen = ordering.decide(request(), snapshot()).shipments[0].carrier
    other = ordering.decide(request(), snapshot(unavailable=frozenset({chosen}))).shipments[0].carrier
    assert other != chosen


# --- price and commission


def test_a_buyer_bound_to_the_deals_leader_pays_the_deal_price_within_its_quota() -> None:
    deal = deals.Deal("room-1", "tea", "lead-a", 9_900, quota=2, used=1)
    decision = ordering.decide(
        request(("tea", 3), code="code-a"), snapshot(deals={("room-1", "tea", "lead-a"): deal})
    )
    assert decision.total_cents == 9_900 + 2 * 12_800
    assert decision.deals_used["tea"].used == 2


def test_the_deal_of_another_leader_does_not_apply() -> None:
    deal = deals.Deal("room-1", "tea", "lead-b", 9_900, quota=5)
    decision = ordering.decide(
        request(("tea", 1), code="code-a"), snapshot(deals={("room-1", "tea", "lead-b"): deal})
    )
    assert decision.total_cents == 12_800 and decision.deals_used == {}


def test_the_leader_accrues_the_live_rate_and_the_upline_the_team_rate() -> None:
    rates = dataclasses.replace(RATES, team_rate_bp=300)
    rooms = {"room-1": dataclasses.replace(ROOMS["room-1"], rates=rates)}
    decision = ordering.decide(request(("tea", 1), code="code-b"), snapshot(rooms=rooms))
    assert [(e.leader, e.role, e.amount_cents) for e in decision.ledger] == [
        ("lead-b", commission.Role.LEADER, 1_920),
        ("lead-a", commission.Role.TEAM, 384),
    ]
    assert decision.leader_commission is not None and decision.leader_commission.amount_cents == 1_920
    assert [e.leader for e in decision.events if isinstance(e, CommissionMoved)] == ["lead-b", "lead-a"]


def test_an_order_without_code_or_binding_belongs_to_the_house_and_accrues_nothing() -> None:
    decision = ordering.decide(request(), snapshot())
    assert decision.leader is None and decision.ledger == () and decision.leader_commission is None


def test_an_order_time_given_by_the_request_wins_over_now() -> None:
    at = START + timedelta(minutes=5)
    assert ordering.decide(request(at=at), snapshot()).at == at
    assert ordering.decide(request(), snapshot()).at == NOW


# --- properties


def _snapshot_untouched(before: Mapping[Any, Any], after: Mapping[Any, Any]) -> bool:
    return dict(before) == dict(after)


@settings(max_examples=150, deadline=None)
@given(
    items=st.lists(
        st.tuples(st.sampled_from(["tea", "mango", "serum"]), st.integers(1, 40)), min_size=1, max_size=5
    ),
    stocked=st.dictionaries(
        st.tuples(st.sampled_from(["tea", "mango", "serum"]), st.sampled_from(["SH", "GZ", "BJ"])),
        st.integers(0, 60),
    ),
    held=st.booleans(),
)
def test_a_decision_ships_or_presells_exactly_what_was_ordered_and_never_oversells(
    items: list[tuple[str, int]], stocked: dict[tuple[str, str], int], held: bool
) -> None:
    book = {key: stock.StockLevel(key[0], key[1], units, 0) for key, units in stocked.items()}
    snap = snapshot(levels=book)
    req = request(*items, buyer=LANDLINE if held else GUANGZHOU)
    try:
        decision = ordering.decide(req, snap)
    except SoldOut as sold_out:
        assert sold_out.sku in ("tea", "mango") and sold_out.field is not None
        return
    assert _snapshot_untouched(book, snap.levels)  # the domain decides; the caller applies
    wanted = ordering.aggregate(items)
    shipped = ordering.aggregate(line for p in decision.shipments for line in p.lines)
    presold = dict(decision.presale)
    assert {sku: shipped.get(sku, 0) + presold.get(sku, 0) for sku in wanted} == wanted
    assert set(presold) <= {"serum"}
    for level in decision.reserved.values():
        assert 0 <= level.reserved <= level.on_hand
    assert decision.total_cents == sum(SKUS[sku].price_cents * qty for sku, qty in items)
    assert (decision.waybills_wanted == ()) == (held or not decision.shipments)
