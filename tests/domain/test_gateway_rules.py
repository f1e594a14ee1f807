"""Backoff, the circuit breaker and what a gateway's answer leads to (domain/gateway_rules.py)."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.gateway_rules import (
    BASE_S,
    CAP_S,
    CLOSED,
    HALF_OPEN,
    OPEN,
    Breaker,
    Circuit,
    Step,
    after,
    blocked_carriers,
    next_order_code,
    next_step,
    order_code,
    retry_after,
    shipment_of,
    start_trial,
)
from server.api.common import ID_PATTERN

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
S = timedelta(seconds=1)


class Fixed:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@given(st.integers(min_value=1, max_value=10_000), st.floats(min_value=0.0, max_value=0.999999))
def test_a_retry_waits_between_half_and_all_of_the_exponential_ceiling_never_above_the_cap(
        attempts: int, draw: float) -> None:
    wait = retry_after(attempts, Fixed(draw))
    ceiling = min(CAP_S, BASE_S * 2 ** min(attempts - 1, 60))
    assert ceiling / 2 <= wait <= ceiling
    assert 0 < wait <= CAP_S


def test_retries_back_off_exponentially_from_about_a_second_to_five_minutes() -> None:
    tops = [retry_after(n, Fixed(1.0)) for n in (1, 2, 3, 4, 12, 50)]
    assert tops == [1.0, 2.0, 4.0, 8.0, 300.0, 300.0]
    assert retry_after(1, Fixed(0.0)) == 0.5


def test_jitter_spreads_shipments_that_failed_together() -> None:
    rng = random.Random(7)
    waits = {round(retry_after(6, rng), 3) for _ in range(50)}
    assert len(waits) > 40


def test_a_retry_needs_a_failure_first() -> None:
    with pytest.raises(ValueError):
        retry_after(0, Fixed(0.5))


def test_the_circuit_opens_after_five_failures_in_a_row() -> None:
    c = Circuit()
    for n in range(1, 5):
        c = after(c, "retry", NOW)
        assert (c.state, c.failures) == (CLOSED, n)
        assert not c.blocked(NOW)
    c = after(c, "retry", NOW)
    assert c.state == OPEN and c.until == NOW + 30 * S and c.failures == 5
    assert c.blocked(NOW + 29 * S)


def test_an_answer_in_between_resets_the_count_so_failures_must_be_in_a_row() -> None:
    c = Circuit()
    for _ in range(4):
        c = after(c, "retry", NOW)
    assert after(c, "refused", NOW) == Circuit()
    assert after(after(c, "ok", NOW), "retry", NOW).state == CLOSED


def test_after_the_cool_down_one_trial_goes_through_and_success_closes() -> None:
    breaker = Breaker(failures_to_open=2, cool_down_s=10)
    c = after(after(Circuit(), "retry", NOW, breaker), "retry", NOW, breaker)
    assert c.blocked(NOW + 9 * S) and not c.trial_due(NOW + 9 * S)
    assert c.trial_due(NOW + 10 * S)
    trial = start_trial(c, NOW + 10 * S, breaker)
    assert trial.state == HALF_OPEN and trial.blocked(NOW + 11 * S)  # only the one trial is in flight
    assert after(trial, "ok", NOW + 11 * S, breaker) == Circuit()


def test_a_failed_trial_opens_the_circuit_for_another_cool_down() -> None:
    breaker = Breaker(failures_to_open=1, cool_down_s=10)
    c = start_trial(after(Circuit(), "retry", NOW, breaker), NOW + 10 * S, breaker)
    again = after(c, "retry", NOW + 12 * S, breaker)
    assert again.state == OPEN and again.until == NOW + 22 * S


def test_a_trial_lost_in_a_crash_allows_another_after_its_lease() -> None:
    breaker = Breaker(failures_to_open=1, cool_down_s=10, trial_lease_s=60)
    trial = start_trial(after(Circuit(), "retry", NOW, breaker), NOW + 10 * S, breaker)
    assert not trial.trial_due(NOW + 69 * S)
    assert trial.trial_due(NOW + 70 * S)
    with pytest.raises(ValueError):
        start_trial(Circuit(), NOW)


def test_routing_skips_carriers_whose_circuit_is_open_or_on_trial() -> None:
    circuits = {"SF": Circuit(OPEN, NOW + S, 5), "ZTO": Circuit(), "YTO": Circuit(OPEN, NOW - S, 5),
                "JTSD": Circuit(HALF_OPEN, NOW + S, 5)}
    assert blocked_carriers(circuits, NOW) == {"SF", "JTSD"}


def test_a_definite_refusal_is_never_retried() -> None:
    assert next_step("issue", "ok") == Step.ISSUED
    assert next_step("issue", "refused") == Step.REROUTE
    assert next_step("subscribe", "refused") == Step.REFUSED
    assert next_step("cancel", "ok") == Step.DONE
    assert {next_step(k, "retry") for k in ("issue", "subscribe", "cancel")} == {Step.RETRY}


def test_a_shipment_is_booked_under_its_own_id_and_anew_under_a_fresh_code_after_its_waybill_was_cancelled() -> None:
    assert order_code("o-1-1", None) == "o-1-1"
    second = next_order_code("o-1-1", None)
    third = next_order_code("o-1-1", second)
    assert (second, third) == ("o-1-1~2", "o-1-1~3")
    assert order_code("o-1-1", third) == "o-1-1~3"
    assert {shipment_of(c) for c in ("o-1-1", second, third)} == {"o-1-1"}
    # `~` is outside the id alphabet, so no other shipment's own id can ever equal a fresh code.
    assert not re.match(ID_PATTERN, second)
