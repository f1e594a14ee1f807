"""Address screening: which orders the leader must verify before they ship.

Screening issue: "hold an order for its leader when the phone is not a mainland mobile number, the city is
not in the province, the district or street address is missing or too short to deliver." Addresses are taken
the way buyers write them (API.md: "广东省" or "广东", "广州市" or "广州"); any flag holds the order.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import replace
from enum import StrEnum

from domain import geo
from domain.address import Address as Address  # the one address type, re-exported for the screening rules


class Flag(StrEnum):
    """Why an order is held; `check` answers them in this order."""

    PHONE_NOT_MOBILE = "phone_not_mobile"
    PROVINCE_UNKNOWN = "province_unknown"
    CITY_NOT_IN_PROVINCE = "city_not_in_province"
    DISTRICT_MISSING = "district_missing"
    ADDRESS_TOO_SHORT = "address_too_short"


# --- phone --------------------------------------------------------------------------------------------

# Mainland mobile numbers: 11 digits, 1 then 3-9 (MIIT numbering plan); landlines and other regions fail.
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# What buyers put between digits: spaces, dashes, and brackets around the country code.
_PHONE_SEPARATORS = re.compile(r"[\s\-‐‑‒–—()]")
_COUNTRY_PREFIXES = ("+86", "0086", "86")


def _national_number(compact: str) -> str:
    for prefix in _COUNTRY_PREFIXES:
        if compact.startswith(prefix) and len(compact) == len(prefix) + 11:
            return compact[len(prefix) :]
    return compact


def normalize_phone(raw: str) -> str | None:
    """The 11-digit mainland mobile number in `raw`, or None when it is not one (screening issue).

    Tolerated: a +86 / 0086 / 86 country prefix, spaces, dashes, brackets and full-width digits
    ("+86 138-0013-8000" → "13800138000").
    """
    compact = _PHONE_SEPARATORS.sub("", unicodedata.normalize("NFKC", raw))
    national = _national_number(compact)
    return national if _MOBILE.fullmatch(national) else None


# --- normalization ------------------------------------------------------------------------------------


def _canonical_province(written: str) -> str:
    prov = geo.province(written)
    return prov.name if prov is not None else written.strip()


def _canonical_city(province: str, city: str) -> str:
    return geo.canonical_city(province, city) or city.strip()


def normalize(address: Address) -> Address:
    """The address in one canonical form, for storage and for the courier label.

    Province as its full name ("广东" → "广东省"), city as its official name ("广州" → "广州市", "延边" →
    "延边朝鲜族自治州", a municipal district in the city field → "朝阳区"), phone as 11 digits when it is a
    mainland mobile. Whatever is unknown or invalid is kept as written, only trimmed, so that `check` still
    flags it.
    """
    return replace(
        address,
        name=address.name.strip(),
        phone=normalize_phone(address.phone) or address.phone.strip(),
        province=_canonical_province(address.province),
        city=_canonical_city(address.province, address.city),
        district=address.district.strip(),
        address=address.address.strip(),
    )


# --- the checks ---------------------------------------------------------------------------------------


def _compact(text: str) -> str:
    """Letters and digits only: spaces and punctuation do not help a courier find a door."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch.isalnum())


# What buyers type when a picker forces a district they do not know.
_PLACEHOLDERS = frozenset(
    {"无", "暂无", "没有", "不详", "未知", "其他", "其它", "其他区", "其它区", "null", "none", "na"}
)


def _meaningful(text: str) -> bool:
    compact = _compact(text)
    return len(compact) >= 2 and compact.lower() not in _PLACEHOLDERS


def _phone_not_mobile(address: Address) -> bool:
    return normalize_phone(address.phone) is None


def _province_unknown(address: Address) -> bool:
    return geo.province(address.province) is None


def _city_not_in_province(address: Address) -> bool:
    # An unknown province is its own flag; the city cannot be judged against it.
    return geo.city_in_province(address.province, address.city) is False


def _district_missing(address: Address) -> bool:
    # In a municipality the district is often written in the city field ("北京" / "朝阳区"): not missing.
    in_city_field = geo.municipal_district(address.province, address.city) is not None
    return not _meaningful(address.district) and not in_city_field


