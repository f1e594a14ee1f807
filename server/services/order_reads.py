"""GET /api/v1/orders/{order}: the order with its shipments, waybills, tracking events and commission."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import commission
from domain.errors import DomainError
from domain.notices import OrderFacts
from server.context import AppContext
from server.services import ledger
from store import models
from store import notices as notice_rows


def shipment_view(row: Any, order_status: str = "accepted") -> dict[str, Any]:
    """A parcel as every API answer shows it: `awaiting_waybill` while a gateway has yet to issue its waybill
    (issue 14; never in sandbox mode, where an order that is not held has its waybills at once)."""
    return {"shipment": row.shipment, "warehouse": row.warehouse, "carrier": row.carrier, "waybill": row.waybill,
            "state": shipment_state(row.state, row.waybill, order_status),
            "items": [{"sku": sku, "qty": qty} for sku, qty in row.items]}


def shipment_state(state: str, waybill: str | None, order_status: str) -> str:
    if waybill is None and state == "created" and order_status not in ("held", "cancelled"):
        return "awaiting_waybill"
    return state


def masked_buyer(buyer: dict[str, Any]) -> dict[str, Any]:
    """What anyone holding just the order id may see: no phone, no street, a masked name."""
    name = buyer.get("name", "")
    phone = buyer.get("phone", "")
    return {
        "name": (name[:1] + "*" * max(1, len(name) - 1)) if name else "",
        "phone": (phone[:3] + "****" + phone[-4:]) if len(phone) >= 11 else "****",
        "province": buyer.get("province"),
        "city": buyer.get("city"),
        "district": buyer.get("district"),
    }


async def order_view(app: AppContext, order: str, *, full: bool) -> dict[str, Any]:
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(models.orders).where(models.orders.c.order == order))).first()
        if row is None:
            raise DomainError(f"unknown order: {order}", field="order", code="not_found")
        return await _view(app, conn, row, full=full)


async def _view(app: AppContext, conn: AsyncConnection, row: Any, *, full: bool) -> dict[str, Any]:
    lines = await conn.execute(
        select(models.order_lines)
        .where(models.order_lines.c.order == row.order)
        .order_by(models.order_lines.c.line)
    )
    parcels = list(
        await conn.execute(
            select(models.shipments)
            .where(models.shipments.c.order == row.order)
            .order_by(models.shipments.c.shipment)
        )
    )
    te = models.tracking_events
    events = list(
        await conn.execute(
            select(te)
            .where(te.c.shipment.in_([p.shipment for p in parcels]))
            .order_by(te.c.at.desc(), te.c.id.desc())
        )
    )
    ce = models.commission_entries
    entries = [
        ledger.entry(r)
        for r in await conn.execute(select(ce).where(ce.c.order == row.order).order_by(ce.c.id))
    ]
    leader_name = None
    if row.leader:
        leader_name = (
            await conn.execute(select(models.leaders.c.name).where(models.leaders.c.leader == row.leader))
        ).scalar_one_or_none()
    a = models.after_sales
    after_sales = list(await conn.execute(select(a).where(a.c.order == row.order).order_by(a.c.created_at)))
    facts = OrderFacts.of(row.room, (row.destination or {}).get("province"),
                          ((p.warehouse, p.carrier) for p in parcels if p.state != "cancelled"), row.status)
    return {
        "order": row.order,
        "room": row.room,
        "status": row.status,
        "leader": row.leader,
        "leader_name": leader_name,
        "assists": row.assists,
        "delivery": row.delivery,
        "buyer": row.buyer if full else masked_buyer(row.buyer),
        "destination": row.destination,
        "total_cents": row.total_cents,
        "coupon": row.coupon,
        "discount_cents": row.discount_cents,
        "refunded_cents": row.refunded_cents,
        "presale": row.presale,
        "flags": row.flags,
        "placed_at": row.placed_at.isoformat(),
        "signed_at": row.signed_at.isoformat() if row.signed_at else None,
        "ship_by": row.ship_by.isoformat() if row.ship_by else None,
        "items": [
            {
                "sku": ln.sku,
                "qty": ln.qty,
                "unit_price_cents": ln.unit_price_cents,
                "deal": ln.deal_leader is not None,
            }
            for ln in lines
        ],
        "shipments": [
            {
                **shipment_view(p, row.status),
                "events": [
                    {"at": e.at.isoformat(), "state": e.state, "station": e.station}
                    for e in events
                    if e.shipment == p.shipment
                ],
            }
            for p in parcels
        ],
        "commission": _commission(entries),
        "after_sales": [
            {"after_sale": s.after_sale, "amount_cents": s.amount_cents, "status": s.status}
            for s in after_sales
        ],
        "tracking_url": app.tracking_url(row.order, row.placed_at) if full else None,
        "notices": await notice_rows.for_order(conn, facts),
    }


def _commission(entries: list[commission.Entry]) -> list[dict[str, Any]]:
    return [
        {
            "leader": b.leader,
            "role": str(b.role),
            "accrued_cents": b.accrued_cents,
            "pending_cents": b.pending_cents,
            "frozen_cents": b.frozen_cents,
            "settled_cents": b.settled_cents,
            "reversed_cents": b.reversed_cents,
            "state": _state(b),
        }
        for b in commission.balances(entries).values()
    ]


def _state(b: commission.Balance) -> str:
    """The one word a screen shows for a commission line: where most of its money is."""
    for name, cents in (
        ("settled", b.settled_cents),
        ("frozen", b.frozen_cents),
        ("pending", b.pending_cents),
    ):
        if cents:
            return name
    return "reversed" if b.reversed_cents else "none"


async def order_parties(app: AppContext, order: str) -> tuple[str, str | None] | None:
    """The order's room and leader (who may read it besides its buyer and ops), or None for no such order."""
    o = models.orders
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(o.c.room, o.c.leader).where(o.c.order == order))).first()
    return None if row is None else (row.room, row.leader)
