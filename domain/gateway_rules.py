"""The rules of talking to a carrier gateway (issue 14): when to try a request again, when to stop asking a carrier
for a while (its circuit breaker), and what a gateway's answer leads to.

Backoff. A request that met a network error, a timeout, a 5xx or an answer we could not read is tried again after
`retry_after(attempts)`: exponential from BASE_S, capped at CAP_S, with *equal jitter* (half the ceiling fixed,
half random) so a thousand shipments that failed together do not come back together, and none comes back at once.
It is never given up: a waybill still awaited is what operations sees and acts on.

Circuit breaker, per carrier. `closed`: requests flow; FAILURES_TO_OPEN retry outcomes in a row open it. `open`:
no request to that carrier until `until` (the cool-down); routing gives new shipments to other carriers meanwhile.
Once the cool-down is over one request is let through as a trial (`half_open`, itself bounded by a lease so a trial
lost in a crash does not hold the circuit for ever): an answer (issued or refused: the gateway is up) closes it,
another failure opens it for a new cool-down. Only waybill requests (`issue`) count; a subscription or a cancel
that fails is retried on its own backoff and does not block the carrier's waybills.

Pure: stdlib and the domain only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal, Protocol

BASE_S = 1.0  # the first retry comes after 0.5–1 s
CAP_S = 300.0  # no retry waits more than 5 minutes
FAILURES_TO_OPEN = 5  # retry outcomes in a row that open a carrier's circuit
COOL_DOWN_S = 30.0  # how long an open circuit stops requests to its carrier
TRIAL_LEASE_S = 60.0  # a half-open circuit whose trial never answered (a crash) allows another trial after this

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
Result = Literal["ok", "refused", "retry"]
Kind = Literal["issue", "subscribe", "cancel"]


class Random(Protocol):
    def random(self) -> float: ...


def retry_after(attempts: int, rng: Random, *, base: float = BASE_S, cap: float = CAP_S) -> float:
    """Seconds to wait before trying again after `attempts` failures in a row (1 = the first failure): the ceiling
    `min(cap, base·2^(attempts−1))`, half of it fixed and half drawn from `rng` (equal jitter)."""
    if attempts < 1:
        raise ValueError("a retry follows at least one failed attempt")
    if base <= 0 or cap < base:
        raise ValueError("the backoff needs 0 < base <= cap")
    ceiling = min(cap, base * 2.0 ** min(attempts - 1, 60))
    return ceiling / 2 + rng.random() * ceiling / 2


def next_try(attempts: int, now: datetime, rng: Random, *, base: float = BASE_S, cap: float = CAP_S) -> datetime:
    return now + timedelta(seconds=retry_after(attempts, rng, base=base, cap=cap))


# --- the circuit breaker ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Breaker:
    """How a carrier's circuit behaves (configurable for tests and operations)."""

    failures_to_open: int = FAILURES_TO_OPEN
    cool_down_s: float = COOL_DOWN_S
    trial_lease_s: float = TRIAL_LEASE_S

    def __post_init__(self) -> None:
        if self.failures_to_open < 1 or self.cool_down_s <= 0 or self.trial_lease_s <= 0:
            raise ValueError("a breaker needs failures_to_open >= 1 and positive durations")


DEFAULT_BREAKER = Breaker()


@dataclass(frozen=True, slots=True)
class Circuit:
    """One carrier's circuit as stored (carriers.circuit, circuit_until, gateway_failures)."""

    state: str = CLOSED
    until: datetime | None = None
    failures: int = 0

    def blocked(self, now: datetime) -> bool:
        """No request goes to the carrier now, and routing skips it: open and cooling down, or a trial in flight."""
        return self.state != CLOSED and (self.until is None or self.until > now)

    def trial_due(self, now: datetime) -> bool:
        """Open (or half open with a trial that never answered) and past its time: one request may go through."""
        return self.state != CLOSED and not self.blocked(now)


def start_trial(circuit: Circuit, now: datetime, breaker: Breaker = DEFAULT_BREAKER) -> Circuit:
    """The circuit once one request is let through as the trial: half open, for at most the trial's lease."""
    if not circuit.trial_due(now):
        raise ValueError(f"no trial is due on a {circuit.state} circuit now")
    return Circuit(HALF_OPEN, now + timedelta(seconds=breaker.trial_lease_s), circuit.failures)


def after(circuit: Circuit, result: Result, now: datetime, breaker: Breaker = DEFAULT_BREAKER) -> Circuit:
    """The circuit after a waybill request to its carrier came to `result`.

    An answer (ok, or a definite refusal: the gateway is up) closes it and clears the count. A failure counts one
    more in a row: on a closed circuit it opens once the count reaches `failures_to_open`; on a circuit that is not
    closed (the trial, or a request sent before it opened) it opens again for a new cool-down."""
    if result != "retry":
        return Circuit()
    failures = circuit.failures + 1
    if circuit.state == CLOSED and failures < breaker.failures_to_open:
        return Circuit(CLOSED, None, failures)
    return Circuit(OPEN, now + timedelta(seconds=breaker.cool_down_s), failures)


def blocked_carriers(circuits: Mapping[str, Circuit], now: datetime) -> frozenset[str]:
    """The carriers routing must skip now because of their circuit."""
    return frozenset(carrier for carrier, circuit in circuits.items() if circuit.blocked(now))


# --- what an answer leads to -----------------------------------------------------------------------------------------


class Step(StrEnum):
    ISSUED = "issued"  # the waybill goes on the shipment; its tracking is subscribed
    DONE = "done"  # a subscription or a cancel went through
    REROUTE = "reroute"  # the carrier refused the waybill: the next carrier routing allows, or the order is held
    REFUSED = "refused"  # a subscription or a cancel refused for good: recorded with its reason, not retried
    RETRY = "retry"  # tried again after the backoff


def next_step(kind: Kind, result: Result) -> Step:
    """What the worker does with a request of `kind` that came to `result`. A definite refusal is never retried."""
    if result == "retry":
        return Step.RETRY
    if result == "ok":
        return Step.ISSUED if kind == "issue" else Step.DONE
    if result == "refused":
        return Step.REROUTE if kind == "issue" else Step.REFUSED
    raise ValueError(f"unknown result {result!r}")


# --- the gateway's order code of a booking ----------------------------------------------------------------------

CODE_MARK = "~"  # outside the business-id alphabet (A-Z a-z 0-9 _ . : -) and not one Kdniao forbids


def order_code(shipment: str, current: str | None) -> str:
    """The order code a shipment's booking is asked under (Kdniao `OrderCode`): the shipment id, so a retried request
    can never book a second waybill (the gateway deduplicates by it). A refused request does not use the code up."""
    return current or shipment


def next_order_code(shipment: str, current: str | None) -> str:
    """The code of the shipment's next booking once its waybill was cancelled (a re-route, a released hold): Kdniao
    keeps a cancelled OrderCode used for good (1147), so `{shipment}~2`, `~3`, ... in turn."""
    if not current or CODE_MARK not in current:
        return f"{shipment}{CODE_MARK}2"
    return f"{shipment}{CODE_MARK}{int(current.rsplit(CODE_MARK, 1)[1]) + 1}"


def shipment_of(code: str) -> str:
    """The shipment an order code books (what a gateway's answer or hook names)."""
    return code.split(CODE_MARK, 1)[0]
