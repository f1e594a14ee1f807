"""The carrier gateways as ops sees them (issue 14): the `gateway` part of the `ops` topic.

Definitions (the same whether folded from events or read back on load, which is what makes a restart safe):
- awaiting: shipments whose waybill was asked of a gateway and has not come back — the queued `waybill_requests`
  rows of kind 'issue' whose order is neither held nor cancelled; each with the time its request was made (the
  row's created_at; a refusal that moves the shipment to another carrier makes a new request, so the wait starts
  again). Folded: WaybillRequested adds (or replaces) the shipment's request, WaybillIssued removes it, a
  WaybillRefused moves it to `next_carrier` (or removes it when none is left: the order is held), and an order
  held or cancelled takes its shipments out.
- oldest_awaiting_s: now − the oldest awaiting request (moves with the clock: `ops` is a clock topic).
- issued: WaybillIssued per minute (by the event's time) over the last hour; read back from the outbox.
- refusals: today's (China day) WaybillRefused events, counted per reason, and the latest few; from the outbox.
- circuits: each carrier's breaker (closed unless a GatewayCircuitChanged or the `carriers` row says otherwise),
  with until when an open circuit stays open.
- active: a waybill was ever requested (a WaybillRequested in the outbox) or a circuit is not closed. In sandbox
  mode no waybill is ever requested, and the wall leaves the panel out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.china_time import china_day
from realtime.projections.times import minute_of, minute_start, utc
from store import models

SERIES_MINUTES = 60  # issued per minute: the last hour (the panel's trend draws the last TREND of them)
TREND = 15
LATEST = 4  # refusals listed by name
KEPT = 500  # today's refusals kept for the latest list and the per-reason counts (the counts never drop any)
REQUESTED, ISSUED, REFUSED, CIRCUIT = ("waybill_requested", "waybill_issued", "waybill_refused",
                                       "gateway_circuit_changed")
KINDS = (REQUESTED, ISSUED, REFUSED, CIRCUIT)


@dataclass(slots=True)
class Awaiting:
    order: str
    carrier: str
    since: datetime


def refusal_item(seq: int, record: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "at": utc(record["at"]).isoformat(), "order": record["order"],
            "shipment": record["shipment"], "carrier": record["carrier"], "reason": record["reason"],
            "next_carrier": record.get("next_carrier")}


class GatewayView:
    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.clock = clock
        self.requested = False
        self.awaiting: dict[str, Awaiting] = {}  # shipment -> its open issue request
        self.by_order: dict[str, set[str]] = {}
        self.issued: Counter[int] = Counter()  # minute -> waybills issued
        self.refused_day = ""  # the China day `reasons` and `refusals` count
        self.reasons: Counter[str] = Counter()
        self.refusals: list[dict[str, Any]] = []  # today's, oldest first (at most KEPT)
        self.circuits: dict[str, tuple[str, str | None]] = {}  # carrier -> (state, until) when not closed
        # Carriers whose circuit ever changed: still listed (closed) once it closes, as a reload lists them (their
        # `carriers` row, where the circuit is kept, makes them known to ops).
        self.tripped: set[str] = set()

    # --- events ----------------------------------------------------------------------------------------------

    def _await(self, shipment: str, order: str, carrier: str, since: datetime) -> None:
        self.awaiting[shipment] = Awaiting(order, carrier, since)
        self.by_order.setdefault(order, set()).add(shipment)

    def _done(self, shipment: str) -> None:
        parcel = self.awaiting.pop(shipment, None)
        if parcel is not None:
            siblings = self.by_order.get(parcel.order)
            if siblings is not None:
                siblings.discard(shipment)
                if not siblings:
                    del self.by_order[parcel.order]

    def on_requested(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.requested = True
        self._await(record["shipment"], record["order"], record["carrier"], utc(record["at"]))
        dirty.add("ops")

    def on_issued(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._done(record["shipment"])
        self.issued[minute_of(utc(record["at"]))] += 1
        if len(self.issued) > 2 * SERIES_MINUTES:  # nobody may be drawing ops: forget old minutes here too
            self._forget(minute_of(self.clock()) - SERIES_MINUTES + 1)
        dirty.add("ops")

    def on_refused(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._refusal(refusal_item(seq, record))
        if record.get("next_carrier"):
            self._await(record["shipment"], record["order"], record["next_carrier"], utc(record["at"]))
        else:
            self._done(record["shipment"])
        dirty.add("ops")

    def on_order_gone(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """Held (a refusal with no carrier left, or screening) or cancelled: its shipments wait for nothing."""
        shipments = self.by_order.get(record["order"])
        if shipments:
            for shipment in list(shipments):
                self._done(shipment)
            dirty.add("ops")

    def on_circuit(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.tripped.add(record["carrier"])
        if record["state"] == "closed":
            self.circuits.pop(record["carrier"], None)
        else:
            until = record.get("until")
            self.circuits[record["carrier"]] = (record["state"], utc(until).isoformat() if until else None)
        dirty.add("ops")

    def _refusal(self, item: dict[str, Any]) -> None:
        day = china_day(utc(item["at"]))
        if day < self.refused_day:
            return  # an earlier day's: nothing today shows it
        if day > self.refused_day:
            self.refused_day, self.reasons, self.refusals = day, Counter(), []
        self.reasons[item["reason"]] += 1
        self.refusals.append(item)
        del self.refusals[:-KEPT]

    def _forget(self, first: int) -> None:
        for minute in [m for m in self.issued if m < first]:
            del self.issued[minute]

    # --- reading ---------------------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        return self.requested or bool(self.circuits)

    def view(self, carriers: Iterable[str] = ()) -> dict[str, Any]:
        """`carriers`: every carrier ops knows of (their circuit shows, closed unless told otherwise)."""
        now = self.clock()
        last = minute_of(now)
        self._forget(last - SERIES_MINUTES + 1)
        today = china_day(now)
        fresh = self.refused_day == today
        oldest = min((p.since for p in self.awaiting.values()), default=None)
        known = set(carriers) | set(self.circuits) | self.tripped | {p.carrier for p in self.awaiting.values()}
        waiting = Counter(p.carrier for p in self.awaiting.values())
        return {
            "active": self.active,
            "awaiting": len(self.awaiting),
            "oldest_awaiting_s": None if oldest is None else max(0.0, round((now - oldest).total_seconds(), 1)),
            "oldest_since": None if oldest is None else oldest.isoformat(),
            "issued": [{"minute": minute_start(m).isoformat(), "waybills": self.issued.get(m, 0)}
                       for m in range(last - TREND + 1, last + 1)],
            "issued_last_minute": self.issued.get(last, 0),
            "issued_hour": sum(self.issued.values()),
            "refusals": {
                "today": sum(self.reasons.values()) if fresh else 0,
                "reasons": [{"reason": r, "count": n} for r, n in sorted(
                    self.reasons.items(), key=lambda rn: (-rn[1], rn[0]))] if fresh else [],
                "latest": list(reversed(self.refusals[-LATEST:])) if fresh else [],
            },
            "circuits": [{"carrier": c, "state": self.circuits.get(c, ("closed", None))[0],
                          "until": self.circuits.get(c, ("closed", None))[1], "awaiting": waiting[c]}
                         for c in sorted(known)],
        }

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection, upto: int, now: datetime) -> None:
        outbox, wr, o, c = models.outbox, models.waybill_requests, models.orders, models.carriers
        self.requested = bool((await conn.execute(
            select(exists().where(outbox.c.kind == REQUESTED, outbox.c.seq <= upto)))).scalar())
        for row in await conn.execute(
            select(wr.c.shipment, wr.c.order, wr.c.carrier, wr.c.created_at)
            .join(o, o.c.order == wr.c.order)
            .where(wr.c.kind == "issue", wr.c.state == "queued", o.c.status.not_in(("held", "cancelled")))
            .order_by(wr.c.created_at, wr.c.id)  # the latest request of a shipment is the one that stands
        ):
            self._await(row.shipment, row.order, row.carrier, utc(row.created_at))
        for carrier, state, until in await conn.execute(select(c.c.carrier, c.c.circuit, c.c.circuit_until)
                                                         .where(c.c.circuit != "closed")):
            self.circuits[carrier] = (state, None if until is None else utc(until).isoformat())
        # Events of the last hour (issued) and of today (refused), by their own time; the outbox row's created_at
        # is the same transaction's clock, so a margin of a few minutes only guards against a slow commit.
        first = minute_of(now) - SERIES_MINUTES + 1
        since = min(minute_start(first), _china_midnight(now)) - timedelta(minutes=5)
        for seq, kind, payload in await conn.execute(
            select(outbox.c.seq, outbox.c.kind, outbox.c.payload)
            .where(outbox.c.kind.in_((ISSUED, REFUSED)), and_(outbox.c.seq <= upto, outbox.c.created_at >= since))
            .order_by(outbox.c.seq)
        ):
            if kind == ISSUED:
                minute = minute_of(utc(payload["at"]))
                if minute >= first:
                    self.issued[minute] += 1
            else:
                self._refusal(refusal_item(seq, payload))


def _china_midnight(now: datetime) -> datetime:
    """The start of the China day `now` falls in (UTC+8, no daylight saving), as an aware UTC datetime."""
    shifted = utc(now) + timedelta(hours=8)
    return shifted.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=8)
