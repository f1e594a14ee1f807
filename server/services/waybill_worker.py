"""The waybill worker (issue 14): drives every request queued in `waybill_requests` to a carrier gateway, exactly once.

One worker runs in each process (started and stopped with the app, liveroom/app.py). A round:

1. *Claim* (one writer transaction): due requests (`queued`, `next_at <= now`) are taken with a guarded UPDATE that
   moves `next_at` a lease ahead (`WHERE state = 'queued' AND next_at <= now`), so no other process — nor this
   one's next round — sees them due while this one is asking. Requests to a carrier whose circuit is open wait;
   once its cool-down is over, one of them is taken as the trial (`half_open`, domain/gateway_rules.py).
2. *Call* the gateway outside any transaction, at most PARALLEL at a time, each bounded well inside the lease.
3. *Record* each outcome in one writer transaction, guarded by the claim (`next_at = lease`):
   server/services/waybill_outcomes.py.

A process that dies between 1 and 3 leaves its claims to expire: after the lease another process (or this one,
restarted) asks again. That second ask cannot make a second waybill: the request carries the shipment id as the
gateway's order code (Kdniao `OrderCode`), and the gateway answers a repeated order code with the waybill it
already issued. The worker wakes when a commit queued something (`nudge`) and polls every POLL_S seconds besides.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, or_, select, true, update

from domain.gateway_rules import DEFAULT_BREAKER, Breaker, Random, order_code, start_trial
from server.context import AppContext
from server.gateways import Gateway, Outcome, Party, WaybillOrder
from server.services import waybill_outcomes, waybill_rows
from store import models
from store.tasks import cancel_and_wait
from store.uow import Tx
from telemetry.metrics import WAYBILL_REQUESTS

log = logging.getLogger("liveroom.waybills")

LEASE_S = 60.0  # a claimed request is not due again for this long (far above a gateway call's bound)
CALL_S = 20.0  # a gateway call that has not answered by then counts as a failure to retry
CHUNK = 50  # requests claimed, sent and recorded per round
PARALLEL = 8  # gateway calls in flight at once
POLL_S = 0.5  # the worker looks for due requests this often even without a nudge

W = models.waybill_requests
_C = W.alias("pending_cancel")
# A shipment booked again with the carrier that had issued its waybill asks for the new one only once the old one
# is cancelled (the same order code would otherwise get the old waybill back).
_no_cancel_first = ~exists().where(_C.c.shipment == W.c.shipment, _C.c.carrier == W.c.carrier,
                                   _C.c.kind == "cancel", _C.c.state == "queued", W.c.kind == "issue")
# Events whose commit may have queued a request: the worker wakes for them at once.
NUDGE_KINDS = frozenset({"waybill_requested", "waybill_issued", "waybill_refused", "order_cancelled",
                         "shipment_planned", "order_verified"})


@dataclass(frozen=True)
class Claim:
    id: int
    shipment: str
    order: str
    kind: str
    carrier: str
    waybill: str | None
    attempts: int
    lease: datetime  # next_at as the claim set it: the outcome is recorded only while it still reads so
    order_code: str = ""  # the booking's gateway order code (Kdniao OrderCode): the shipment id, or `{id}~n`
    order_request: WaybillOrder | None = None  # issue: what the gateway is asked for
    receiver: Party | None = None  # subscribe: the buyer
    problem: str | None = None  # something of ours keeps it from being sent (a warehouse without a sender)
    trial: bool = False  # the request let through as its carrier's circuit trial


@dataclass
class Tuning:
    lease_s: float = LEASE_S
    call_s: float = CALL_S
    chunk: int = CHUNK
    parallel: int = PARALLEL
    breaker: Breaker = field(default_factory=Breaker)
    backoff_base_s: float | None = None  # None: domain.gateway_rules.BASE_S
    backoff_cap_s: float | None = None


# --- claiming ---------------------------------------------------------------------------------------------------


async def claim_due(tx: Tx, *, limit: int = CHUNK, lease_s: float = LEASE_S,
                    breaker: Breaker = DEFAULT_BREAKER) -> list[Claim]:
    """Claim up to `limit` due requests for this process (each one's `next_at` moves a lease ahead, guarded so a
    request another process claimed in the meantime is skipped), with what the gateway must be sent."""
    conn = tx.conn
    carriers = {r.carrier: r for r in await conn.execute(select(models.carriers))}
    circuits = {c: waybill_rows.circuit(r) for c, r in carriers.items()}
    held_back = sorted(c for c, circuit in circuits.items() if circuit.state != "closed")
    due_rule = and_(W.c.state == "queued", W.c.next_at <= tx.now)
    # Waybill requests to a carrier whose circuit is not closed wait (bar one trial, below).
    flowing = or_(W.c.kind != "issue", W.c.carrier.not_in(held_back)) if held_back else true()
    due = list((await conn.execute(
        select(W).where(due_rule, flowing, _no_cancel_first).order_by(W.c.next_at, W.c.id).limit(limit))).all())
    trials: list[Any] = []
    for carrier in held_back:
        if len(due) + len(trials) >= limit or not circuits[carrier].trial_due(tx.now):
            continue
        candidate = (await conn.execute(select(W).where(due_rule, W.c.kind == "issue", W.c.carrier == carrier,
                                                        _no_cancel_first)
                                        .order_by(W.c.next_at, W.c.id).limit(1))).first()
        if candidate is None:
            continue
        if await _start_trial(tx, carrier, circuits[carrier], breaker):
            trials.append(candidate)
    lease = tx.now + timedelta(seconds=lease_s)
    taken: list[tuple[Any, bool]] = []
    for row, trial in [*((r, False) for r in due), *((r, True) for r in trials)]:
        result = await conn.execute(update(W).where(W.c.id == row.id, due_rule).values(next_at=lease))
        if result.rowcount == 1:
            taken.append((row, trial))
    return await _prepared(tx, taken, lease)


async def _start_trial(tx: Tx, carrier: str, circuit: Any, breaker: Breaker) -> bool:
    """Half-open the carrier's circuit for one trial, guarded so only one process starts it."""
    c = models.carriers
    trial = start_trial(circuit, tx.now, breaker)
    result = await tx.conn.execute(
        update(c).where(c.c.carrier == carrier, c.c.circuit == circuit.state,
                        c.c.circuit_until == circuit.until)
        .values(circuit=trial.state, circuit_until=trial.until))
    if result.rowcount != 1:
        return False
    waybill_outcomes.circuit_changed(tx, carrier, trial)
    return True


