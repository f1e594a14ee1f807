"""The ops war-room view (`ops`): orders and GMV per minute over the last hour, per-warehouse backlog and outbound
latency, per-carrier share and exceptions, the parcel funnel, an exceptions feed and the commission liability.

Definitions (the same whether folded from events or read from the tables, which is what makes a restart safe):
- series: orders placed per minute (by the order's time) and their GMV, cancelled ones included: it is a flow.
- backlog: parcels not cancelled that have not left their warehouse (`shipments.shipped_at` null).
- outbound latency: mean of shipped_at − created_at over a warehouse's latest 200 shipped parcels.
- carriers: parcels not cancelled per carrier, their share in basis points, and how many are now in `problem`,
  `returned`, or flagged stuck (a stuck flag clears when the parcel moves on, is re-booked or cancelled); with
  the capacity operations set (`carrier_changed`), the parcels given to it today (China day: +1 per new parcel
  on the day it is planned, a re-booked parcel moving from its old carrier on the day it was created to its new
  one today — `carrier_days.assigned`, which allocation books against), the bar's level (80% amber, 95% red)
  and its exception rate (domain/carriers.py).
- funnel: parcels not cancelled per state.
- exceptions: held orders, stuck parcels, parcels in problem or returned, warehouses going down or coming back,
  stock alerts (a sale that empties a SKU in a warehouse), and delay notices posted or withdrawn. Each is decided
  from its one event alone, so on load they are read back from the outbox with the same rule written in SQL. (A
  "below the low-stock mark" alert cannot be: no event carries the mark, which may have changed since; the host
  board shows the low level per SKU instead.)
- liability: commission pending + frozen.
- growth: each room's visitor funnel and the leaders who invite the most (growth.py).
- promises: per warehouse, parcels not yet collected that are at risk of missing their order's ship_by (less than
  LIVEROOM_AT_RISK_HOURS before it) and those already late (promises.py).

Parcels still in their warehouse are kept by id (warehouse, carrier, state, created_at): a cancel, a re-booking or
a first move on the road names only the parcel or the order, and these figures need the rest.
"""

from __future__ import annotations

import math
from bisect import insort
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, func, literal_column, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import carriers as carrier_rules
from domain.china_time import china_day
from domain.tracking import ParcelState
from realtime.projections.board import Boards
from realtime.projections.catalog import Catalog
from realtime.projections.feed import CAPACITY, SHOWN, Ring
from realtime.projections.gateway import GatewayView
from realtime.projections.growth import Growth
from realtime.projections.leader import CommissionBook
from realtime.projections.promises import DueParcels
from realtime.projections.times import minute_of, minute_start, utc
from store import models

SERIES_MINUTES = 60
LATENCY_SAMPLE = 200
FUNNEL = tuple(str(s) for s in ParcelState)
# A parcel entering one of these has left its warehouse (tracking service: collected or beyond, signed, returned).
ON_THE_ROAD = frozenset(FUNNEL) - {"created", "problem"}
PARCELS, PROBLEM, RETURNED, STUCK = range(4)


@dataclass(slots=True)
class OpenParcel:
    """A parcel not cancelled that has not left its warehouse."""

    order: str
    warehouse: str
    carrier: str
    state: str
    created_at: str | datetime  # parsed only when the parcel ships: most of a big load never needs it


def exception_item(seq: int, record: dict[str, Any]) -> dict[str, Any] | None:
    """The exceptions-feed line an event makes, or None. `_exceptions_query` is this rule in SQL."""
    kind = record.get("kind")
    base = {"seq": seq, "at": record.get("at")}
    if kind == "order_held":
        return {**base, "kind": "order_held", "order": record["order"], "room": record["room"],
                "leader": record["leader"], "flags": list(record["flags"])}
    if kind == "parcel_stuck":
        return {**base, "kind": "parcel_stuck", "order": record["order"], "shipment": record["shipment"],
                "waybill": record["waybill"], "carrier": record["carrier"], "state": record["state"],
                "since": record["since"]}
    if kind == "parcel_state_changed" and record["state"] in ("problem", "returned"):
        return {**base, "kind": f"parcel_{record['state']}", "order": record["order"],
                "shipment": record["shipment"], "waybill": record["waybill"], "carrier": record["carrier"],
                "station": record.get("station", "")}
    if kind == "warehouse_status_changed":
        return {**base, "kind": "warehouse_up" if record["active"] else "warehouse_down",
                "warehouse": record["warehouse"], "rerouted_orders": record.get("rerouted_orders", 0)}
    if kind == "stock_changed":
        return _stock_alert(base, record)
    if kind in ("notice_posted", "notice_withdrawn"):  # delay notices: what buyers were told, and to how many
        return {**base, "kind": kind, "notice": record["notice"], "text": record["text"],
                "orders": record["orders"]}
    return None


