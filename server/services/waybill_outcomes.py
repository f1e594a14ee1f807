"""What the waybill worker's gateway calls came to, recorded in one writer transaction (issue 14).

Each outcome is recorded only while its claim still holds (`state = 'queued' AND next_at = lease`): a claim that
lapsed (this process was too slow, another took the request over, the request was dropped) changes nothing but
the carrier's circuit — except a waybill issued for a request nobody wants any more (the order was cancelled,
the shipment re-routed), which gets its cancel, so no waybill is left open at the carrier.

- issued (issue ok): the shipment's waybill is set (WaybillIssued) and its tracking subscription queued; a waybill
  that lands for a cancelled order is cancelled at once instead.
- done (subscribe or cancel ok): the request is done; a cancel announces WaybillCancelled.
- reroute (issue refused): WaybillRefused; the shipment goes to the next carrier routing allows, skipping carriers
  down, carriers whose circuit is open and carriers that already refused it, its count moved between the
  carriers' days; with none left the order is held for its leader (flag `carrier_refused`, OrderHeld), whose fix
  books it again (order_changes.verify → shipping.issue_waybills).
- refused (subscribe or cancel refused): recorded with the gateway's reason, never retried.
- retry: one more attempt, due after the backoff with jitter (domain/gateway_rules.py).
Every issue outcome from the gateway also moves its carrier's circuit (GatewayCircuitChanged when it changes state).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from domain import gateway_rules, routing
from domain.errors import DomainError
from domain.events import (
    GatewayCircuitChanged,
    OrderHeld,
    WaybillCancelled,
    WaybillIssued,
    WaybillRefused,
)
from domain.gateway_rules import DEFAULT_BREAKER, Breaker, Circuit, Random, Step
from server.context import AppContext
from server.gateways import Outcome
from server.services import shipping, waybill_rows
from store import models
from store.sql import insert_missing
from store.uow import Tx

if TYPE_CHECKING:
    from server.services.waybill_worker import Claim

log = logging.getLogger("liveroom.waybills")

W = models.waybill_requests
HOLD_FLAG = "carrier_refused"


def circuit_changed(tx: Tx, carrier: str, circuit: Circuit) -> None:
    tx.emit(GatewayCircuitChanged(at=tx.now, carrier=carrier, state=circuit.state, until=circuit.until,
                                  failures=circuit.failures))


async def record(tx: Tx, outcomes: Sequence[tuple[Claim, Outcome]], ctx: AppContext, rng: Random,
                 breaker: Breaker = DEFAULT_BREAKER, base_s: float | None = None,
                 cap_s: float | None = None) -> dict[str, int]:
    """Record each claimed request's outcome (see the module's doc); answers how many came to each step."""
    counts: dict[str, int] = {}
    for claim, outcome in outcomes:
        if claim.kind == "issue" and outcome.result == "ok" and not outcome.waybill:
            outcome = Outcome("retry", reason="the gateway answered ok without a waybill")
        if claim.kind == "issue" and claim.problem is None:
            await _move_circuit(tx, claim.carrier, outcome, breaker)
        step = gateway_rules.next_step(claim.kind, outcome.result)  # type: ignore[arg-type]
        held = (W.c.id == claim.id, W.c.state == "queued", W.c.next_at == claim.lease)
        if step == Step.RETRY:
            attempts = claim.attempts + 1
            backoff = {k: v for k, v in (("base", base_s), ("cap", cap_s)) if v is not None}
            values: dict[str, Any] = {"attempts": attempts, "last_error": outcome.reason or "failed",
                                      "next_at": gateway_rules.next_try(attempts, tx.now, rng, **backoff)}
        elif step in (Step.ISSUED, Step.DONE):
            values = {"state": "done", "attempts": claim.attempts + 1, "done_at": tx.now, "last_error": None}
            if step == Step.ISSUED:
                values["waybill"] = outcome.waybill
        else:
            values = {"state": "refused", "attempts": claim.attempts + 1, "done_at": tx.now,
                      "last_error": outcome.reason or "refused"}
        result = await tx.conn.execute(update(W).where(*held).values(**values))
        if result.rowcount != 1:
            log.info("waybill request %s (%s %s): the claim lapsed before its outcome was recorded",
                     claim.id, claim.kind, claim.shipment)
            if step == Step.ISSUED:
                await _unwanted_waybill(tx, claim, outcome)
            counts["lapsed"] = counts.get("lapsed", 0) + 1
            continue
        counts[str(step)] = counts.get(str(step), 0) + 1
        if step == Step.ISSUED:
            await _issued(tx, claim, outcome)
        elif step == Step.DONE and claim.kind == "cancel":
            assert claim.waybill is not None
            tx.emit(WaybillCancelled(at=tx.now, shipment=claim.shipment, order=claim.order, carrier=claim.carrier,
                                     waybill=claim.waybill))
        elif step == Step.REROUTE:
            await _reroute(tx, ctx, claim, outcome.reason or "refused")
        elif step == Step.REFUSED:
            log.warning("%s of %s refused by the gateway: %s", claim.kind, claim.waybill, outcome.reason)
    return counts


async def _move_circuit(tx: Tx, carrier: str, outcome: Outcome, breaker: Breaker) -> None:
    c = models.carriers
    row = (await tx.conn.execute(select(c).where(c.c.carrier == carrier))).first()
    before = waybill_rows.circuit(row) if row is not None else Circuit()
    after = gateway_rules.after(before, outcome.result, tx.now, breaker)
    if after == before:
        return
    if row is None:  # a carrier operations never configured still gets its circuit
        await insert_missing(tx.conn, c, [{"carrier": carrier, "available": True}], ["carrier"])
    await tx.conn.execute(update(c).where(c.c.carrier == carrier).values(
        circuit=after.state, circuit_until=after.until, gateway_failures=after.failures))
    if after.state != before.state:
        circuit_changed(tx, carrier, after)


async def _issued(tx: Tx, claim: Claim, outcome: Outcome) -> None:
    """The waybill goes on its shipment and its tracking is subscribed, unless the order was cancelled meanwhile
    (or the shipment moved to another carrier): then it is cancelled at the gateway."""
    waybill = outcome.waybill
    assert waybill  # an ok without one was made a retry
    s, o = models.shipments, models.orders
    row = (await tx.conn.execute(select(s.c.shipment, s.c.carrier, s.c.waybill, s.c.state, o.c.status,
                                        o.c.room, o.c.leader)
                                 .join(o, o.c.order == s.c.order).where(s.c.shipment == claim.shipment))).first()
    if row is None or row.status == "cancelled" or row.state == "cancelled" or row.carrier != claim.carrier:
        await _cancel_stray(tx, claim, waybill)
        return
    if row.waybill is None:
        await tx.conn.execute(update(s).where(s.c.shipment == claim.shipment, s.c.waybill.is_(None))
                              .values(waybill=waybill, state_since=tx.now))
    elif row.waybill != waybill:  # cannot happen with a gateway that deduplicates by order code
        log.error("shipment %s already has waybill %s; the gateway issued %s", claim.shipment, row.waybill, waybill)
        return
    tx.emit(WaybillIssued(at=tx.now, shipment=claim.shipment, order=claim.order, room=row.room,
                          leader=row.leader, carrier=claim.carrier, waybill=waybill))
    await waybill_rows.queue(tx, [waybill_rows.request_row("subscribe", claim.shipment, claim.order,
                                                           claim.carrier, tx.now, waybill, claim.order_code)])


async def _unwanted_waybill(tx: Tx, claim: Claim, outcome: Outcome) -> None:
    """A waybill issued for a request that was dropped meanwhile (order cancelled, shipment re-routed) is
    cancelled. One whose request is still queued (another process took it over) is left to that process."""
    state = (await tx.conn.execute(select(W.c.state).where(W.c.id == claim.id))).scalar_one_or_none()
    shipment_waybill = (await tx.conn.execute(select(models.shipments.c.waybill).where(
        models.shipments.c.shipment == claim.shipment))).scalar_one_or_none()
    if state == "dropped" and outcome.waybill and shipment_waybill != outcome.waybill:
        await _cancel_stray(tx, claim, outcome.waybill)


async def _cancel_stray(tx: Tx, claim: Claim, waybill: str) -> None:
    """A waybill nobody wants any more is cancelled under the code it was booked with. That code is then used for
    good (Kdniao 1147), so when it is still the shipment's current one, the shipment's next booking takes a fresh
    code, and a request already queued under it moves to that code."""
    await waybill_rows.queue(tx, [waybill_rows.request_row("cancel", claim.shipment, claim.order, claim.carrier,
                                                           tx.now, waybill, claim.order_code)])
    s = models.shipments
    current = (await tx.conn.execute(select(s.c.order_code).where(s.c.shipment == claim.shipment))).first()
    if current is None or gateway_rules.order_code(claim.shipment, current.order_code) != claim.order_code:
        return
    fresh = gateway_rules.next_order_code(claim.shipment, current.order_code)
    await tx.conn.execute(update(s).where(s.c.shipment == claim.shipment).values(order_code=fresh))
    await tx.conn.execute(update(W).where(W.c.shipment == claim.shipment, W.c.kind == "issue", W.c.state == "queued")
                          .values(order_code=fresh))


async def _reroute(tx: Tx, ctx: AppContext, claim: Claim, reason: str) -> None:
    """The carrier refused the shipment: the next carrier routing allows, or the order held for the leader."""
    s, o = models.shipments, models.orders
    row = (await tx.conn.execute(select(s).where(s.c.shipment == claim.shipment))).first()
    order = (await tx.conn.execute(select(o).where(o.c.order == claim.order))).first()
    if row is None or order is None:
        return
    live = order.status == "accepted" and row.state != "cancelled" and row.carrier == claim.carrier
    desk = await shipping.CarrierDesk.load_for(tx)
    refused = await waybill_rows.refused_carriers(tx, claim.shipment)
    consignee = shipping.Consignee.of(order)
    chosen: str | None = None
    if live:
        try:
            chosen = routing.choose_carrier(consignee.destination, desk.warehouses[row.warehouse],
                                            consignee.total_cents, consignee.delivery,
                                            ctx.carrier_policy.with_capacity(desk.capacity),
                                            desk.unavailable | refused, desk.load)
        except DomainError:  # no carrier left for this parcel
            chosen = None
    tx.emit(WaybillRefused(at=tx.now, shipment=claim.shipment, order=claim.order, room=order.room,
                           leader=order.leader, carrier=claim.carrier, reason=reason, next_carrier=chosen))
    if not live:
        return
    if chosen is None:
        await _hold(tx, order)
        return
    desk.unassign(row.carrier, row.created_at)
    desk.assign(chosen)
    await tx.conn.execute(update(s).where(s.c.shipment == claim.shipment).values(carrier=chosen,
                                                                                 state_since=tx.now))
    await desk.flush(tx)
    await waybill_rows.queue(tx, [waybill_rows.request_row("issue", claim.shipment, claim.order, chosen, tx.now,
                                                           order_code=row.order_code)])
    tx.emit(*waybill_rows.requested_events(claim.order, order.room, order.leader, [(claim.shipment, chosen)],
                                           tx.now))


async def _hold(tx: Tx, order: Any) -> None:
    """No carrier will take a parcel of the order: it is held for its leader, as screening holds (the leader's
    fix books it again). Its other parcels' requests wait with it."""
    flags = [*(order.flags or []), HOLD_FLAG] if HOLD_FLAG not in (order.flags or []) else list(order.flags)
    o = models.orders
    await tx.conn.execute(update(o).where(o.c.order == order.order, o.c.status == "accepted")
                          .values(status="held", flags=flags, updated_at=tx.now))
    await waybill_rows.drop_queued(tx, await _live_shipments(tx, order.order), ("issue",))
    tx.emit(OrderHeld(at=tx.now, order=order.order, room=order.room, leader=order.leader, flags=tuple(flags)))


async def _live_shipments(tx: Tx, order: str) -> list[str]:
    s = models.shipments
    return [r.shipment for r in await tx.conn.execute(
        select(s.c.shipment).where(s.c.order == order, s.c.state != "cancelled"))]
