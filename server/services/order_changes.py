"""What happens to an order after it is placed: cancel, verification of a held order, after-sales."""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from sqlalchemy import and_, delete, func, select, update

from domain import commission, screening, stock
from domain.address import Address
from domain.errors import Conflict, DomainError, Forbidden, StillHeld
from domain.events import (
    AfterSaleOpened,
    AfterSaleResolved,
    OrderCancelled,
    OrderVerified,
)
from server.context import AppContext
from server.services import ledger, shipping, stock_rows, waybill_rows
from server.services.order_reads import shipment_view
from store import models
from store.sql import accumulate
from store.uow import Tx

# Which buyer field a screening flag points the leader at.
FLAG_FIELDS = {
    "phone_not_mobile": "phone",
    "province_unknown": "province",
    "city_not_in_province": "city",
    "district_missing": "district",
    "address_too_short": "address",
    "carrier_refused": "address",  # no carrier's gateway would take the parcel (issue 14): the address, likely
}


async def load_order(tx: Tx, order: str) -> Any:
    row = (await tx.conn.execute(select(models.orders).where(models.orders.c.order == order))).first()
    if row is None:
        raise DomainError(f"unknown order: {order}", field="order", code="not_found")
    return row


async def order_shipments(tx: Tx, order: str) -> list[Any]:
    t = models.shipments
    return list(await tx.conn.execute(select(t).where(t.c.order == order).order_by(t.c.shipment)))


# --- cancel ------------------------------------------------------------------------------------------------


async def cancel(app: AppContext, order: str) -> dict[str, Any]:
    """Before shipment: the stock returns, the deal quota returns, the commission is voided (API.md)."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await load_order(tx, order)
        if row.status == "cancelled":
            return {"order": order, "status": "cancelled"}
        parcels = [p for p in await order_shipments(tx, order) if p.state != "cancelled"]
        if any(p.shipped_at is not None for p in parcels):
            raise Conflict(
                f"order {order} has already shipped; ask for an after-sale refund instead",
                field="order",
                code="already_shipped",
            )
        await release_parcels(tx, row.room, parcels)
        await waybill_rows.order_cancelled(tx, app.settings, order)
        await tx.conn.execute(
            delete(models.backorders).where(
                and_(models.backorders.c.order == order, models.backorders.c.filled.is_(False))
            )
        )
        await _return_deal_quota(tx, row)
        await ledger.append(
            tx, row.room, commission.on_cancelled(await ledger.order_entries(tx, order), tx.now)
        )
        if row.leader:
            await accumulate(
                tx.conn,
                models.room_leaders,
                [
                    {
                        "room": row.room,
                        "leader": row.leader,
                        "gmv_cents": -row.total_cents,
                        "orders": -1,
                        "invites": 0,
                        "assists": 0,
                    }
                ],
                ["room", "leader"],
                ["gmv_cents", "orders"],
            )
        await tx.conn.execute(
            update(models.orders)
            .where(models.orders.c.order == order)
            .values(status="cancelled", updated_at=tx.now)
        )
        tx.emit(
            OrderCancelled(
                at=tx.now, order=order, room=row.room, leader=row.leader, total_cents=row.total_cents
            )
        )
        return {"order": order, "status": "cancelled"}

    return await app.writer.call(run)


async def release_parcels(tx: Tx, room: str | None, parcels: list[Any]) -> None:
    """Give the reserved units of unshipped parcels back to their warehouses and mark the parcels cancelled."""
    held: Counter[tuple[str, str]] = Counter()
    for parcel in parcels:
        for sku, qty in parcel.items:
            held[(sku, parcel.warehouse)] += qty
    if not held:
        return
    levels = await stock_rows.load_levels(tx, {sku for sku, _ in held})
    released = stock.release(levels, [stock.Allocation(sku, wh, n) for (sku, wh), n in sorted(held.items())])
    await stock_rows.release(tx, held)
    await tx.conn.execute(
        update(models.shipments)
        .where(models.shipments.c.shipment.in_([p.shipment for p in parcels]))
        .values(state="cancelled")
    )
    stock_rows.changed(tx, released.values(), room)


async def _return_deal_quota(tx: Tx, order: Any) -> None:
    lines = models.order_lines
    rows = await tx.conn.execute(
        select(lines.c.sku, lines.c.deal_leader, func.sum(lines.c.qty).label("qty"))
        .where(lines.c.order == order.order, lines.c.deal_leader.is_not(None))
        .group_by(lines.c.sku, lines.c.deal_leader)
    )
    d = models.deals
    for r in rows:
        await tx.conn.execute(
            update(d)
            .where(d.c.room == order.room, d.c.sku == r.sku, d.c.leader == r.deal_leader, d.c.used >= r.qty)
            .values(used=d.c.used - r.qty)
        )


# --- verify ------------------------------------------------------------------------------------------------


async def verify(
    app: AppContext, order: str, fixes: dict[str, str], acting_leader: str | None
) -> dict[str, Any]:
    """The leader fixes a held order's phone or address; once it passes screening it ships (API.md)."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await load_order(tx, order)
        if acting_leader is not None and row.leader != acting_leader:
            raise Forbidden(f"order {order} does not belong to leader {acting_leader}")
        if row.status == "accepted":
            return await _verified_answer(tx, order)
        if row.status != "held":
            raise Conflict(f"order {order} is {row.status}", field="order", code="not_held")
        buyer = {**row.buyer, **fixes}
        flags = [str(f) for f in screening.check(Address(**buyer))]
        if flags:
            raise StillHeld(flags, field=FLAG_FIELDS.get(flags[0]))
        destination = (
            row.destination
            if row.delivery == "pickup"
            else {"province": buyer["province"], "city": buyer["city"]}
        )
        parcels = [p for p in await order_shipments(tx, order) if p.state != "cancelled"]
        await shipping.issue_waybills(tx, app, shipping.Consignee.of(row, destination, held=False), parcels)
        await tx.conn.execute(
            update(models.orders)
            .where(models.orders.c.order == order)
            .values(status="accepted", buyer=buyer, destination=destination, flags=[], updated_at=tx.now)
        )
        tx.emit(OrderVerified(at=tx.now, order=order, room=row.room, leader=row.leader))
        return await _verified_answer(tx, order)

    return await app.writer.call(run)


