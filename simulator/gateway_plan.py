"""The carrier gateway's troubles in a simulated session (`--gateway test`), so the ops wall's gateway panel has
something to show: one carrier refuses a few addresses it does not serve (the server moves those parcels to the
next carrier), and now and then that carrier's system goes down behind the gateway for half a minute (the server's
breaker opens, new parcels go to the other carriers, a trial closes it again)."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from simulator.gateway import TestGateway

TROUBLED_CARRIER = "YTO"
REFUSAL_SHARE = 0.04  # of the troubled carrier's bookings: an address it does not serve
REFUSAL_REASON = "超区件：收件地址不在派送范围"
OUTAGE_FIRST_S = 40.0  # wall seconds into the session: a demo shows a circuit opening within its first minute
OUTAGE_EVERY_S = 600.0
OUTAGE_S = 25.0


def refused_address(data: dict[str, Any]) -> bool:
    """The same few shipments every run (by their order code): about REFUSAL_SHARE of them."""
    code = str(data.get("OrderCode", ""))
    return int(hashlib.sha256(code.encode()).hexdigest()[:8], 16) < REFUSAL_SHARE * 0x1_0000_0000


def set_up(gateway: TestGateway) -> None:
    gateway.refuse(REFUSAL_REASON, carrier=TROUBLED_CARRIER, when=refused_address)


async def play(gateway: TestGateway, sleep_until: Callable[[float], Awaitable[bool]], start: float,
               on_outage: Callable[[], None]) -> None:
    """Take the troubled carrier down for OUTAGE_S at each outage time (loop time `start` + t) until stopped."""
    at = OUTAGE_FIRST_S
    while await sleep_until(start + at):
        gateway.carrier_down(TROUBLED_CARRIER, OUTAGE_S)
        on_outage()
        at += OUTAGE_EVERY_S
