"""Parcels on the road: what carriers report about a waybill, applied to its shipment.

A carrier report (a Kdniao or Kuaidi100 push, or the normalized API) carries the parcel's whole trace and the
state it is in now. Every time in it must lie between the order's placing and the report's arrival (with ten
minutes' slack, `tracking.check_event_time`), or that waybill's report is refused whole. A trace line is one per
parcel and time: the many full-trace pushes a parcel gets over its life (and their retries) add only what is
new, and a re-push that corrects a line's text replaces the text. The state goes with the newest line and moves
the parcel through the domain's state machine, which never moves it backwards. What follows a move is decided
here, in the same transaction: the first sign of the parcel on the road takes its units out of the warehouse,
the last parcel of an order signed freezes the order's commission, a returned parcel reverses it.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from domain import commission, stock, tracking
from domain.errors import Conflict, DomainError
from domain.events import ParcelShipped, ParcelStateChanged, ParcelTraced, StockChanged
from server.services import ledger, stock_rows
from server.services.order_changes import load_order, order_shipments
from store import models
from store.sql import upsert
from store.uow import Tx

# Kept from the trace as the carrier wrote it; longer lines are cut to the column's width.
STATION_CHARS = 500
# Lines of one report with the same time are one trace line: their texts joined in the report's order.
SAME_TIME_JOINER = "; "


@dataclass(frozen=True)
class Trace:
    """One line of a carrier's trace: when (aware) and where / what happened."""

    at: datetime
    station: str = ""
    field_name: str = dataclasses.field(default="at", compare=False)  # where the time came from, for refusals


@dataclass(frozen=True)
class Report:
    """What one carrier says about one waybill now: its state and its whole trace so far."""

    carrier: str  # Kdniao shipper code (SF, ZTO, ...), the code shipments are booked with
    waybill: str
    state: tracking.ParcelState
    source: str  # kdniao | kuaidi100 | api
    traces: tuple[Trace, ...] = ()
    code: str | None = None  # the carrier's own status code, kept for support
    reported_at: datetime | None = None  # stamps the state when the trace is empty
    reported_field: str = "reported_at"  # the field `reported_at` came from (Kdniao's PushTime)


@dataclass(frozen=True)
class Tracked:
    """A report applied to its parcel: where the parcel stands now and whether this report moved it."""

    shipment: str
    order: str
    carrier: str
    waybill: str
    state: str
    previous: str
    changed: bool

    def view(self) -> dict[str, Any]:
        return {"shipment": self.shipment, "order": self.order, "carrier": self.carrier,
                "waybill": self.waybill, "state": self.state, "previous": self.previous,
                "changed": self.changed}


@dataclass
class Outcome:
    """A push of several waybills: those applied, those we do not know, those refused (with why).

    `refused` starts with the waybills the edge could not even read (a bad time, an unknown state)."""

    tracked: list[Tracked] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    refused: list[tuple[str, DomainError]] = field(default_factory=list)

    def note(self) -> str:
        """The part of a carrier's answer that names what was not applied."""
        parts = []
        if self.unknown:
            parts.append("unknown waybills: " + ", ".join(self.unknown))
        parts.extend(f"{waybill}: {error.detail}" for waybill, error in self.refused)
        return "; ".join(parts)

    def failure(self) -> DomainError | None:
        """Why nothing at all was applied (404 when no waybill is ours, else the first refusal), or None."""
        if self.tracked:
            return None
        if self.refused:
            return self.refused[0][1]
        return DomainError(f"unknown waybill: {', '.join(self.unknown)}", field="waybill", code="not_found")


def parcel(row: Any) -> tracking.Parcel:
    return tracking.Parcel(state=tracking.ParcelState(row.state), furthest=tracking.ParcelState(row.furthest),
                           last_event_at=row.last_event_at, state_since=row.state_since)


