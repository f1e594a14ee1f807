"""Geography facts: provinces, cities, municipalities' districts, tier-1 and remote regions, distances."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain import geo, geo_data

MUNICIPALITIES = ("北京市", "天津市", "上海市", "重庆市", "香港特别行政区", "澳门特别行政区")
PREFECTURAL = tuple(p for p in geo.PROVINCES if p.name not in MUNICIPALITIES)


def prefectural_provinces_holding(city: str) -> list[str]:
    """The provinces outside the municipalities in which geo.city_in_province finds `city`."""
    return [p.name for p in PREFECTURAL if geo.city_in_province(p.name, city)]


SUB_PROVINCIAL = (
    "哈尔滨",
    "长春",
    "沈阳",
    "大连",
    "济南",
    "青岛",
    "南京",
    "杭州",
    "宁波",
    "厦门",
    "武汉",
    "广州",
)
SUB_PROVINCIAL_WEST = ("深圳", "成都", "西安")


# --- provinces


def test_there_are_34_provincial_level_regions_with_distinct_names() -> None:
    assert len(geo.PROVINCES) == 34
    assert len({p.name for p in geo.PROVINCES}) == 34
    assert len({p.short for p in geo.PROVINCES}) == 34


@pytest.mark.parametrize("prov", geo.PROVINCES, ids=lambda p: p.en)
def test_every_province_resolves_by_full_short_and_english_name(prov: geo.Province) -> None:
    assert geo.province(prov.name) == prov
    assert geo.province(prov.short) == prov
    assert geo.province(f" {prov.short} ") == prov
    assert geo.province(prov.en.upper()) == prov


@pytest.mark.parametrize(
    ("written", "canonical"),
    [
        ("广西省", "广西壮族自治区"),
        ("新疆自治区", "新疆维吾尔自治区"),
        ("内蒙", "内蒙古自治区"),
        ("hongkong", "香港特别行政区"),
    ],
)
def test_the_ways_buyers_misname_autonomous_regions_still_resolve(written: str, canonical: str) -> None:
    prov = geo.province(written)
    assert prov is not None
    assert prov.name == canonical


@pytest.mark.parametrize("written", ["", "火星", "广东市", "Guangdong Province"])
def test_unknown_province_is_none(written: str) -> None:
    assert geo.province(written) is None


def test_remote_regions_are_exactly_xinjiang_tibet_qinghai_gansu_ningxia_inner_mongolia() -> None:
    remote = {p.short for p in geo.PROVINCES if geo.is_remote(p.name)}
    assert remote == {"新疆", "西藏", "青海", "甘肃", "宁夏", "内蒙古"}


def test_an_unknown_province_is_not_remote() -> None:
    assert geo.is_remote("火星") is False


@pytest.mark.parametrize("name", MUNICIPALITIES)
def test_municipalities_and_sars_are_one_city(name: str) -> None:
    assert geo.is_municipality(name) is True


@pytest.mark.parametrize("name", ["广东", "吉林省", "新疆", "火星"])
def test_provinces_with_prefectures_are_not_municipalities(name: str) -> None:
    assert geo.is_municipality(name) is False


# --- cities


@pytest.mark.parametrize("prov", geo.PROVINCES, ids=lambda p: p.en)
def test_every_province_has_cities_and_its_capital_among_them(prov: geo.Province) -> None:
    assert len(geo.CITIES[prov.name]) >= 2
    assert prov.capital in geo.CITIES[prov.name]
    assert geo.city_in_province(prov.name, prov.capital) is True


def test_the_mainland_has_333_prefecture_level_divisions() -> None:
    counted = sum(
        len(geo_data.PREFECTURES.get(p.name, "").split()) for p in geo.PROVINCES if p.region != "港澳台"
    )
    assert counted == 333


@pytest.mark.parametrize(
    ("prov", "count"),
    [
        ("广东省", 21),
        ("四川省", 21),
        ("河南省", 17),
        ("西藏自治区", 7),
        ("新疆维吾尔自治区", 14),
        ("宁夏回族自治区", 5),
    ],
)
def test_province_prefecture_counts_match_the_official_divisions(prov: str, count: int) -> None:
    assert len(geo_data.PREFECTURES[prov].split()) == count


def test_a_city_short_name_belongs_to_one_province_outside_municipal_districts() -> None:
    found = {
        (prov.name, city): prefectural_provinces_holding(city)
        for prov in PREFECTURAL
        for city in geo.CITIES[prov.name]
    }
    wrong = {key: holders for key, holders in found.items() if holders != [key[0]]}
    assert wrong == {}


@pytest.mark.parametrize(
    ("written", "short"),
    [
        ("广州市", "广州"),
        ("广州", "广州"),
        ("延边朝鲜族自治州", "延边"),
        ("延边州", "延边"),
        ("恩施土家族苗族自治州", "恩施"),
        ("凉山彝族自治州", "凉山"),
        ("甘孜藏族自治州", "甘孜"),
        ("海西蒙古族藏族自治州", "海西"),
        ("克孜勒苏柯尔克孜自治州", "克孜勒苏"),
        ("巴州", "巴音郭楞"),
        ("大兴安岭地区", "大兴安岭"),
        ("阿里地区", "阿里"),
        ("兴安盟", "兴安"),
        ("锡林郭勒盟", "锡林郭勒"),
        ("神农架林区", "神农架"),
        ("琼中黎族苗族自治县", "琼中"),
        ("浦东新区", "浦东"),
        ("朝阳区", "朝阳"),
        ("忠县", "忠县"),
        ("香港特别行政区", "香港"),
    ],
)
def test_city_short_drops_the_administrative_suffix(written: str, short: str) -> None:
    assert geo.city_short(written) == short


def test_every_autonomous_prefecture_is_listed_by_its_common_short_form() -> None:
    for short in ("延边", "恩施", "湘西", "凉山", "甘孜", "阿坝", "大理", "西双版纳", "伊犁", "海南"):
        holders = prefectural_provinces_holding(short)
        assert len(holders) == 1, short
        assert short in geo.CITIES[holders[0]]


@pytest.mark.parametrize(
    ("prov", "city"),
    [
        ("广东", "广州"),
        ("广东省", "深圳市"),
        ("吉林", "延边朝鲜族自治州"),
        ("吉林省", "吉林市"),
        ("湖北", "仙桃市"),
        ("湖北", "神农架林区"),
        ("河南", "济源"),
        ("海南", "琼海"),
        ("海南", "陵水黎族自治县"),
        ("新疆", "石河子市"),
        ("内蒙古", "锡林郭勒盟"),
        ("黑龙江", "大兴安岭地区"),
        ("青海", "海南州"),
        ("台湾", "高雄"),
    ],
)
def test_city_in_its_province(prov: str, city: str) -> None:
    assert geo.city_in_province(prov, city) is True


@pytest.mark.parametrize(
    ("prov", "city"),
    [
        ("北京", "北京市"),
        ("北京市", "北京"),
        ("北京", "朝阳区"),
        ("北京", "朝阳"),
        ("上海", "浦东新区"),
        ("天津", "滨海新区"),
        ("重庆", "渝北区"),
        ("重庆", "石柱土家族自治县"),
        ("重庆", "县"),
        ("上海", "市辖区"),
        ("香港", "九龙"),
        ("香港", "油尖旺区"),
        ("澳门", "氹仔"),
    ],
)
def test_a_municipality_accepts_its_own_name_and_its_districts(prov: str, city: str) -> None:
    assert geo.city_in_province(prov, city) is True


@pytest.mark.parametrize(
    ("prov", "city"),
    [
        ("广东", "北京"),
        ("广东", "杭州市"),
        ("北京", "上海"),
        ("北京", "广州市"),
        ("北京", "浦东新区"),
        ("上海", "朝阳区"),
        ("辽宁", "朝阳区"),
        ("海南", "海南"),
        ("广东", ""),
        ("天津", "县"),
    ],
)
def test_a_city_from_elsewhere_is_not_in_the_province(prov: str, city: str) -> None:
    assert geo.city_in_province(prov, city) is False


def test_city_in_province_is_none_only_for_an_unknown_province() -> None:
    assert geo.city_in_province("火星", "广州") is None
    assert geo.city_in_province("广东", "火星城") is False


@pytest.mark.parametrize(
    ("prov", "city", "official"),
    [
        ("广东", "广州", "广州市"),
        ("吉林", "延边州", "延边朝鲜族自治州"),
        ("黑龙江", "大兴安岭", "大兴安岭地区"),
        ("北京", "北京", "北京市"),
        ("北京", "朝阳", "朝阳区"),
        ("北京", "市辖区", "北京市"),
        ("海南", "保亭", "保亭黎族苗族自治县"),
        ("广东", "北京", None),
        ("火星", "广州", None),
    ],
)
def test_canonical_city_is_the_official_name(prov: str, city: str, official: str | None) -> None:
    assert geo.canonical_city(prov, city) == official


@pytest.mark.parametrize(
    ("prov", "city", "district"),
    [
        ("北京", "朝阳", "朝阳区"),
        ("上海", "浦东", "浦东新区"),
        ("北京", "北京市", None),
        ("广东", "天河区", None),
    ],
)
def test_municipal_district_names_a_district_written_in_the_city_field(
    prov: str, city: str, district: str | None
) -> None:
    assert geo.municipal_district(prov, city) == district


# --- coordinates and distances


def test_city_points_cover_capitals_sub_provincial_and_large_cities() -> None:
    assert len(geo.CITY_POINTS) >= 80
    assert {p.capital for p in geo.PROVINCES} <= geo.CITY_POINTS.keys()
    assert set(SUB_PROVINCIAL + SUB_PROVINCIAL_WEST) <= geo.CITY_POINTS.keys()


def test_every_city_point_is_a_known_city_near_its_province_capital() -> None:
    far = {}
    for city, point in geo.CITY_POINTS.items():
        holders = prefectural_provinces_holding(city) or [
            p.name for p in geo.PROVINCES if p.name in MUNICIPALITIES and geo.city_in_province(p.name, city)
        ]
        assert len(holders) == 1, city
        prov = geo.province(holders[0])
        assert prov is not None, city
        assert 18 <= point.lat <= 54 and 73 <= point.lon <= 135, city
        if geo.distance_km(point, prov.capital_point) > 1300:
            far[city] = prov.name
    assert far == {}


def test_shanghai_to_beijing_is_about_1070_km() -> None:
    assert geo.distance_km(geo.CITY_POINTS["上海"], geo.CITY_POINTS["北京"]) == pytest.approx(1070, abs=30)


def test_guangzhou_to_shenzhen_is_about_105_km() -> None:
    assert geo.distance_km(geo.CITY_POINTS["广州"], geo.CITY_POINTS["深圳"]) == pytest.approx(105, abs=15)


cities = st.sampled_from(sorted(geo.CITY_POINTS))


@settings(max_examples=200, deadline=None)
@given(a=cities, b=cities, c=cities)
def test_distance_is_a_metric(a: str, b: str, c: str) -> None:
    pa, pb, pc = geo.CITY_POINTS[a], geo.CITY_POINTS[b], geo.CITY_POINTS[c]
    assert geo.distance_km(pa, pa) == pytest.approx(0, abs=1e-6)
    assert geo.distance_km(pa, pb) == pytest.approx(geo.distance_km(pb, pa))
    assert geo.distance_km(pa, pc) <= geo.distance_km(pa, pb) + geo.distance_km(pb, pc) + 1e-6
    assert geo.distance_km(pa, pb) <= 20_016  # half the Earth's circumference


def test_locate_uses_the_city_when_it_lies_in_the_province() -> None:
    assert geo.locate("吉林省", "吉林市") == geo.CITY_POINTS["吉林"]
    assert geo.locate("吉林省") == geo.CITY_POINTS["长春"]


def test_locate_falls_back_to_the_capital_for_a_mismatched_or_unknown_city() -> None:
    assert geo.locate("广东", "大连") == geo.CITY_POINTS["广州"]
    assert geo.locate("广东", "韶关") == geo.CITY_POINTS["广州"]  # known city, no coordinates
    assert geo.locate("北京", "朝阳区") == geo.CITY_POINTS["北京"]
    assert geo.locate("火星") is None


# --- tier-1 and same city


@pytest.mark.parametrize(
    ("prov", "city", "tier1"),
    [
        ("广东", "深圳", True),
        ("广东省", "深圳市", True),
        ("广东", "广州市", True),
        ("广东", "东莞", False),
        ("广东", None, False),
        ("北京", None, True),
        ("上海市", "浦东新区", True),
        ("天津", None, False),
        ("广西", "深圳", False),
        ("火星", "深圳", False),
    ],
)
def test_tier1_is_beijing_shanghai_guangzhou_shenzhen(prov: str, city: str | None, tier1: bool) -> None:
    assert geo.is_tier1(prov, city) is tier1


def test_same_city_compares_cities_and_treats_a_municipality_as_one_city() -> None:
    assert geo.same_city("广东", "广州市", "广东省", "广州") is True
    assert geo.same_city("广东", "广州", "广东", "深圳") is False
    assert geo.same_city("北京", "朝阳区", "北京市", "海淀区") is True
    assert geo.same_city("广东", None, "广东", "广州") is True
    assert geo.same_city("广东", "广州", "广西", "广州") is False
