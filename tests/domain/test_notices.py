"""The delay-notice matching rule (domain/notices.py): each criterion optional, combined with AND, at least one."""

from __future__ import annotations

import pytest

from domain.errors import DomainError
from domain.notices import MAX_TEXT_CHARS, Criteria, Notice, OrderFacts, clean_text, notices_for

ORDER = OrderFacts(room="room-1", province="广东", parcels=(("GZ", "SF"), ("SH", "ZTO")))


def test_a_province_matches_however_the_buyer_wrote_it() -> None:
    for written in ("广东", "广东省"):
        assert Criteria.of(province=written).matches(ORDER)
        assert Criteria.of(province="广东").matches(OrderFacts("room-1", written))
    assert Criteria.of(province="广东省").province == "广东省"
    assert not Criteria.of(province="上海").matches(ORDER)


def test_every_criterion_given_must_hold() -> None:
    assert Criteria.of(room="room-1", province="广东", warehouse="GZ", carrier="SF").matches(ORDER)
    assert not Criteria.of(room="room-2", province="广东").matches(ORDER)
    assert not Criteria.of(room="room-1", province="北京").matches(ORDER)
    assert Criteria.of(warehouse="SH").matches(ORDER)
    assert Criteria.of(carrier="zto").matches(ORDER)  # carrier codes are upper-cased
    assert not Criteria.of(warehouse="BJ").matches(ORDER)


def test_warehouse_and_carrier_must_hold_on_the_same_parcel() -> None:
    assert Criteria.of(warehouse="GZ", carrier="SF").matches(ORDER)
    assert not Criteria.of(warehouse="GZ", carrier="ZTO").matches(ORDER)


def test_a_cancelled_order_matches_nothing() -> None:
    cancelled = OrderFacts.of("room-1", "广东", [("GZ", "SF")], "cancelled")
    assert not Criteria.of(room="room-1").matches(cancelled)
    assert Criteria.of(room="room-1").matches(OrderFacts.of("room-1", "广东", [("GZ", "SF")], "held"))


def test_a_notice_needs_at_least_one_criterion_and_a_known_province() -> None:
    with pytest.raises(DomainError) as none:
        Criteria.of()
    assert none.value.code == "no_criteria"
    with pytest.raises(DomainError) as unknown:
        Criteria.of(province="火星")
    assert unknown.value.field == "province"
    with pytest.raises(DomainError) as carrier:
        Criteria.of(carrier="S F")
    assert carrier.value.field == "carrier"


def test_the_text_is_cleaned_and_bounded() -> None:
    assert clean_text(" 暴雨\u200b  延迟\n\t1 天\x07 ") == "暴雨 延迟 1 天"
    assert len(clean_text("延" * MAX_TEXT_CHARS)) == MAX_TEXT_CHARS
    for bad in ("", " \n ", "\u200b", "延" * (MAX_TEXT_CHARS + 1)):
        with pytest.raises(DomainError) as refused:
            clean_text(bad)
        assert refused.value.field == "text"


def test_an_order_shows_its_matching_notices_oldest_first() -> None:
    later = Notice("n-2", "上海仓", Criteria.of(warehouse="SH"), "2026-11-23T13:00:00+00:00")
    earlier = Notice("n-1", "广东", Criteria.of(province="广东"), "2026-11-23T12:00:00+00:00")
    elsewhere = Notice("n-3", "北京", Criteria.of(province="北京"), "2026-11-23T11:00:00+00:00")
    assert [n["notice"] for n in notices_for([later, elsewhere, earlier], ORDER)] == ["n-1", "n-2"]
    assert notices_for([earlier], ORDER)[0] == {"notice": "n-1", "text": "广东", "at": "2026-11-23T12:00:00+00:00"}
