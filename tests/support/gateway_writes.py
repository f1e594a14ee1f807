"""The rows and events the carrier gateways' worker writes (issue 14), written the way it writes them — one writer
transaction each — for tests of what the screens show while the worker itself is driven elsewhere. `app`: anything
with `.ctx.writer` (the recorded app of tests/realtime, a LiveServer)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select, update

from domain.china_time import china_day
from domain.events import GatewayCircuitChanged, OrderHeld, WaybillIssued, WaybillRefused, WaybillRequested
from store import models


async def write(app: Any, fn: Any) -> None:
    await app.ctx.writer.call(fn)


async def request(app: Any, answer: dict[str, Any]) -> None:
    """The order's commit in gateway mode: its shipment without a waybill, an issue request queued."""
    parcel = answer["shipments"][0]

    async def tx_fn(tx: Any) -> None:
        s, wr = models.shipments, models.waybill_requests
        await tx.conn.execute(update(s).where(s.c.shipment == parcel["shipment"]).values(waybill=None))
        await tx.conn.execute(wr.insert().values(shipment=parcel["shipment"], order=answer["order"], kind="issue",
                                                 carrier=parcel["carrier"], state="queued", attempts=0,
                                                 next_at=tx.now, created_at=tx.now))
        tx.emit(WaybillRequested(at=tx.now, shipment=parcel["shipment"], order=answer["order"], room="room-1",
                                 leader="lead-a", carrier=parcel["carrier"]))

    await write(app, tx_fn)


async def issue(app: Any, answer: dict[str, Any], waybill: str) -> None:
    parcel = answer["shipments"][0]

    async def tx_fn(tx: Any) -> None:
        s, wr = models.shipments, models.waybill_requests
        carrier = (await tx.conn.execute(select(s.c.carrier).where(s.c.shipment == parcel["shipment"]))).scalar_one()
        await tx.conn.execute(update(s).where(s.c.shipment == parcel["shipment"]).values(waybill=waybill))
        await tx.conn.execute(update(wr).where(wr.c.shipment == parcel["shipment"], wr.c.kind == "issue",
                                               wr.c.state == "queued").values(state="done", done_at=tx.now))
        tx.emit(WaybillIssued(at=tx.now, shipment=parcel["shipment"], order=answer["order"], room="room-1",
                              leader="lead-a", carrier=carrier, waybill=waybill))

    await write(app, tx_fn)


async def refuse(app: Any, answer: dict[str, Any], reason: str, next_carrier: str | None) -> None:
    """A definite no: the shipment moves to `next_carrier` (its day's count with it), or the order is held."""
    parcel = answer["shipments"][0]

    async def tx_fn(tx: Any) -> None:
        s, wr, o, cd = models.shipments, models.waybill_requests, models.orders, models.carrier_days
        await tx.conn.execute(update(wr).where(wr.c.shipment == parcel["shipment"], wr.c.kind == "issue",
                                               wr.c.state == "queued").values(state="refused", done_at=tx.now,
                                                                              last_error=reason))
        if next_carrier is None:
            await tx.conn.execute(update(o).where(o.c.order == answer["order"])
                                  .values(status="held", flags=["carrier_refused"]))
        else:
            day = china_day(tx.now)
            await tx.conn.execute(update(s).where(s.c.shipment == parcel["shipment"]).values(carrier=next_carrier))
            await tx.conn.execute(update(cd).where(cd.c.carrier == parcel["carrier"], cd.c.day == day)
                                  .values(assigned=cd.c.assigned - 1))
            moved = await tx.conn.execute(update(cd).where(cd.c.carrier == next_carrier, cd.c.day == day)
                                          .values(assigned=cd.c.assigned + 1))
            if moved.rowcount == 0:
                await tx.conn.execute(cd.insert().values(carrier=next_carrier, day=day, assigned=1))
            await tx.conn.execute(wr.insert().values(shipment=parcel["shipment"], order=answer["order"],
                                                     kind="issue", carrier=next_carrier, state="queued", attempts=0,
                                                     next_at=tx.now, created_at=tx.now))
        tx.emit(WaybillRefused(at=tx.now, shipment=parcel["shipment"], order=answer["order"], room="room-1",
                               leader="lead-a", carrier=parcel["carrier"], reason=reason,
                               next_carrier=next_carrier))
        if next_carrier is None:
            tx.emit(OrderHeld(at=tx.now, order=answer["order"], room="room-1", leader="lead-a",
                              flags=("carrier_refused",)))

    await write(app, tx_fn)


async def circuit(app: Any, carrier: str, state: str, minutes: float | None, failures: int) -> None:
    async def tx_fn(tx: Any) -> None:
        c = models.carriers
        until = None if minutes is None else tx.now + timedelta(minutes=minutes)
        await tx.conn.execute(update(c).where(c.c.carrier == carrier)
                              .values(circuit=state, circuit_until=until, gateway_failures=failures))
        tx.emit(GatewayCircuitChanged(at=tx.now, carrier=carrier, state=state, until=until, failures=failures))

    await write(app, tx_fn)