async def apply_reports(tx: Tx, reports: Sequence[Report], refused: Sequence[tuple[str, DomainError]] = (),
                        *, refuse_when_none_applied: bool = True) -> Outcome:
    """Apply each report to the parcel with its waybill, each under its own savepoint.

    A refused report leaves nothing behind while the others go on. When nothing at all could be applied the
    whole push is refused (`Outcome.failure`), unless the caller answers that itself.
    """
    parcels = await _parcels_by_waybill(tx, {r.waybill for r in reports}) if reports else {}
    outcome = Outcome(refused=list(refused))
    for report in reports:
        row = parcels.get(report.waybill)
        if row is None:
            outcome.unknown.append(report.waybill)
            continue
        mark = len(tx.events)
        try:
            async with tx.conn.begin_nested():
                outcome.tracked.append(await apply_tracking(tx, row, report))
        except DomainError as refused:
            del tx.events[mark:]
            outcome.refused.append((report.waybill, refused))
        # The same waybill later in the push must see this report's move.
        parcels = {**parcels, **await _parcels_by_waybill(tx, {report.waybill})}
    failure = outcome.failure()
    if failure is not None and refuse_when_none_applied:
        raise failure
    return outcome


async def _parcels_by_waybill(tx: Tx, waybills: set[str]) -> dict[str, Any]:
    s = models.shipments
    return {row.waybill: row for row in await tx.conn.execute(select(s).where(s.c.waybill.in_(waybills)))}


async def apply_tracking(tx: Tx, row: Any, report: Report) -> Tracked:
    """Store the report's new trace lines and move the parcel (a shipments row) with its newest line.

    Every line's time is checked against the order's placing and the report's arrival (`tx.now`) first: one
    line out of that window refuses the whole report, so the parcel never moves (and commission never freezes)
    on a time that was not checked."""
    if row.state == "cancelled":
        raise Conflict(f"parcel {row.waybill} belongs to a cancelled order", field="waybill",
                       code="parcel_cancelled")
    if report.carrier != row.carrier:
        raise DomainError(f"waybill {row.waybill} was booked with {row.carrier}, not {report.carrier}",
                          field="carrier", code="carrier_mismatch")
    lines = _lines(report)
    if not lines:  # an empty trace that says nothing yet (Kdniao State 0): nothing to store or apply
        return Tracked(row.shipment, row.order, row.carrier, row.waybill, row.state, row.state, False)
    order = await load_order(tx, row.order)
    for line in lines:
        tracking.check_event_time(line.at, order.placed_at, tx.now, line.field_name)
    newest = max(lines, key=lambda line: line.at)
    written = await _store_lines(tx, row.shipment, report, lines, newest)
    before = parcel(row)
    after = tracking.apply(before, tracking.TrackingEvent(report.state, newest.at, newest.station))
    moved = after != before
    if moved:
        await _save_parcel(tx, row.shipment, before, after)
    if row.shipped_at is None and _on_the_road(after):
        await _ship_stock(tx, row, order.room, min(line.at for line in lines))
    if after.state != before.state:
        tx.emit(ParcelStateChanged(
            at=newest.at, shipment=row.shipment, order=row.order, room=order.room, leader=order.leader,
            carrier=row.carrier, waybill=row.waybill, state=str(after.state), previous=str(before.state),
            station=newest.station))
        if after.state == tracking.ParcelState.SIGNED:
            await _freeze_when_all_signed(tx, order)
        elif after.state == tracking.ParcelState.RETURNED:
            entries = await ledger.order_entries(tx, order.order)
            await ledger.append(tx, order.room, commission.on_returned(entries, newest.at))
    elif moved or written:  # a new or corrected line: the buyer's timeline changes even if the parcel did not
        tx.emit(ParcelTraced(
            at=newest.at, shipment=row.shipment, order=row.order, room=order.room, leader=order.leader,
            carrier=row.carrier, waybill=row.waybill, state=str(after.state), station=newest.station))
    return Tracked(row.shipment, row.order, row.carrier, row.waybill, str(after.state), str(before.state),
                   moved)


