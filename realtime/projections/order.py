"""The buyer's order page (`order:{id}`): the order, its shipments, the parcel timeline newest first, the leader who
follows it (name) and, for pickup orders, the pickup point.

Loaded on demand — the first time a tracking page opens it — into an LRU of a few thousand, and read again from the
database whenever an event touches a cached order: the timeline is every trace line a carrier sent, and most lines
come with no event at all (only state changes do), so reading the order back is what keeps the page exactly the
truth. That costs one small read per touched order per refresh, and only for orders someone is watching.

Delay notices: a notice posted marks the cached pages it matches stale, one withdrawn the pages that show it; they
are read again with the order's active notices (store/notices.py, the same rule GET /orders/{order} uses).

Buyer privacy: no name, phone or street; only where the parcels go (province and city).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.notices import Criteria, OrderFacts
from store import models
from store import notices as notice_rows

CAPACITY = 4096
# Events that change what the order page shows (commission is not the buyer's business; stuck is an ops matter).
TOUCHING = frozenset({"order_held", "order_verified", "order_cancelled", "shipment_planned", "parcel_state_changed",
                      "parcel_traced", "after_sale_opened", "after_sale_resolved", "order_ship_by_changed",
                      # carrier gateways (issue 14): a waybill asked for, issued, or refused and asked of another
                      "waybill_requested", "waybill_issued", "waybill_refused", "waybill_cancelled"})


def parcel_state(state: str, waybill: str | None, order_status: str) -> str:
    """A parcel as its screens show it: "awaiting_waybill" while the gateway has not answered (no waybill yet, the
    order neither held nor cancelled, the parcel not moved on), else its own state (API.md, "Carrier gateways")."""
    if waybill is None and state == "created" and order_status not in ("held", "cancelled"):
        return "awaiting_waybill"
    return state


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


async def read_order(conn: AsyncConnection, order: str) -> dict[str, Any] | None:
    o, lines, skus, s, te, a, lead = (models.orders, models.order_lines, models.skus, models.shipments,
                                      models.tracking_events, models.after_sales, models.leaders)
    row = (await conn.execute(
        select(o.c.order, o.c.room, o.c.status, o.c.placed_at, o.c.signed_at, o.c.delivery, o.c.presale, o.c.flags,
               o.c.total_cents, o.c.refunded_cents, o.c.destination, o.c.leader, lead.c.name, lead.c.pickup_point,
               o.c.ship_by)
        .outerjoin(lead, lead.c.leader == o.c.leader).where(o.c.order == order)
    )).first()
    if row is None:
        return None
    items = [{"sku": r.sku, "name": r.name, "qty": r.qty, "unit_price_cents": r.unit_price_cents}
             for r in await conn.execute(
                 select(lines.c.sku, skus.c.name, lines.c.qty, lines.c.unit_price_cents)
                 .join(skus, skus.c.sku == lines.c.sku).where(lines.c.order == order).order_by(lines.c.line))]
    parcels = list(await conn.execute(
        select(s.c.shipment, s.c.warehouse, s.c.carrier, s.c.waybill, s.c.state, s.c["items"])
        .where(s.c.order == order).order_by(s.c.shipment)))
    waybills = {p.shipment: p.waybill for p in parcels}
    timeline = [{"at": e.at.isoformat(), "shipment": e.shipment, "waybill": waybills.get(e.shipment),
                 "state": e.state, "station": e.station}
                for e in await conn.execute(
                    select(te.c.shipment, te.c.at, te.c.state, te.c.station)
                    .where(te.c.shipment.in_(list(waybills))).order_by(te.c.at.desc(), te.c.id.desc()))]
    after_sales = [{"after_sale": r.after_sale, "kind": r.kind, "amount_cents": r.amount_cents, "status": r.status,
                    "created_at": _iso(r.created_at), "resolved_at": _iso(r.resolved_at)}
                   for r in await conn.execute(
                       select(a.c.after_sale, a.c.kind, a.c.amount_cents, a.c.status, a.c.created_at,
                              a.c.resolved_at).where(a.c.order == order).order_by(a.c.created_at, a.c.after_sale))]
    destination = row.destination or {}
    facts = OrderFacts.of(row.room, destination.get("province"),
                          ((p.warehouse, p.carrier) for p in parcels if p.state != "cancelled"), row.status)
    return {
        "order": row.order,
        "room": row.room,
        "status": row.status,
        "placed_at": _iso(row.placed_at),
        "signed_at": _iso(row.signed_at),
        "ship_by": _iso(row.ship_by),  # the shipping promise (null: none)
        "delivery": row.delivery,
        "presale": bool(row.presale),
        "flags": list(row.flags or ()),
        "total_cents": row.total_cents,
        "refunded_cents": row.refunded_cents,
        "destination": {"province": destination.get("province"), "city": destination.get("city")},
        "leader": {"leader": row.leader, "name": row.name} if row.leader else None,
        "pickup_point": row.pickup_point if row.delivery == "pickup" else None,
        "items": items,
        "shipments": [{"shipment": p.shipment, "warehouse": p.warehouse, "carrier": p.carrier, "waybill": p.waybill,
                       "state": parcel_state(p.state, p.waybill, row.status),
                       "items": [{"sku": sku, "qty": qty} for sku, qty in p._mapping["items"]]}
                      for p in parcels],
        "timeline": timeline,
        "after_sales": after_sales,
        "notices": await notice_rows.for_order(conn, facts),
    }


def _facts(view: dict[str, Any]) -> OrderFacts:
    return OrderFacts.of(view["room"], view["destination"].get("province"),
                         ((p["warehouse"], p["carrier"]) for p in view["shipments"] if p["state"] != "cancelled"),
                         view["status"])


class OrderTimelines:
    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self.views: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.stale: set[str] = set()
        self.loading: set[str] = set()

    def on_event(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        order = record.get("order")
        # An order being read right now may have been read before this event's commit: read it again after.
        if order in self.views or order in self.loading:
            self.stale.add(order)

    def on_notice(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """A delay notice posted or withdrawn: the cached pages it concerns are read again (with their notices)."""
        if record["kind"] == "notice_posted":
            criteria = Criteria(room=record["room"], warehouse=record["warehouse"], carrier=record["carrier"],
                                province=record["province"])
            touched = [o for o, view in self.views.items() if criteria.matches(_facts(view))]
        else:
            touched = [o for o, view in self.views.items()
                       if any(n["notice"] == record["notice"] for n in view.get("notices", ()))]
        self.stale.update(touched)
        # A page being read right now may have read the notices before this event's commit: read it again too.
        self.stale.update(self.loading)

    def snapshot(self, order: str) -> dict[str, Any] | None:
        view = self.views.get(order)
        if view is not None:
            self.views.move_to_end(order)
        return view

    async def ensure(self, engine: AsyncEngine, order: str) -> bool:
        """Load the order if it is not cached; False when there is no such order."""
        if order in self.views:
            self.views.move_to_end(order)
            return True
        self.loading.add(order)
        try:
            async with engine.connect() as conn:
                view = await read_order(conn, order)
        finally:
            self.loading.discard(order)
        if view is None:
            self.stale.discard(order)
            return False
        self.views[order] = view
        while len(self.views) > self.capacity:
            evicted, _ = self.views.popitem(last=False)
            self.stale.discard(evicted)
        return True

    def mark_all_stale(self) -> None:
        self.stale.update(self.views)

    async def refresh(self, conn: AsyncConnection) -> set[str]:
        stale, self.stale = self.stale, set()
        dirty: set[str] = set()
        for order in stale:
            if order in self.loading:  # its first read is still running: read it again after that
                self.stale.add(order)
                continue
            if order not in self.views:
                continue
            view = await read_order(conn, order)
            if view is None:
                del self.views[order]
            else:
                self.views[order] = view
            dirty.add(f"order:{order}")
        return dirty