async def _verified_answer(tx: Tx, order: str) -> dict[str, Any]:
    return {
        "order": order,
        "status": "accepted",
        "shipments": [shipment_view(p) for p in await order_shipments(tx, order) if p.state != "cancelled"],
    }


# --- after-sales -------------------------------------------------------------------------------------------


def _after_sale_view(row: Any) -> dict[str, Any]:
    return {
        "after_sale": row.after_sale,
        "order": row.order,
        "kind": row.kind,
        "amount_cents": row.amount_cents,
        "reason": row.reason,
        "status": row.status,
        "created_at": row.created_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
    }


async def _after_sale(tx: Tx, after_sale: str) -> Any:
    t = models.after_sales
    return (await tx.conn.execute(select(t).where(t.c.after_sale == after_sale))).first()


async def open_after_sale(
    app: AppContext, order: str, amount_cents: int, reason: str, after_sale: str | None
) -> tuple[dict[str, Any], bool]:
    """A buyer asks for a refund. While it is open the order's commission cannot settle."""
    key = after_sale or "as-" + hashlib.sha256(f"{order}|{amount_cents}|{reason}".encode()).hexdigest()[:16]

    async def run(tx: Tx) -> tuple[dict[str, Any], bool]:
        row = await load_order(tx, order)
        existing = await _after_sale(tx, key)
        if existing is not None:
            if (existing.order, existing.amount_cents, existing.reason) != (order, amount_cents, reason):
                raise Conflict(
                    f"after-sale {key} exists with another body",
                    field="after_sale",
                    code="idempotency_conflict",
                )
            return _after_sale_view(existing), False
        if row.status == "cancelled":
            raise Conflict(f"order {order} is cancelled", field="order", code="conflict")
        t = models.after_sales
        pending = (
            await tx.conn.execute(
                select(func.coalesce(func.sum(t.c.amount_cents), 0)).where(
                    t.c.order == order, t.c.status == "open"
                )
            )
        ).scalar_one()
        refundable = row.total_cents - row.refunded_cents - pending
        if amount_cents > refundable:
            raise DomainError(
                f"at most {refundable} cents can still be refunded",
                field="amount_cents",
                code="exceeds_refundable",
            )
        await tx.conn.execute(
            t.insert().values(
                after_sale=key,
                order=order,
                kind="refund",
                amount_cents=amount_cents,
                reason=reason,
                status="open",
                created_at=tx.now,
                resolved_at=None,
            )
        )
        tx.emit(
            AfterSaleOpened(
                at=tx.now, after_sale=key, order=order, leader=row.leader, amount_cents=amount_cents,
                reason=reason,
            )
        )
        return _after_sale_view(await _after_sale(tx, key)), True

    return await app.writer.call(run)


async def resolve_after_sale(app: AppContext, after_sale: str, approved: bool) -> dict[str, Any]:
    """Approve (refund, commission reversed in proportion) or reject (settlement may go on)."""

    async def run(tx: Tx) -> dict[str, Any]:
        request = await _after_sale(tx, after_sale)
        if request is None:
            raise DomainError(f"unknown after-sale: {after_sale}", field="after_sale", code="not_found")
        if request.status != "open":
            if (request.status == "approved") == approved:
                return _after_sale_view(request)
            raise Conflict(
                f"after-sale {after_sale} was already {request.status}", field="approved", code="conflict"
            )
        order = await load_order(tx, request.order)
        await tx.conn.execute(
            update(models.after_sales)
            .where(models.after_sales.c.after_sale == after_sale)
            .values(status="approved" if approved else "rejected", resolved_at=tx.now)
        )
        if approved:
            refunded = order.refunded_cents + request.amount_cents
            await tx.conn.execute(
                update(models.orders)
                .where(models.orders.c.order == order.order)
                .values(refunded_cents=refunded, updated_at=tx.now)
            )
            entries = await ledger.order_entries(tx, order.order)
            await ledger.append(
                tx, order.room, commission.on_refund(entries, order.total_cents, refunded, tx.now)
            )
        tx.emit(
            AfterSaleResolved(
                at=tx.now,
                after_sale=after_sale,
                order=order.order,
                leader=order.leader,
                approved=approved,
                amount_cents=request.amount_cents,
            )
        )
        return _after_sale_view(await _after_sale(tx, after_sale))

    return await app.writer.call(run)
