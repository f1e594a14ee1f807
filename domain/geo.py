"""Geography: provinces and cities as buyers write them, tier-1 and remote regions, coordinates and distances.

The facts (provinces, cities, coordinates) are tables in domain.geo_data. Names are accepted the way buyers
write them ("广东省", "广东", "Guangdong"; "广州市", "广州"; "延边朝鲜族自治州", "延边州", "延边"); every
function answers with the canonical full province name ("广东省") and the short city name ("广州") so that
the rest of the domain compares one form.
"""

from __future__ import annotations

import math

from domain.geo_data import CITY_ALIASES as CITY_ALIASES
from domain.geo_data import (
    CITY_COORDINATES,
    DISTRICTS,
    MUNICIPAL_PLACEHOLDERS,
    PEOPLES,
    PREFECTURES,
    PROVINCE_ADMINISTERED,
)
from domain.geo_data import PROVINCES as PROVINCES
from domain.geo_data import TIER1_CITIES as TIER1_CITIES
from domain.geo_data import Point as Point
from domain.geo_data import Province as Province

_BY_KEY: dict[str, Province] = {}
for _prov in PROVINCES:
    for _key in (_prov.name, _prov.short, _prov.en.lower(), _prov.en.lower().replace(" ", "")):
        _BY_KEY[_key] = _prov
# Buyers often call an autonomous region a province ("广西省") or clip it ("内蒙").
for _prov in PROVINCES:
    if _prov.name.endswith("自治区"):
        _BY_KEY.setdefault(_prov.short + "省", _prov)
        _BY_KEY.setdefault(_prov.short + "自治区", _prov)
_BY_KEY["内蒙"] = _BY_KEY["内蒙古"]


def province(name: str) -> Province | None:
    """The province a buyer means by `name` ("广东省", "广东", "Guangdong"), or None when unknown."""
    key = name.strip()
    return _BY_KEY.get(key) or _BY_KEY.get(key.lower()) or _BY_KEY.get(key.lower().replace(" ", ""))


def is_municipality(province_name: str) -> bool:
    """A provincial-level region that is one city: Beijing, Tianjin, Shanghai, Chongqing, Hong Kong, Macau."""
    prov = province(province_name)
    return prov is not None and prov.short == prov.capital


# --- city names ---------------------------------------------------------------------------------------


_AUTONOMOUS_SUFFIXES = ("自治州", "自治县", "自治旗")
# Longest first: "特别行政区" and "地区"/"林区"/"新区" must win over "区".
_ADMIN_SUFFIXES = ("特别行政区", "地区", "林区", "新区", "盟", "市", "区", "县")


def _strip_peoples(place: str) -> str:
    stripped = True
    while stripped:
        stripped = False
        for people in PEOPLES:
            if place.endswith(people) and len(place) - len(people) >= 2:
                place, stripped = place[: -len(people)], True
                break
    return place


def _autonomous_short(key: str) -> str | None:
    for suffix in _AUTONOMOUS_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return _strip_peoples(key[: -len(suffix)])
    return None


def _admin_short(key: str) -> str | None:
    for suffix in _ADMIN_SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix) + 1:
            return key[: -len(suffix)]
    return None


def city_short(name: str) -> str:
    """A city name without its administrative suffix, the form `CITIES` holds.

    "广州市" → "广州", "大兴安岭地区" → "大兴安岭", "兴安盟" → "兴安", "延边朝鲜族自治州" / "延边州" → "延边",
    "朝阳区" → "朝阳" (a municipality's district). Two-character names keep their suffix ("忠县", "东区").
    """
    key = name.strip()
    if key in CITY_ALIASES:
        return CITY_ALIASES[key]
    short = _autonomous_short(key) or _admin_short(key)
    if short is not None:
        return short
    if key.endswith("州") and key[:-1] in _AUTONOMOUSPREFECTURES:
        return key[:-1]
    return key


_AUTONOMOUSPREFECTURES: frozenset[str] = frozenset(
    city_short(full) for names in PREFECTURES.values() for full in names.split() if full.endswith("自治州")
)


def _official_names(prov: Province) -> list[str]:
    """Every official city (or district) name of a province, the province's own first for a municipality."""
    own = [prov.name] if prov.short == prov.capital else []
    sources = (PREFECTURES, PROVINCE_ADMINISTERED, DISTRICTS)
    return own + [full for source in sources for full in source.get(prov.name, "").split()]


# (province full name, city short name) → official full name; the first official name of a short form wins
# (Taiwan's 新竹市 / 新竹县 share one).
_OFFICIAL: dict[tuple[str, str], str] = {}
for _prov in PROVINCES:
    for _full in _official_names(_prov):
        _OFFICIAL.setdefault((_prov.name, city_short(_full)), _full)

