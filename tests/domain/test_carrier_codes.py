"""The carriers' status codes: Kdniao and Kuaidi100 codes, normalized reports and carrier codes."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.carrier_codes import (
    KDNIAO_STATE,
    KDNIAO_STATE_EX,
    KDNIAO_TO_KUAIDI100,
    KUAIDI100_STATE,
    KUAIDI100_SUBSTATE,
    carrier_from_kuaidi100,
    from_kdniao,
    from_kuaidi100,
    from_normalized,
)
from domain.errors import DomainError
from domain.tracking import (
    ParcelState,
    is_terminal,
)

CREATED = ParcelState.CREATED
COLLECTED = ParcelState.COLLECTED
IN_TRANSIT = ParcelState.IN_TRANSIT
OUT = ParcelState.OUT_FOR_DELIVERY
SIGNED = ParcelState.SIGNED
PROBLEM = ParcelState.PROBLEM
RETURNED = ParcelState.RETURNED

# --- Kdniao codes, as the spec lists them -------------------------------------------------------------------

KDNIAO_STATE_SPEC = {0: CREATED, 1: COLLECTED, 2: IN_TRANSIT, 3: SIGNED, 4: PROBLEM}
KDNIAO_STATE_EX_SPEC = {
    1: COLLECTED,
    2: IN_TRANSIT,
    3: SIGNED,
    4: PROBLEM,
    **{code: IN_TRANSIT for code in range(201, 212)},
    202: OUT,
    211: OUT,
    **{code: SIGNED for code in range(301, 312)},
    **{code: PROBLEM for code in range(401, 413)},
    404: RETURNED,
    406: RETURNED,
    407: RETURNED,
}
KDNIAO_DOCUMENTED_EXTRAS = {
    5: IN_TRANSIT,
    6: IN_TRANSIT,
    10: CREATED,
    **{code: PROBLEM for code in range(413, 424)},
    601: IN_TRANSIT,
    602: IN_TRANSIT,
    603: IN_TRANSIT,
    604: PROBLEM,
}


@pytest.mark.parametrize(("code", "expected"), sorted(KDNIAO_STATE_SPEC.items()))
def test_kdniao_state_maps_to_its_parcel_state(code: int, expected: ParcelState) -> None:
    assert from_kdniao(code) == expected
    assert from_kdniao(str(code)) == expected
    assert from_kdniao(str(code), None) == expected


@pytest.mark.parametrize(
    ("code", "expected"), sorted((KDNIAO_STATE_EX_SPEC | KDNIAO_DOCUMENTED_EXTRAS).items())
)
def test_kdniao_state_ex_maps_to_its_parcel_state_whatever_the_state_says(
    code: int, expected: ParcelState
) -> None:
    # State 0 (no trace) disagrees with every StateEx here: the finer code must win.
    assert from_kdniao(0, code) == expected
    assert from_kdniao("0", str(code)) == expected


@pytest.mark.parametrize("state_ex", ["404", "406", "407"])
def test_kdniao_rejected_or_returned_parcel_is_returned_not_a_problem(state_ex: str) -> None:
    assert from_kdniao("4") == PROBLEM
    assert from_kdniao("4", state_ex) == RETURNED


@pytest.mark.parametrize("state_ex", [None, "", "  ", "999", "abc", -1, "0x1f"])
def test_kdniao_missing_or_unknown_state_ex_falls_back_to_state(state_ex: str | int | None) -> None:
    assert from_kdniao("3", state_ex) == SIGNED
    assert from_kdniao(2, state_ex) == IN_TRANSIT


@pytest.mark.parametrize(
    ("code", "expected"), [(208, IN_TRANSIT), (250, IN_TRANSIT), (399, SIGNED), (450, PROBLEM)]
)
def test_kdniao_unlisted_sub_code_takes_its_family_state(code: int, expected: ParcelState) -> None:
    assert from_kdniao(0, code) == expected


@pytest.mark.parametrize(
    ("state", "state_ex"), [("9", None), ("", ""), ("abc", "xyz"), (-3, None), ("7", "900")]
)
def test_kdniao_unknown_codes_are_refused_naming_state(state: str | int, state_ex: str | None) -> None:
    with pytest.raises(DomainError) as refused:
        from_kdniao(state, state_ex)
    assert refused.value.field == "state"


def test_kdniao_tables_are_what_the_mapping_applies() -> None:
    assert {code: from_kdniao(code) for code in KDNIAO_STATE} == dict(KDNIAO_STATE)
    assert {code: from_kdniao("0", code) for code in KDNIAO_STATE_EX} == dict(KDNIAO_STATE_EX)


# --- Kuaidi100 codes ----------------------------------------------------------------------------------------

KUAIDI100_STATE_SPEC = {
    0: IN_TRANSIT,
    1: COLLECTED,
    2: PROBLEM,
    3: SIGNED,
    4: RETURNED,
    5: OUT,
    6: RETURNED,
    7: IN_TRANSIT,
    8: IN_TRANSIT,
    14: RETURNED,
    # older clearance states, still pushed without the advanced states
    10: IN_TRANSIT,
    11: IN_TRANSIT,
    12: IN_TRANSIT,
    13: PROBLEM,
}
KUAIDI100_SUBSTATE_SPEC = {
    101: CREATED,
    102: CREATED,
    103: COLLECTED,
    1001: IN_TRANSIT,
    1002: IN_TRANSIT,
    1003: IN_TRANSIT,
    **{code: PROBLEM for code in range(201, 212)},
    **{code: SIGNED for code in range(301, 305)},
    401: RETURNED,
    501: OUT,
    601: RETURNED,
    801: IN_TRANSIT,
    802: IN_TRANSIT,
    803: IN_TRANSIT,
    804: PROBLEM,
}


@pytest.mark.parametrize(
    ("code", "expected"), sorted((KUAIDI100_STATE_SPEC | KUAIDI100_SUBSTATE_SPEC).items())
)
def test_kuaidi100_state_or_sub_code_maps_to_its_parcel_state(code: int, expected: ParcelState) -> None:
    assert from_kuaidi100(code) == expected
    assert from_kuaidi100(str(code)) == expected


@pytest.mark.parametrize("code", [4, 6, 14, 401])
def test_kuaidi100_returned_rejected_or_cancelled_parcel_is_returned(code: int) -> None:
    assert from_kuaidi100(code) == RETURNED
    assert is_terminal(from_kuaidi100(code))


@pytest.mark.parametrize(
    ("code", "expected"),
    [(212, PROBLEM), (305, SIGNED), (502, OUT), (1004, IN_TRANSIT), (1401, RETURNED), (701, IN_TRANSIT)],
)
def test_kuaidi100_unlisted_sub_code_takes_its_family_state(code: int, expected: ParcelState) -> None:
    assert from_kuaidi100(code) == expected


@pytest.mark.parametrize(
    "code",
    [
        "9",
        "15",
        "900",
        "100",
        "",
        "signed",
        -1,
        True,
        "1.0",
        "²",
        pytest.param(10**5000, id="huge-int"),
        pytest.param("7" * 5000, id="huge-text"),
    ],
)
def test_kuaidi100_unknown_code_is_refused_naming_state(code: str | int) -> None:
    with pytest.raises(DomainError) as refused:
        from_kuaidi100(code)
    assert refused.value.field == "state"


def test_kuaidi100_tables_are_what_the_mapping_applies() -> None:
    merged = {**KUAIDI100_STATE, **KUAIDI100_SUBSTATE}
    assert {code: from_kuaidi100(code) for code in merged} == merged


def test_codes_with_padding_or_leading_zeros_read_as_numbers() -> None:
    assert from_kuaidi100(" 3 ") == SIGNED
    assert from_kuaidi100("05") == OUT
    assert from_kdniao(" 2", "0202") == OUT


def reading_or_refused_field(read: Callable[..., ParcelState], *codes: str | int | None) -> str:
    try:
        return read(*codes)
    except DomainError as refused:
        return f"refused:{refused.field}"


@settings(max_examples=300, deadline=None)
@given(
    state=st.one_of(st.integers(-5, 20_000), st.integers(), st.text(max_size=6)),
    state_ex=st.one_of(st.none(), st.integers(-5, 20_000), st.integers(), st.text(max_size=6)),
)
def test_any_carrier_code_maps_to_a_state_or_is_refused_naming_state(
    state: str | int, state_ex: str | int | None
) -> None:
    assert reading_or_refused_field(from_kdniao, state, state_ex) in {*ParcelState, "refused:state"}
    assert reading_or_refused_field(from_kuaidi100, state) in {*ParcelState, "refused:state"}


@settings(max_examples=200, deadline=None)
@given(code=st.integers(0, 99_999))
def test_a_code_reads_the_same_as_number_and_as_text(code: int) -> None:
    def outcome(read: object) -> ParcelState | None:
        try:
            return from_kuaidi100(read)  # type: ignore[arg-type]
        except DomainError:
            return None

    assert outcome(code) == outcome(str(code)) == outcome(f" {code} ")


# --- normalized reports and carriers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "state", ["collected", "in_transit", "out_for_delivery", "signed", "problem", "returned"]
)
def test_normalized_report_names_its_state(state: str) -> None:
    assert from_normalized(state) == ParcelState(state)
    assert isinstance(from_normalized(state), ParcelState)


@pytest.mark.parametrize("state", ["created", "teleported", "SIGNED", " signed", ""])
def test_normalized_report_with_another_state_is_refused_naming_state(state: str) -> None:
    with pytest.raises(DomainError) as refused:
        from_normalized(state)
    assert refused.value.field == "state"


@pytest.mark.parametrize(("kdniao", "kuaidi100"), sorted(KDNIAO_TO_KUAIDI100.items()))
def test_kuaidi100_company_maps_back_to_our_carrier_code(kdniao: str, kuaidi100: str) -> None:
    assert carrier_from_kuaidi100(kuaidi100) == kdniao
    assert carrier_from_kuaidi100(kuaidi100.upper()) == kdniao


def test_carrier_table_covers_the_api_carriers_one_to_one() -> None:
    assert dict(KDNIAO_TO_KUAIDI100) == {
        "SF": "shunfeng",
        "ZTO": "zhongtong",
        "YTO": "yuantong",
        "STO": "shentong",
        "YD": "yunda",
        "JTSD": "jtexpress",
        "EMS": "ems",
    }
    assert len(set(KDNIAO_TO_KUAIDI100.values())) == len(KDNIAO_TO_KUAIDI100)


@pytest.mark.parametrize("com", ["dhl", "", "SF", "LOCAL"])
def test_unknown_kuaidi100_company_is_refused_naming_com(com: str) -> None:
    with pytest.raises(DomainError) as refused:
        carrier_from_kuaidi100(com)
    assert refused.value.field == "com"
