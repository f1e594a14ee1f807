"""Carrier gateways (issue 14): the services that book waybills with the carriers and subscribe their tracking.

`LIVEROOM_CARRIER_GATEWAY` picks one: `sandbox` (server/services/waybills.py: numbers at once, no network),
`kdniao` (快递鸟: e-waybill 1007, subscription 1008, cancel 1147) or `kuaidi100` (waybills numbered locally as in
the sandbox, tracking subscribed through 快递100's poll). The worker (server/services/waybill_worker.py) drives every
request from the `waybill_requests` table after the order's commit; a gateway only turns one request into one HTTP
call and its answer into an `Outcome`. It never touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

Result = Literal["ok", "refused", "retry"]


@dataclass(frozen=True, slots=True)
class Party:
    """A sender (the warehouse) or a receiver (the buyer as verified)."""

    name: str
    mobile: str
    province: str
    city: str
    district: str
    address: str


@dataclass(frozen=True, slots=True)
class WaybillOrder:
    """One shipment to book. `shipment` is the gateway's order code (Kdniao `OrderCode`), so a retry of the same
    shipment can never create a second waybill. `carrier` is our carrier code, which is Kdniao's ShipperCode."""

    shipment: str
    carrier: str
    sender: Party
    receiver: Party
    commodities: tuple[tuple[str, int], ...]  # (goods name, quantity)
    weight_kg: float = 1.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one request came to: `ok` (with the waybill for an issue), `refused` (a definite no from the gateway,
    never retried; `reason` is its words), or `retry` (network error, timeout, 5xx, an answer we could not read)."""

    result: Result
    waybill: str | None = None
    reason: str = ""


class Gateway(Protocol):
    name: str  # "kdniao" | "kuaidi100"
    issues_waybills: bool  # False: waybills are numbered locally (kuaidi100 mode), only subscriptions go out

    async def issue(self, order: WaybillOrder) -> Outcome: ...

    async def subscribe(self, carrier: str, waybill: str, shipment: str, receiver: Party) -> Outcome: ...

    async def cancel(self, carrier: str, waybill: str, shipment: str) -> Outcome: ...

    async def aclose(self) -> None: ...