# Province full name → every city short name: prefecture-level divisions and province-administered cities;
# for a municipality or SAR, its own name and its districts.
CITIES: dict[str, tuple[str, ...]] = {
    _prov.name: tuple(dict.fromkeys(city_short(full) for full in _official_names(_prov)))
    for _prov in PROVINCES
}

# City short name → province full name, districts of municipalities left out: 北京's 朝阳区 and 辽宁's 朝阳市
# share a short name, and a bare "朝阳" is the prefecture-level city.
_CITY_TO_PROVINCE: dict[str, str] = {}
for _prov in PROVINCES:
    for _full in _official_names(_prov):
        if _prov.name not in DISTRICTS or _full == _prov.name:
            _CITY_TO_PROVINCE.setdefault(city_short(_full), _prov.name)


def _written_as_district(city: str) -> bool:
    key = city.strip()
    return key.endswith(("区", "县")) and not key.endswith(("地区", "林区", "自治县"))


def city_in_province(province_name: str, city: str) -> bool | None:
    """Whether `city` lies in `province_name`; None when the province is unknown.

    A municipality or SAR accepts its own name and its districts ("北京市" / "朝阳区"), and "市辖区" as the
    national division codes write it.
    """
    prov = province(province_name)
    if prov is None:
        return None
    return canonical_city(prov.name, city) is not None


def canonical_city(province_name: str, city: str) -> str | None:
    """The official full name of `city` inside `province_name`; None when the province is unknown or the city
    is not in it. "广州" → "广州市", "延边州" → "延边朝鲜族自治州", "朝阳" in 北京 → "朝阳区",
    "市辖区" in 北京 → "北京市"."""
    prov = province(province_name)
    if prov is None:
        return None
    written = city.strip()
    if written in MUNICIPAL_PLACEHOLDERS.get(prov.name, frozenset()):
        return prov.name
    official = _OFFICIAL.get((prov.name, city_short(written)))
    # "朝阳区" names a district; in 辽宁 it is not the prefecture-level city 朝阳市.
    if official is None or (_written_as_district(written) and not _written_as_district(official)):
        return None
    return official


def municipal_district(province_name: str, city: str) -> str | None:
    """The official district name when a buyer in a municipality or SAR wrote a district in the city field
    ("上海" / "浦东" → "浦东新区"); None when `city` is the municipality itself or anything else."""
    if not is_municipality(province_name):
        return None
    official = canonical_city(province_name, city)
    prov = province(province_name)
    return None if official is None or prov is None or official == prov.name else official


# --- coordinates --------------------------------------------------------------------------------------

CITY_POINTS: dict[str, Point] = {prov.capital: prov.capital_point for prov in PROVINCES} | {
    name: Point(lat, lon) for name, (lat, lon) in CITY_COORDINATES.items()
}


def distance_km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine, mean Earth radius 6371 km)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def is_remote(province_name: str) -> bool:
    """Remote regions (Xinjiang, Tibet, Qinghai, Gansu, Ningxia, Inner Mongolia) go by the postal carrier."""
    prov = province(province_name)
    return prov is not None and prov.remote


def is_tier1(province_name: str, city: str | None = None) -> bool:
    """A tier-1 destination: the municipalities Beijing and Shanghai, or the cities Guangzhou and Shenzhen."""
    prov = province(province_name)
    if prov is None:
        return False
    if prov.short in TIER1_CITIES:
        return True
    return city is not None and city_short(city) in TIER1_CITIES and city_in_province(prov.name, city) is True


def same_city(province_a: str, city_a: str | None, province_b: str, city_b: str | None) -> bool:
    """Two places in one city (for same-city couriers). Municipalities count as one city."""
    pa, pb = province(province_a), province(province_b)
    if pa is None or pb is None or pa != pb:
        return False
    ca = city_short(city_a) if city_a else pa.capital
    cb = city_short(city_b) if city_b else pb.capital
    if pa.short == pa.capital:  # municipality / SAR: the province is the city
        return True
    return ca == cb


def locate(province_name: str, city: str | None = None) -> Point | None:
    """Coordinates of a destination: the city when its point is known and it lies in the province, else the
    province capital. A municipal district is located at its municipality (北京 朝阳区 is not 辽宁 朝阳)."""
    prov = province(province_name)
    if prov is None:
        return None
    if city:
        short = city_short(city)
        if _CITY_TO_PROVINCE.get(short) == prov.name and short in CITY_POINTS:
            return CITY_POINTS[short]
    return prov.capital_point