def _stock_alert(base: dict[str, Any], record: dict[str, Any]) -> dict[str, Any] | None:
    sold = record.get("sold") or 0
    available = record["on_hand"] - record["reserved"]
    if sold <= 0 or available != 0:  # only a sale empties a warehouse's SKU (a recount to zero is deliberate)
        return None
    return {**base, "kind": "stock_sold_out", "sku": record["sku"], "warehouse": record["warehouse"]}


def _exceptions_query(upto: int, limit: int) -> Any:
    outbox = models.outbox
    payload = outbox.c.payload
    rule = or_(
        outbox.c.kind.in_(("order_held", "parcel_stuck", "warehouse_status_changed", "notice_posted",
                           "notice_withdrawn")),
        and_(outbox.c.kind == "parcel_state_changed", payload["state"].as_string().in_(("problem", "returned"))),
        and_(outbox.c.kind == "stock_changed", payload["sold"].as_integer() > 0,
             payload["on_hand"].as_integer() == payload["reserved"].as_integer()),
    )
    return (select(outbox.c.seq, outbox.c.payload).where(outbox.c.seq <= upto, rule)
            .order_by(outbox.c.seq.desc()).limit(limit))


def _minute_sql(dialect: str) -> Any:
    if dialect == "sqlite":  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' UTC; %s truncates to whole seconds
        return literal_column("CAST(strftime('%s', orders.placed_at) AS INTEGER) / 60")
    return literal_column("CAST(floor(extract(epoch from orders.placed_at) / 60) AS BIGINT)")