def _lines(report: Report) -> list[Trace]:
    """The report's trace lines, one per time: lines of the same time are one line, their distinct texts joined
    in the report's order. An empty trace carries its state on the report's own time."""
    texts: dict[datetime, list[str]] = {}
    first: dict[datetime, Trace] = {}
    for line in report.traces:
        station = line.station.strip()
        same_time = texts.setdefault(line.at, [])
        first.setdefault(line.at, line)
        if station and station not in same_time:
            same_time.append(station)
    lines = [Trace(at, SAME_TIME_JOINER.join(same_time)[:STATION_CHARS], first[at].field_name)
             for at, same_time in texts.items()]
    if not lines and report.reported_at is not None and report.state != tracking.ParcelState.CREATED:
        lines.append(Trace(report.reported_at, "", report.reported_field))
    return lines


async def _store_lines(tx: Tx, shipment: str, report: Report, lines: list[Trace], newest: Trace) -> bool:
    """Write the lines that are new or whose text changed (the newest push's text wins); True when any was.

    A line already stored keeps its state and code: they record what the parcel was reported to be when that
    line was the newest. A replayed push writes nothing."""
    te = models.tracking_events
    stored = {r.at: r.station for r in await tx.conn.execute(
        select(te.c.at, te.c.station).where(te.c.shipment == shipment))}
    rows = [{"shipment": shipment, "at": line.at, "station": line.station, "source": report.source,
             "state": str(report.state) if line is newest else None,
             "code": report.code if line is newest else None}
            for line in lines if stored.get(line.at) != line.station]
    await upsert(tx.conn, te, rows, ["shipment", "at"], ["station"])
    return bool(rows)


async def _save_parcel(tx: Tx, shipment: str, before: tracking.Parcel, after: tracking.Parcel) -> None:
    values: dict[str, Any] = {"state": str(after.state), "furthest": str(after.furthest),
                              "last_event_at": after.last_event_at, "state_since": after.state_since}
    if after.state != before.state:
        values["stuck_at"] = None  # a stuck exception is raised once per state: a new state may raise again
    s = models.shipments
    await tx.conn.execute(update(s).where(s.c.shipment == shipment).values(**values))


def _on_the_road(state: tracking.Parcel) -> bool:
    """Collected or beyond (a signed or returned parcel was on the road too); a problem alone is no proof."""
    on_road = tracking.PROGRESS.index(tracking.ParcelState.COLLECTED)
    return (tracking.PROGRESS.index(state.furthest) >= on_road
            or state.state in (tracking.ParcelState.SIGNED, tracking.ParcelState.RETURNED))


async def _ship_stock(tx: Tx, row: Any, room: str, shipped_at: datetime) -> None:
    """The parcel left its warehouse: its units leave on_hand and reserved (guarded: never below zero)."""
    units: Counter[tuple[str, str]] = Counter()
    for sku, qty in row.items:
        units[(sku, row.warehouse)] += qty
    levels = await stock_rows.load_levels(tx, {sku for sku, _ in units})
    shipped = stock.ship(levels, [stock.Allocation(sku, wh, n) for (sku, wh), n in sorted(units.items())])
    await stock_rows.ship(tx, units)
    await tx.conn.execute(update(models.shipments).where(models.shipments.c.shipment == row.shipment)
                          .values(shipped_at=shipped_at))
    tx.emit(ParcelShipped(at=shipped_at, shipment=row.shipment, order=row.order, warehouse=row.warehouse))
    tx.emit(*(StockChanged(at=shipped_at, room=room, sku=level.sku, warehouse=level.warehouse,
                           on_hand=level.on_hand, reserved=level.reserved) for level in shipped.values()))


async def _freeze_when_all_signed(tx: Tx, order: Any) -> None:
    """Commission freezes once every parcel of the order is signed; the after-sale window runs from then."""
    if order.signed_at is not None:
        return
    parcels = [parcel(p) for p in await order_shipments(tx, order.order) if p.state != "cancelled"]
    signed_at = tracking.signed_at(parcels)
    if signed_at is None:
        return
    await tx.conn.execute(update(models.orders).where(models.orders.c.order == order.order)
                          .values(signed_at=signed_at, updated_at=tx.now))
    entries = await ledger.order_entries(tx, order.order)
    await ledger.append(tx, order.room, commission.on_signed(entries, signed_at))