async def _prepared(tx: Tx, taken: Sequence[tuple[Any, bool]], lease: datetime) -> list[Claim]:
    """Each claimed request with what its gateway call needs: sender (the warehouse), receiver (the buyer as
    verified), the commodity lines (Kdniao 1007 `Commodity`: GoodsName, Goods quantity)."""
    if not taken:
        return []
    conn = tx.conn
    s, o, wh, sk = models.shipments, models.orders, models.warehouses, models.skus
    shipments = {r.shipment: r for r in await conn.execute(
        select(s).where(s.c.shipment.in_({row.shipment for row, _ in taken})))}
    orders = {r.order: r for r in await conn.execute(
        select(o.c.order, o.c.buyer).where(o.c.order.in_({row.order for row, _ in taken})))}
    warehouses = {r.code: r for r in await conn.execute(select(wh))}
    skus = {sku for r in shipments.values() for sku, _ in r.items}
    names = {r.sku: r.name for r in await conn.execute(select(sk.c.sku, sk.c.name).where(sk.c.sku.in_(skus)))}
    claims = []
    for row, trial in taken:
        base = dict(id=row.id, shipment=row.shipment, order=row.order, kind=row.kind, carrier=row.carrier,
                    order_code=order_code(row.shipment, row.order_code),
                    waybill=row.waybill, attempts=row.attempts, lease=lease, trial=trial)
        order = orders.get(row.order)
        receiver = _receiver(order.buyer) if order is not None else None
        if row.kind != "issue":
            claims.append(Claim(**base, receiver=receiver))
            continue
        shipment = shipments.get(row.shipment)
        sender, problem = _sender(warehouses.get(shipment.warehouse) if shipment is not None else None,
                                  shipment.warehouse if shipment is not None else "?")
        if shipment is None or receiver is None or sender is None:
            claims.append(Claim(**base, problem=problem or f"shipment {row.shipment} is gone"))
            continue
        lines = tuple((names.get(sku, sku), qty) for sku, qty in shipment.items)
        claims.append(Claim(**base, receiver=receiver, order_request=WaybillOrder(
            shipment=order_code(row.shipment, row.order_code), carrier=row.carrier, sender=sender,
            receiver=receiver, commodities=lines)))
    return claims


def _receiver(buyer: dict[str, Any]) -> Party:
    return Party(name=buyer.get("name", ""), mobile=buyer.get("phone", ""), province=buyer.get("province", ""),
                 city=buyer.get("city", ""), district=buyer.get("district", ""), address=buyer.get("address", ""))