class OpsView:
    def __init__(self, catalog: Catalog, boards: Boards, commission: CommissionBook, growth: Growth,
                 clock: Callable[[], datetime], capacity: int = CAPACITY, *, at_risk_hours: float = 6.0) -> None:
        self.catalog = catalog
        self.gateway = GatewayView(clock)
        self.growth = growth
        self.boards = boards
        self.commission = commission
        self.clock = clock
        self.minutes: dict[int, list[int]] = {}  # minute -> [orders, gmv_cents]
        self.open: dict[str, OpenParcel] = {}  # shipment -> parcel still in its warehouse
        self.open_by_order: dict[str, set[str]] = {}
        self.backlog: Counter[str] = Counter()
        self.shipped: dict[str, list[tuple[datetime, str, float]]] = {}  # warehouse -> (shipped_at, id, seconds)
        self.carriers: dict[str, list[int]] = {}  # carrier -> [parcels, problem, returned, stuck]
        self.stuck: dict[str, str] = {}  # shipment -> carrier, while flagged stuck
        self.carrier_config: dict[str, tuple[int | None, bool]] = {}  # carrier -> (daily capacity, active)
        self.day_use: dict[str, Counter[str]] = {}  # China day -> carrier -> parcels given to it that day
        self.funnel: Counter[str] = Counter()
        self.exceptions = Ring(capacity)
        self.due = DueParcels(at_risk_hours)

    def _carrier(self, carrier: str) -> list[int]:
        counts = self.carriers.get(carrier)
        if counts is None:
            counts = self.carriers[carrier] = [0, 0, 0, 0]
        return counts

    def _exception(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        item = exception_item(seq, record)
        if item is not None:
            self.exceptions.add(item)
            dirty.add("ops")

    # --- events ----------------------------------------------------------------------------------------------

    def on_order_accepted(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        bucket = self.minutes.setdefault(minute_of(utc(record["at"])), [0, 0])
        bucket[0] += 1
        bucket[1] += record["total_cents"]
        self.due.promise(record["order"], record.get("ship_by"))
        if len(self.minutes) > 2 * SERIES_MINUTES:  # nobody may be drawing ops: forget old minutes here too
            self._forget_minutes(minute_of(self.clock()) - SERIES_MINUTES + 1)
        dirty.add("ops")

    def on_order_cancelled(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.due.order_done(record["order"])
        for shipment in self.open_by_order.pop(record["order"], ()):
            self.due.gone(shipment)
            parcel = self.open.pop(shipment)
            self.backlog[parcel.warehouse] -= 1
            self._count(parcel.carrier, parcel.state, -1)
            self.funnel[parcel.state] -= 1
            self._unstick(shipment)
        dirty.add("ops")

    def on_shipment_planned(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        shipment, warehouse, carrier = record["shipment"], record["warehouse"], record["carrier"]
        parcel = self.open.get(shipment)
        self._use(china_day(utc(record["at"])), carrier, 1)
        if parcel is None:  # a new parcel
            self.open[shipment] = OpenParcel(record["order"], warehouse, carrier, "created", record["at"])
            self.open_by_order.setdefault(record["order"], set()).add(shipment)
            self.funnel["created"] += 1
            self._count(carrier, "created", 1)
        else:  # re-booked: verified, or moved off a warehouse that went down; its state and age stay
            self._use(china_day(utc(parcel.created_at)), parcel.carrier, -1)
            self.backlog[parcel.warehouse] -= 1
            self._count(parcel.carrier, parcel.state, -1)
            self._count(carrier, parcel.state, 1)
            parcel.warehouse, parcel.carrier = warehouse, carrier
            self._unstick(shipment)
        self.due.planned(shipment, record["order"], warehouse)
        self.backlog[warehouse] += 1
        dirty.add("ops")

    def on_waybill_refused(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """A carrier refused the waybill and the shipment moved to the next one: re-booked, as on_shipment_planned
        re-books (a ShipmentPlanned for the same move after this one then changes nothing)."""
        self.gateway.on_refused(seq, record, dirty)
        parcel, carrier = self.open.get(record["shipment"]), record.get("next_carrier")
        if parcel is None or not carrier or carrier == parcel.carrier:
            return
        self._use(china_day(utc(parcel.created_at)), parcel.carrier, -1)
        self._use(china_day(utc(record["at"])), carrier, 1)
        self._count(parcel.carrier, parcel.state, -1)
        self._count(carrier, parcel.state, 1)
        parcel.carrier = carrier
        self._unstick(record["shipment"])

    def on_ship_by_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.due.promise(record["order"], record["ship_by"], self.open_by_order.get(record["order"], ()))
        dirty.add("ops")

    def on_parcel_state_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        shipment, carrier, state, previous = record["shipment"], record["carrier"], record["state"], record["previous"]
        self.funnel[previous] -= 1
        self.funnel[state] += 1
        counts = self._carrier(carrier)
        counts[PROBLEM] += (state == "problem") - (previous == "problem")
        counts[RETURNED] += (state == "returned") - (previous == "returned")
        self._unstick(shipment)
        parcel = self.open.get(shipment)
        if parcel is not None:
            if state in ON_THE_ROAD:
                # Left the warehouse. The tracking service stamps shipped_at with the report's earliest trace line:
                # a `parcel_shipped` event (before this one) carries it exactly; without one, the state change's
                # time is that line's whenever the report had one line (the normalized API always has).
                self._ship(shipment, parcel, utc(record["at"]))
            else:
                parcel.state = state
        self._exception(seq, record, dirty)
        dirty.add("ops")

    def on_parcel_shipped(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        parcel = self.open.get(record["shipment"])
        if parcel is not None:
            self._ship(record["shipment"], parcel, utc(record.get("shipped_at") or record["at"]))
            dirty.add("ops")

    def on_parcel_stuck(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        shipment = record["shipment"]
        if shipment not in self.stuck:
            self.stuck[shipment] = record["carrier"]
            self._carrier(record["carrier"])[STUCK] += 1
        self._exception(seq, record, dirty)
        dirty.add("ops")

    def on_exception_only(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._exception(seq, record, dirty)

    def on_warehouse_status_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._exception(seq, record, dirty)
        dirty.add("ops")

    def on_carrier_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.carrier_config[record["carrier"]] = (record.get("daily_capacity"), bool(record.get("active", True)))
        dirty.add("ops")

    # --- helpers ---------------------------------------------------------------------------------------------

    def _use(self, day: str, carrier: str, n: int) -> None:
        self.day_use.setdefault(day, Counter())[carrier] += n

    def _count(self, carrier: str, state: str, n: int) -> None:
        counts = self._carrier(carrier)
        counts[PARCELS] += n
        if state == "problem":
            counts[PROBLEM] += n

    def _unstick(self, shipment: str) -> None:
        carrier = self.stuck.pop(shipment, None)
        if carrier is not None:
            self._carrier(carrier)[STUCK] -= 1

    def _ship(self, shipment: str, parcel: OpenParcel, shipped_at: datetime) -> None:
        del self.open[shipment]
        self.due.gone(shipment)
        siblings = self.open_by_order.get(parcel.order)
        if siblings is not None:
            siblings.discard(shipment)
            if not siblings:
                del self.open_by_order[parcel.order]
                self.due.order_done(parcel.order)
        self.backlog[parcel.warehouse] -= 1
        self._sample(parcel.warehouse, shipped_at, shipment, (shipped_at - utc(parcel.created_at)).total_seconds())

    def _sample(self, warehouse: str, shipped_at: datetime, shipment: str, seconds: float) -> None:
        sample = self.shipped.setdefault(warehouse, [])
        insort(sample, (shipped_at, shipment, seconds))
        if len(sample) > LATENCY_SAMPLE:
            del sample[0]

    def _forget_minutes(self, first: int) -> None:
        for minute in [m for m in self.minutes if m < first]:
            del self.minutes[minute]

    # --- reading ---------------------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        last = minute_of(now)
        first = last - SERIES_MINUTES + 1
        self._forget_minutes(first)
        series = []
        for minute in range(first, last + 1):
            orders, gmv = self.minutes.get(minute, (0, 0))
            series.append({"minute": minute_start(minute).isoformat(), "orders": orders, "gmv_cents": gmv})
        orders, gmv = self.boards.totals()
        totals = self.commission.totals
        return {
            "series": series,
            "totals": {"orders": orders, "gmv_cents": gmv},
            "warehouses": [self._warehouse(code, now) for code in sorted(self._warehouse_codes())],
            "carriers": self._carriers(),
            "funnel": {state: self.funnel[state] for state in FUNNEL},
            "exceptions": [self._named(item) for item in self.exceptions.latest(SHOWN)],
            "commission": {
                **self.commission.view(totals),
                "liability_cents": totals["pending"] + totals["frozen"],
            },
            "growth": self.growth.ops_view(self.boards.invites()),
            "at_risk_hours": self.due.window.total_seconds() / 3600,
            "gateway": self.gateway.view(self.carrier_config),
        }


    def _named(self, item: dict[str, Any]) -> dict[str, Any]:
        """An exception as a person reads it: names beside the codes (a wall shows 广州仓, not GZ)."""
        named = dict(item)
        if "sku" in item:
            named["sku_name"] = self.catalog.sku_name(item["sku"])
        if "leader" in item:
            named["leader_name"] = self.catalog.leaders.get(item["leader"])
        if "warehouse" in item:
            site = self.catalog.warehouses.get(item["warehouse"])
            named["warehouse_name"] = site.name if site else None
        return named
    def _warehouse_codes(self) -> set[str]:
        return (set(self.catalog.warehouses) | {code for code, n in self.backlog.items() if n} | set(self.shipped)
                | self.due.warehouses())

    def _warehouse(self, code: str, now: datetime) -> dict[str, Any]:
        at_risk, late = self.due.figures(code, now)
        site = self.catalog.warehouses.get(code)
        sample = self.shipped.get(code, [])
        latency = math.fsum(s for _, _, s in sample) / len(sample) if sample else None
        return {"warehouse": code, "name": site.name if site else None, "active": site.active if site else False,
                "backlog": self.backlog[code], "shipped_sample": len(sample),
                "outbound_latency_s": None if latency is None else round(latency, 1), "at_risk": at_risk,
                "late": late}

    def _carriers(self) -> list[dict[str, Any]]:
        today = china_day(self.clock())
        for day in [d for d in self.day_use if d < today]:  # yesterday's use counts for nothing today
            del self.day_use[day]
        used = self.day_use.get(today, Counter())
        live = {c: counts for c, counts in self.carriers.items() if counts[PARCELS] > 0}
        total = sum(counts[PARCELS] for counts in live.values())
        shown = set(live) | set(self.carrier_config) | {c for c, n in used.items() if n}
        views = []
        for c in sorted(shown):
            n = self.carriers.get(c) or [0, 0, 0, 0]
            capacity, active = self.carrier_config.get(c, (None, True))
            views.append({
                "carrier": c, "parcels": n[PARCELS], "share_bp": n[PARCELS] * 10_000 // total if total else 0,
                "problem": n[PROBLEM], "returned": n[RETURNED], "stuck": n[STUCK],
                "daily_capacity": capacity, "used_today": used[c], "active": active,
                "used_bp": carrier_rules.used_bp(used[c], capacity),
                "load": str(carrier_rules.load_level(used[c], capacity)),
                "exception_rate": carrier_rules.exception_rate(n[PARCELS], n[PROBLEM], n[RETURNED], n[STUCK]),
            })
        return views

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection, upto: int, now: datetime) -> None:
        await self._load_series(conn, minute_of(now) - SERIES_MINUTES + 1)
        await self._load_parcels(conn)
        await self._load_carriers(conn, china_day(now))
        await self.gateway.load(conn, upto, now)
        rows = (await conn.execute(_exceptions_query(upto, self.exceptions.items.maxlen or CAPACITY))).all()
        items = [item for seq, payload in rows if (item := exception_item(seq, payload))]
        self.exceptions.fill(items, complete=len(rows) < (self.exceptions.items.maxlen or CAPACITY))

    async def _load_series(self, conn: AsyncConnection, first: int) -> None:
        o = models.orders
        minute = _minute_sql(conn.dialect.name).label("minute")
        start = minute_start(first)
        for row in await conn.execute(
            select(minute, func.count().label("orders"), func.coalesce(func.sum(o.c.total_cents), 0).label("gmv"))
            .where(o.c.placed_at >= start).group_by(minute)
        ):
            self.minutes[int(row.minute)] = [int(row.orders), int(row.gmv)]

    async def _load_parcels(self, conn: AsyncConnection) -> None:
        s = models.shipments
        live = s.c.state != "cancelled"
        # created_at as the driver gives it (no datetime parsing of every waiting parcel; see OpenParcel).
        o = models.orders
        for row in await conn.execute(
            select(s.c.shipment, s.c.order, s.c.warehouse, s.c.carrier, s.c.state,
                   type_coerce(s.c.created_at, String).label("created_at"), o.c.ship_by)
            .join(o, o.c.order == s.c.order)
            .where(s.c.shipped_at.is_(None), live)
        ):
            self.open[row.shipment] = OpenParcel(row.order, row.warehouse, row.carrier, row.state, row.created_at)
            self.open_by_order.setdefault(row.order, set()).add(row.shipment)
            self.backlog[row.warehouse] += 1
            if row.ship_by is not None:
                self.due.promise(row.order, row.ship_by)
                self.due.planned(row.shipment, row.order, row.warehouse)
        ranked = (
            select(s.c.warehouse, s.c.shipment, s.c.created_at, s.c.shipped_at,
                   func.row_number().over(partition_by=s.c.warehouse,
                                          order_by=(s.c.shipped_at.desc(), s.c.shipment.desc())).label("rn"))
            .where(s.c.shipped_at.is_not(None))
            .subquery()
        )
        for row in await conn.execute(select(ranked).where(ranked.c.rn <= LATENCY_SAMPLE)):
            shipped_at = utc(row.shipped_at)
            self._sample(row.warehouse, shipped_at, row.shipment, (shipped_at - utc(row.created_at)).total_seconds())
        for row in await conn.execute(
            select(s.c.carrier, s.c.state, func.count().label("n")).where(live).group_by(s.c.carrier, s.c.state)
        ):
            counts = self._carrier(row.carrier)
            counts[PARCELS] += row.n
            counts[PROBLEM] += row.n if row.state == "problem" else 0
            counts[RETURNED] += row.n if row.state == "returned" else 0
            self.funnel[row.state] += row.n
        for row in await conn.execute(select(s.c.shipment, s.c.carrier).where(live, s.c.stuck_at.is_not(None))):
            self.stuck[row.shipment] = row.carrier
            self._carrier(row.carrier)[STUCK] += 1

    async def _load_carriers(self, conn: AsyncConnection, today: str) -> None:
        c, cd = models.carriers, models.carrier_days
        for row in await conn.execute(select(c.c.carrier, c.c.daily_capacity, c.c.available)):
            self.carrier_config[row.carrier] = (row.daily_capacity, bool(row.available))
        for row in await conn.execute(select(cd.c.carrier, cd.c.assigned).where(cd.c.day == today)):
            self._use(today, row.carrier, row.assigned)
