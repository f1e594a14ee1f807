"""Screening: an order is held for its leader when its phone, city or street address would not deliver."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from domain import geo
from domain.screening import Address, Flag, check, normalize, normalize_phone, street_part

GOOD = Address("张三", "+86 138-0013-8000", "广东", "广州", "天河区", "天河路385号太古汇1座")
BEIJING = Address("李四", "13800138000", "北京市", "北京市", "朝阳区", "建国路88号")

MUNICIPAL = {"北京市", "天津市", "上海市", "重庆市", "香港特别行政区", "澳门特别行政区"}
PREFECTURAL = sorted(p.name for p in geo.PROVINCES if p.name not in MUNICIPAL)


# --- phone


@pytest.mark.parametrize(
    "raw",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138-0013-8000",
        "+8613800138000",
        "008613800138000",
        "8613800138000",
        "(+86) 138 0013 8000",
        "１３８００１３８０００",
        " 13800138000 ",
    ],
)
def test_mainland_mobile_written_any_usual_way_normalizes_to_11_digits(raw: str) -> None:
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "12800138000",  # 12x is not a mobile range
        "1380013800",  # 10 digits
        "138001380001",  # 12 digits
        "020-38888888",  # Guangzhou landline
        "+852 9123 4567",  # Hong Kong mobile
        "+1 415 555 0100",
        "138OO138OOO",  # letters O for zeros
        "86 138 0013 800",  # prefix but only 10 digits left
        "13800138000 ext 1",
    ],
)
def test_anything_but_a_mainland_mobile_is_refused(raw: str) -> None:
    assert normalize_phone(raw) is None


separators = st.sampled_from(["", " ", "-", " - "])


@settings(max_examples=200, deadline=None)
@given(
    second=st.sampled_from("3456789"),
    rest=st.text(alphabet="0123456789", min_size=9, max_size=9),
    prefix=st.sampled_from(["", "+86", "0086", "86", "+86 "]),
    cuts=st.lists(st.integers(1, 10), max_size=3),
    sep=separators,
)
def test_any_formatting_of_a_mobile_number_normalizes_back_to_it(
    second: str, rest: str, prefix: str, cuts: list[int], sep: str
) -> None:
    number = "1" + second + rest
    written = number
    for cut in sorted(set(cuts), reverse=True):
        written = written[:cut] + sep + written[cut:]
    assert normalize_phone(prefix + written) == number


@settings(max_examples=200, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=0, max_size=15))
def test_a_digit_string_is_a_mobile_only_if_it_is_11_digits_1_then_3_to_9(digits: str) -> None:
    national = digits
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            national = digits[len(prefix) :]
    is_mobile = len(national) == 11 and national[0] == "1" and national[1] in "3456789"
    assert (normalize_phone(digits) is not None) is is_mobile


# --- addresses that ship


@pytest.mark.parametrize(
    "address",
    [
        GOOD,
        BEIJING,
        Address("王五", "13912345678", "广东省", "广州市", "天河区", "广东省广州市天河区天河路385号"),
        Address("王五", "13912345678", "北京", "朝阳区", "", "朝阳北路1号院2号楼"),
        Address("王五", "13912345678", "上海", "上海", "浦东新区", "世纪大道100号"),
        Address("王五", "13912345678", "广东", "中山", "石岐区", "中山路1号"),
        Address("王五", "13912345678", "吉林", "延边朝鲜族自治州", "延吉市", "延边州延吉市公园路1号"),
        Address("王五", "13912345678", "湖北", "仙桃", "沙嘴街道", "仙桃大道东8号"),
        Address("王五", "13912345678", "新疆", "喀什地区", "喀什市", "人民东路12号"),
        Address("王五", "13912345678", "浙江", "杭州", "西湖区", "文三路 90 号 东部软件园"),
        Address("王五", "13912345678", "四川", "成都", "锦江区", "春熙路步行街"),
    ],
)
def test_addresses_written_the_way_buyers_write_them_ship(address: Address) -> None:
    assert check(address) == ()


@settings(max_examples=300, deadline=None)
@given(
    prov_name=st.sampled_from(sorted(p.name for p in geo.PROVINCES)),
    data=st.data(),
    short_province=st.booleans(),
)
def test_every_city_of_every_province_ships_with_a_good_street(
    prov_name: str, data: st.DataObject, short_province: bool
) -> None:
    prov = geo.province(prov_name)
    assert prov is not None
    city = data.draw(st.sampled_from(geo.CITIES[prov_name]))
    written_city = data.draw(st.sampled_from([city, geo.canonical_city(prov_name, city) or city]))
    address = Address(
        "赵六",
        "15012345678",
        prov.short if short_province else prov.name,
        written_city,
        "某某区",
        "幸福路12号",
    )
    assert check(address) == ()


# --- each flag


def test_a_landline_holds_the_order_for_phone_not_mobile() -> None:
    assert check(replace(GOOD, phone="020-38888888")) == (Flag.PHONE_NOT_MOBILE,)


def test_an_unknown_province_holds_the_order_and_the_city_is_not_judged() -> None:
    assert check(replace(GOOD, province="火星")) == (Flag.PROVINCE_UNKNOWN,)
    assert check(replace(GOOD, province="")) == (Flag.PROVINCE_UNKNOWN,)


@pytest.mark.parametrize(
    ("prov", "city"),
    [
        ("广东", "杭州"),
        ("广东", "北京"),
        ("北京", "广州"),
        ("上海", "朝阳区"),
        ("辽宁", "朝阳区"),
        ("广东", ""),
    ],
)
def test_a_city_outside_the_province_holds_the_order(prov: str, city: str) -> None:
    assert check(replace(GOOD, province=prov, city=city)) == (Flag.CITY_NOT_IN_PROVINCE,)


@settings(max_examples=200, deadline=None)
@given(a=st.sampled_from(PREFECTURAL), b=st.sampled_from(PREFECTURAL), data=st.data())
def test_a_city_of_one_province_written_under_another_is_held(a: str, b: str, data: st.DataObject) -> None:
    assume(a != b)
    city = data.draw(st.sampled_from(geo.CITIES[b]))
    assert Flag.CITY_NOT_IN_PROVINCE in check(replace(GOOD, province=a, city=city))


@pytest.mark.parametrize("district", ["", "   ", "无", "其他", "N/A", "区", "-"])
def test_a_blank_or_placeholder_district_holds_the_order(district: str) -> None:
    assert check(replace(GOOD, district=district)) == (Flag.DISTRICT_MISSING,)


def test_a_municipal_district_in_the_city_field_stands_for_the_district() -> None:
    assert check(Address("李四", "13800138000", "北京", "朝阳区", "", "建国路88号")) == ()
    assert check(Address("李四", "13800138000", "北京", "北京", "", "建国路88号")) == (Flag.DISTRICT_MISSING,)


@pytest.mark.parametrize(
    "street",
    [
        "",
        "1号楼",  # under 5 characters
        "广东省广州市天河区",  # only the places repeated
        "广东广州天河区3号",  # after the repeat, 2 characters
        "放门口谢谢啊",  # no digit, no locating word
        "到了打电话给我",
        "天河区 ，。！",
    ],
)
def test_a_missing_or_undeliverable_street_address_holds_the_order(street: str) -> None:
    assert check(replace(GOOD, address=street)) == (Flag.ADDRESS_TOO_SHORT,)


@pytest.mark.parametrize(
    ("address", "street"),
    [
        (replace(GOOD, address="广东省广州市天河区天河路385号"), "天河路385号"),
        (replace(GOOD, address="中国 广东 广州 天河区 天河路385号"), "天河路385号"),
        (replace(GOOD, district="天河", address="天河路385号"), "天河路385号"),
        (replace(GOOD, address="广州大道中1号"), "广州大道中1号"),
        (replace(BEIJING, address="北京市北京市朝阳区朝阳北路1号"), "朝阳北路1号"),
        (replace(GOOD, address="广州市，天河区。天河路385号"), "天河路385号"),
    ],
)
def test_the_street_part_drops_the_leading_places_but_not_a_street_named_after_them(
    address: Address, street: str
) -> None:
    assert street_part(address) == street


def test_flags_come_in_a_fixed_order() -> None:
    unknown = Address("", "110", "火星", "广州", "", "a")
    assert check(unknown) == (
        Flag.PHONE_NOT_MOBILE,
        Flag.PROVINCE_UNKNOWN,
        Flag.DISTRICT_MISSING,
        Flag.ADDRESS_TOO_SHORT,
    )
    wrong_city = replace(unknown, province="广东", city="杭州")
    assert check(wrong_city) == (
        Flag.PHONE_NOT_MOBILE,
        Flag.CITY_NOT_IN_PROVINCE,
        Flag.DISTRICT_MISSING,
        Flag.ADDRESS_TOO_SHORT,
    )


def test_flags_carry_their_wire_values() -> None:
    assert [str(f) for f in Flag] == [
        "phone_not_mobile",
        "province_unknown",
        "city_not_in_province",
        "district_missing",
        "address_too_short",
    ]


# --- normalization


def test_normalize_writes_the_canonical_forms() -> None:
    assert normalize(GOOD) == Address(
        "张三", "13800138000", "广东省", "广州市", "天河区", "天河路385号太古汇1座"
    )
    assert normalize(Address(" 李四 ", "13800138000", "北京", "朝阳", "", " 建国路88号 ")) == Address(
        "李四", "13800138000", "北京市", "朝阳区", "", "建国路88号"
    )
    yanbian = normalize(replace(GOOD, province="吉林", city="延边州", district="延吉市"))
    assert (yanbian.province, yanbian.city) == ("吉林省", "延边朝鲜族自治州")


def test_normalize_keeps_what_it_does_not_know_as_written() -> None:
    odd = Address("x", " 020-38888888 ", "火星", " 奥林帕斯 ", "区", "a")
    assert normalize(odd) == Address("x", "020-38888888", "火星", "奥林帕斯", "区", "a")
    assert normalize(replace(GOOD, city="杭州")).city == "杭州"


def test_normalize_returns_a_new_address_and_leaves_the_input_alone() -> None:
    before = replace(GOOD)
    after = normalize(GOOD)
    assert before == GOOD
    assert after is not GOOD
    assert after.phone != GOOD.phone


places = st.sampled_from(
    [
        ("广东", "广州", "天河区"),
        ("广东省", "深圳市", "南山区"),
        ("北京", "朝阳区", ""),
        ("北京市", "北京市", "海淀区"),
        ("吉林", "延边州", "延吉市"),
        ("广东", "杭州", "西湖区"),
        ("火星", "奥林帕斯", ""),
        ("新疆", "巴州", "库尔勒市"),
    ]
)
streets = st.sampled_from(
    ["天河路385号", "", "放门口", "广东省广州市天河区", "中山路1号", "1号楼", "幸福村三组"]
)
phones = st.sampled_from(["+86 138-0013-8000", "13800138000", "020-38888888", "", "１５０１２３４５６７８"])


@settings(max_examples=300, deadline=None)
@given(place=places, street=streets, phone=phones, prefix=st.booleans())
def test_normalizing_never_changes_the_verdict_and_is_idempotent(
    place: tuple[str, str, str], street: str, phone: str, prefix: bool
) -> None:
    prov, city, district = place
    written = (prov + city + district + street) if prefix else street
    address = Address("某", phone, prov, city, district, written)
    once = normalize(address)
    assert check(once) == check(address)
    assert normalize(once) == once
