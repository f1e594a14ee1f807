"""Queueing the requests a carrier gateway must get (issue 14), inside the transaction that makes them needed.

The order path (orders.py), a held order released and a re-route (shipping.py `_book`) and a cancel
(order_changes.py) call in here; the worker (waybill_worker.py) sends what is queued after the commit. The mode
comes from `LIVEROOM_CARRIER_GATEWAY`:
- `sandbox`: waybills numbered at once, nothing queued (as before issue 14);
- `kdniao`: shipments are written without a waybill, with an `issue` request each (Kdniao 1007, OrderCode = the
  shipment id) and a WaybillRequested event; the worker sets the waybill and queues its `subscribe` (1008);
- `kuaidi100`: waybills numbered locally as in the sandbox, each queued for a `subscribe` (Kuaidi100 poll).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from domain.events import WaybillRequested
from domain.gateway_rules import Circuit, blocked_carriers, next_order_code
from server.settings import Settings
from store import models
from store.sql import upsert
from store.uow import Tx

W = models.waybill_requests
SANDBOX, KDNIAO, KUAIDI100 = "sandbox", "kdniao", "kuaidi100"


def issued_by_gateway(settings: Settings) -> bool:
    """Waybills come from the gateway after the commit (shipments wait `awaiting_waybill`), not at once."""
    return settings.carrier_gateway == KDNIAO


def request_row(kind: str, shipment: str, order: str, carrier: str, now: datetime,
                waybill: str | None = None, order_code: str | None = None) -> dict[str, Any]:
    """`order_code`: the booking's gateway order code (None: the shipment id, its first booking's)."""
    return {"shipment": shipment, "order": order, "kind": kind, "carrier": carrier, "waybill": waybill,
            "order_code": order_code, "state": "queued", "attempts": 0, "next_at": now, "last_error": None,
            "created_at": now, "done_at": None}


async def queue(tx: Tx, rows: Sequence[dict[str, Any]]) -> None:
    """Queue the requests, due now. A request for the same (shipment, kind, carrier) as an earlier one — a
    shipment routed back to a carrier, a held order released — starts over: an outcome still in flight for the
    old one no longer matches its claim and is dropped by the worker."""
    await upsert(tx.conn, W, rows, ["shipment", "kind", "carrier"],
                 ["order", "waybill", "order_code", "state", "attempts", "next_at", "last_error", "done_at"])


def requested_events(order: str, room: str, leader: str | None, parcels: Iterable[tuple[str, str]],
                     now: datetime) -> list[WaybillRequested]:
    """One WaybillRequested per (shipment, carrier)."""
    return [WaybillRequested(at=now, shipment=s, order=order, room=room, leader=leader, carrier=c)
            for s, c in parcels]


async def request_waybills(tx: Tx, settings: Settings, order: str, room: str, leader: str | None,
                           parcels: Sequence[tuple[str, str, str | None]]) -> None:
    """Parcels (shipment, carrier, waybill) booked again (a held order released, a re-route): in kdniao mode a
    new `issue` for each — the waybill they had, if any, is cancelled at the gateway and a request still queued
    for another carrier is dropped; in kuaidi100 mode a `subscribe` for each new local waybill."""
    if not parcels or settings.carrier_gateway == SANDBOX:
        return
    shipments = [s for s, _, _ in parcels]
    if issued_by_gateway(settings):
        codes = await _retire(tx, shipments)
        await queue(tx, [request_row("issue", s, order, c, tx.now, order_code=codes.get(s)) for s, c, _ in parcels])
        tx.emit(*requested_events(order, room, leader, ((s, c) for s, c, _ in parcels), tx.now))
    else:
        await queue(tx, [request_row("subscribe", s, order, c, tx.now, w) for s, c, w in parcels if w])


async def _retire(tx: Tx, shipments: Collection[str]) -> dict[str, str | None]:
    """Before a shipment is booked anew: its issued waybill gets a cancel (under the code it was booked with) and
    the shipment a fresh order code for the new booking; its queued requests are dropped. Answers each shipment's
    code for the new booking (None: the shipment id)."""
    s = models.shipments
    rows = list(await tx.conn.execute(select(s.c.shipment, s.c.order, s.c.carrier, s.c.waybill, s.c.order_code)
                                      .where(s.c.shipment.in_(shipments))))
    issued = [r for r in rows if r.waybill]
    await drop_queued(tx, shipments, ("issue", "subscribe"))
    await queue(tx, [request_row("cancel", r.shipment, r.order, r.carrier, tx.now, r.waybill, r.order_code)
                     for r in issued])
    codes: dict[str, str | None] = {r.shipment: r.order_code for r in rows}
    for r in issued:
        codes[r.shipment] = next_order_code(r.shipment, r.order_code)
        await tx.conn.execute(update(s).where(s.c.shipment == r.shipment).values(order_code=codes[r.shipment]))
    return codes


async def drop_queued(tx: Tx, shipments: Collection[str], kinds: Collection[str]) -> None:
    await tx.conn.execute(update(W).where(W.c.shipment.in_(shipments), W.c.kind.in_(kinds), W.c.state == "queued")
                          .values(state="dropped", done_at=tx.now))


async def forget_refusals(tx: Tx, shipments: Collection[str]) -> None:
    """A held order the leader fixed: the carriers that refused the old address may take the new one."""
    await tx.conn.execute(update(W).where(W.c.shipment.in_(shipments), W.c.kind == "issue", W.c.state == "refused")
                          .values(state="dropped"))


async def refused_carriers(tx: Tx, shipment: str) -> frozenset[str]:
    rows = await tx.conn.execute(select(W.c.carrier).where(W.c.shipment == shipment, W.c.kind == "issue",
                                                           W.c.state == "refused"))
    return frozenset(r.carrier for r in rows)


async def order_cancelled(tx: Tx, settings: Settings, order: str) -> None:
    """A cancelled order: waybills the gateway issued are cancelled there (Kdniao 1147); waybills still awaited
    are no longer wanted (an issue already in flight that lands anyway gets its cancel from the worker)."""
    if settings.carrier_gateway == SANDBOX:
        return
    s = models.shipments
    rows = list(await tx.conn.execute(select(s.c.shipment, s.c.carrier, s.c.waybill, s.c.order_code)
                                      .where(s.c.order == order)))
    await drop_queued(tx, [r.shipment for r in rows], ("issue", "subscribe"))
    if issued_by_gateway(settings):
        await queue(tx, [request_row("cancel", r.shipment, order, r.carrier, tx.now, r.waybill, r.order_code)
                         for r in rows if r.waybill])


def circuit(row: Any) -> Circuit:
    """A carriers row's circuit."""
    return Circuit(row.circuit or "closed", row.circuit_until, row.gateway_failures or 0)


def blocked(carrier_rows: Iterable[Any], now: datetime) -> frozenset[str]:
    """Carriers routing skips now because their gateway circuit is open (or on its trial)."""
    return blocked_carriers({r.carrier: circuit(r) for r in carrier_rows}, now)