# "Too short to deliver": after the leading repeat of the place names, the street part must keep at least
# MIN_STREET_CHARS letters or digits and at least one thing a courier can find: a digit or a locating word.
MIN_STREET_CHARS = 5
_LOCATORS = (
    *"号路街巷村组栋幢楼室弄道座层苑园庄屯镇乡院厂",
    *("单元", "大厦", "小区", "胡同", "社区", "宿舍", "大学", "学校", "医院", "酒店", "公寓", "广场", "中心"),
)
# A short place name followed by one of these starts a street name ("中山路", "天河北路", "广州大道"), it is
# not a repeat of the place, and stays.
_STREET_CONTINUATIONS = tuple("路街道大巷弄东西南北中一二三四五六七八九十门湾桥")


# Suffixes a buyer may hang on a bare place name when repeating it ("延边州", "广西自治区").
_PLACE_SUFFIXES = ("省", "自治区", "特别行政区", "市", "州", "地区", "盟", "区", "县")


def _repeatable_names(address: Address) -> tuple[frozenset[str], frozenset[str]]:
    """The place names a buyer may repeat at the start of the street address: with an administrative suffix
    (always a repeat) and bare (a repeat unless a street name goes on). Both the written and the official
    forms count, so that normalizing an address never changes its verdict."""
    return _place_names(address.province, address.city, address.district)


@functools.lru_cache(maxsize=4096)
def _place_names(province: str, city: str, district: str) -> tuple[frozenset[str], frozenset[str]]:
    # Buyers of one live room share a few hundred (province, city, district) triples: worked out once each.
    prov = geo.province(province)
    official = geo.canonical_city(province, city) or ""
    bare = {geo.city_short(name) for name in (city, official, district)}
    bare |= {prov.short} if prov else set()
    full = {"中国", province, city, official, district}
    full |= {prov.name} if prov else set()
    full |= {short + suffix for short in bare for suffix in _PLACE_SUFFIXES}
    full |= {alias for alias, short in geo.CITY_ALIASES.items() if short in bare}
    compact_full = {_compact(name) for name in full} - {""}
    compact_bare = {_compact(name) for name in bare} - {""}
    return frozenset(compact_full - compact_bare), frozenset(compact_bare)


def _strip_one(text: str, full: frozenset[str], bare: frozenset[str]) -> str | None:
    for name in sorted(full | bare, key=len, reverse=True):
        rest = text[len(name) :]
        if text.startswith(name) and (name in full or not rest.startswith(_STREET_CONTINUATIONS)):
            return rest
    return None


def street_part(address: Address) -> str:
    """The street address without a leading repeat of country, province, city and district, letters and digits
    only: "广东省广州市天河区天河路385号" → "天河路385号". The part `ADDRESS_TOO_SHORT` judges."""
    text = _compact(address.address)
    full, bare = _repeatable_names(address)
    while (rest := _strip_one(text, full, bare)) is not None:
        text = rest
    return text


def _locates(street: str) -> bool:
    return any(ch.isascii() and ch.isdigit() for ch in street) or any(word in street for word in _LOCATORS)


def _address_too_short(address: Address) -> bool:
    street = street_part(address)
    return len(street) < MIN_STREET_CHARS or not _locates(street)


_CHECKS = (
    (Flag.PHONE_NOT_MOBILE, _phone_not_mobile),
    (Flag.PROVINCE_UNKNOWN, _province_unknown),
    (Flag.CITY_NOT_IN_PROVINCE, _city_not_in_province),
    (Flag.DISTRICT_MISSING, _district_missing),
    (Flag.ADDRESS_TOO_SHORT, _address_too_short),
)


def check(address: Address) -> tuple[Flag, ...]:
    """Every reason to hold the order for its leader to verify, in `Flag` order; empty means it ships.

    Screening issue: the phone is not a mainland mobile number, the province is unknown, the city is not in
    the province, the district is missing (blank, a placeholder such as "无", or under two letters; a
    municipal district in the city field counts), or the street address is too short to deliver (see
    `street_part`: under MIN_STREET_CHARS letters or digits, or no digit and no locating word such as 号 路 村
    栋 小区).
    """
    return tuple(flag for flag, failed in _CHECKS if failed(address))