def _sender(row: Any, code: str) -> tuple[Party | None, str | None]:
    if row is None:
        return None, f"warehouse {code} is gone"
    missing = [name for name in ("contact", "mobile", "district", "address") if not getattr(row, name)]
    if missing:
        return None, f"warehouse {code} has no sender address ({', '.join(missing)} not set)"
    return Party(name=row.contact, mobile=row.mobile, province=row.province, city=row.city or "",
                 district=row.district, address=row.address), None


# --- calling ----------------------------------------------------------------------------------------------------


async def call(gateway: Gateway, claim: Claim, timeout_s: float = CALL_S) -> Outcome:
    """One request to the gateway. Whatever goes wrong on the way — an exception, no answer in time — is a
    failure to try again; only the gateway's own refusal is final."""
    if claim.problem is not None:
        return Outcome("retry", reason=claim.problem)
    try:
        async with asyncio.timeout(timeout_s):
            if claim.kind == "issue":
                assert claim.order_request is not None
                return await gateway.issue(claim.order_request)
            if claim.kind == "subscribe":
                assert claim.waybill is not None and claim.receiver is not None
                return await gateway.subscribe(claim.carrier, claim.waybill, claim.order_code, claim.receiver)
            assert claim.waybill is not None
            return await gateway.cancel(claim.carrier, claim.waybill, claim.order_code)
    except TimeoutError:
        return Outcome("retry", reason=f"no answer from {gateway.name} within {timeout_s:g} s")
    except Exception as failure:  # a gateway should answer `retry` itself; this one raised
        log.warning("%s %s of %s raised", gateway.name, claim.kind, claim.shipment, exc_info=failure)
        return Outcome("retry", reason=f"{type(failure).__name__}: {failure}")


# --- the worker -------------------------------------------------------------------------------------------------


class WaybillWorker:
    """The process's one worker: `start`/`stop` with the app, `nudge` after a commit that queued a request,
    `run_once` for one pass over everything due now (tests call it directly)."""

    def __init__(self, ctx: AppContext, gateway: Gateway, *, poll_s: float = POLL_S, tuning: Tuning | None = None,
                 rng: Random | None = None) -> None:
        self.ctx = ctx
        self.gateway = gateway
        self.poll_s = poll_s
        self.tuning = tuning or Tuning()
        self.rng: Random = rng or random.Random()
        self.rounds = 0
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="liveroom-waybills")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    def nudge(self) -> None:
        self._wake.set()

    def on_commit(self, envelopes: Sequence[tuple[int, dict[str, Any]]]) -> None:
        """Wake at once when a commit queued something for the gateway."""
        if any(record.get("kind") in NUDGE_KINDS for _, record in envelopes):
            self._wake.set()

    async def run_once(self) -> dict[str, int]:
        """Claim, call and record every request due now, a chunk at a time, until none is due; answers the count
        of each step."""
        totals: dict[str, int] = {}
        t = self.tuning
        gate = asyncio.Semaphore(t.parallel)

        async def send(claim: Claim) -> tuple[Claim, Outcome]:
            async with gate:
                outcome = await call(self.gateway, claim, t.call_s)
            WAYBILL_REQUESTS.labels(claim.kind, outcome.result).inc()
            return claim, outcome

        while True:
            claims = await self.ctx.writer.call(functools.partial(
                claim_due, limit=t.chunk, lease_s=t.lease_s, breaker=t.breaker))
            if not claims:
                return totals
            outcomes = await asyncio.gather(*(send(c) for c in claims))
            steps = await self.ctx.writer.call(functools.partial(
                waybill_outcomes.record, outcomes=outcomes, ctx=self.ctx, rng=self.rng, breaker=t.breaker,
                base_s=t.backoff_base_s, cap_s=t.backoff_cap_s))
            for key, n in steps.items():
                totals[key] = totals.get(key, 0) + n
            # On until nothing is due: an outcome may have queued what is due at once (a subscription, the next
            # carrier, the new waybill of a shipment whose old one was just cancelled).

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)
            self._wake.clear()
            try:
                report = await self.run_once()
                self.rounds += 1
                if report:
                    log.info("waybills: %s", ", ".join(f"{n} {k}" for k, n in sorted(report.items())))
            except asyncio.CancelledError:
                raise
            except Exception:
                self.failures += 1
                log.exception("the waybill worker's round failed; trying again in %s s", self.poll_s)
