"""Writing what a batch of orders decided: each decision applied to the batch's book (rows to insert, deltas to
add), then the whole batch flushed with a fixed handful of statements (group commit)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Integer, bindparam, or_, select, update

from domain import ordering
from domain.china_time import china_day
from server.services import catalog_rows, ledger, order_growth_rows, stock_rows
from server.services.order_book import OrderBook
from server.services.stock_rows import StockGuardTripped
from store import models
from store.sql import accumulate, guarded_update, insert_many, insert_missing, upsert
from store.uow import Tx


def record(tx: Tx, book: OrderBook, decision: ordering.OrderDecision, body_hash: str, answer: dict[str, Any]) -> None:
    """Record the decision in the book and the outbox. Nothing in here refuses, and whatever could still fail
    (a bug, an input nobody foresaw) is worked out first: the book and the outbox change only after that, by
    appends and sums, so an order that fails here leaves the batch's state exactly as it was."""
    d, request, room = decision, decision.request, decision.room
    order_row = {
        "order": request.order,
        "room": request.room,
        "visitor": request.visitor,
        "leader": d.leader,
        "code": request.code,
        "status": d.status,
        "delivery": request.delivery,
        "buyer": request.buyer.as_dict(),
        "destination": {"province": d.destination.province, "city": d.destination.city},
        "total_cents": d.total_cents,
        "coupon": d.coupon.coupon if d.coupon else None,
        "discount_cents": d.discount_cents,
        "refunded_cents": 0,
        "presale": bool(d.presale),
        "flags": list(d.flags),
        "assists": list(d.attribution.assists),
        "body_hash": body_hash,
        "response": answer,
        "placed_at": d.at,
        "signed_at": None,
        "ship_by": d.ship_by,
        "updated_at": d.at,
    }
    line_rows = [
        {
            "order": request.order,
            "line": i,
            "sku": p.sku,
            "qty": p.qty,
            "unit_price_cents": p.unit_price_cents,
            "deal_leader": p.deal_leader,
        }
        for i, p in enumerate(d.priced)
    ]
    backorder_rows = [
        {"order": request.order, "sku": sku, "qty": qty, "at": d.at, "filled": False} for sku, qty in d.presale
    ]
    day = china_day(d.at)
    shipment_rows = [_shipment_row(request.order, parcel, d) for parcel in d.shipments]
    ledger_rows = [ledger.row(e, room) for e in d.ledger]
    # Decided and worked out: from here on, only the book and the outbox change.
    book.levels.update(d.reserved)
    for deal in d.deals_used.values():
        key = (deal.room, deal.sku, deal.leader)
        book.deal_delta[key] += deal.used - book.deals[key].used
        book.deals[key] = deal
    if d.binding is not None:
        book.bindings[d.binding.visitor] = d.binding
        book.bound[d.binding.visitor] = (d.binding, room)
        if d.binds_anew:
            book.board_delta[(room, d.binding.leader)].update(invites=1)
    leader = d.leader
    if leader:
        book.gmv[(room, leader)] = book.gmv.get((room, leader), 0) + d.total_cents
        book.board_delta[(room, leader)].update(gmv_cents=d.total_cents, orders=1)
    for assist in d.attribution.assists:
        book.board_delta[(room, assist)].update(assists=1)
    book.order_rows.append(order_row)
    book.line_rows.extend(line_rows)
    book.backorder_rows.extend(backorder_rows)
    book.shipment_rows.extend(shipment_rows)
    for parcel in d.shipments:
        book.carrier_load[parcel.carrier] += 1
        book.carrier_delta[(parcel.carrier, day)] += 1
        for sku, qty in parcel.lines:
            book.reserved_delta[(sku, parcel.warehouse.code)] += qty
    book.ledger_rows.extend(ledger_rows)
    order_growth_rows.note(book, d)
    tx.emit(*d.events)


def _shipment_row(order: str, parcel: ordering.Parcel, d: ordering.OrderDecision) -> dict[str, Any]:
    return {
        "shipment": parcel.shipment,
        "order": order,
        "warehouse": parcel.warehouse.code,
        "carrier": parcel.carrier,
        "waybill": parcel.waybill,
        "state": "created",
        "furthest": "created",
        "items": [list(line) for line in parcel.lines],
        "created_at": d.at,
        "last_event_at": None,
        "state_since": d.at,
        "shipped_at": None,
        "stuck_at": None,
    }


async def flush(tx: Tx, book: OrderBook) -> None:
    """Write what the batch decided: a fixed handful of statements, however many orders it holds."""
    conn = tx.conn
    for table, rows in (
        (models.orders, book.order_rows),
        (models.order_lines, book.line_rows),
        (models.shipments, book.shipment_rows),
        (models.backorders, book.backorder_rows),
        (models.commission_entries, book.ledger_rows),
    ):
        await insert_many(conn, table, rows)
    if tx.scoped:  # rows every room shares: updated in the transaction's tail, held only from there to the commit
        tx.before_commit[f"order_stock_{id(book)}"] = lambda: stock_rows.reserve_in_tail(
            tx, book.reserved_delta, book.levels)
    else:
        await stock_rows.reserve(tx, book.reserved_delta)
    await take_deal_quota(tx, book.deal_delta)
    await upsert(
        conn,
        models.bindings,
        [catalog_rows.binding_row(b, room) for b, room in book.bound.values()],
        ["visitor"],
        ["leader", "room", "bound_at", "protected_until"],
    )
    await add_board(tx, book.board_delta)
    if tx.scoped:
        tx.before_commit[f"order_carrier_days_{id(book)}"] = lambda: add_carrier_days(tx, book.carrier_delta)
    else:
        await add_carrier_days(tx, book.carrier_delta)
    await order_growth_rows.flush(tx, book)


async def take_deal_quota(tx: Tx, delta: Counter[tuple[str, str, str]]) -> None:
    rows = [
        {"k_room": r, "k_sku": s, "k_leader": lead, "n": n} for (r, s, lead), n in sorted(delta.items()) if n
    ]
    if not rows:
        return
    d = models.deals
    statement = (
        update(d)
        .where(
            d.c.room == bindparam("k_room"),
            d.c.sku == bindparam("k_sku"),
            d.c.leader == bindparam("k_leader"),
            d.c.used + bindparam("n") <= d.c.quota,
        )
        .values(used=d.c.used + bindparam("n"))
    )
    if not await guarded_update(tx.conn, statement, rows):
        raise StockGuardTripped("a community deal's quota changed under the writer")


async def add_board(tx: Tx, delta: dict[tuple[str, str], Counter[str]]) -> None:
    """Accumulate the leaderboard figures per room and leader (GMV, orders, invites, assists)."""
    columns = ("gmv_cents", "orders", "invites", "assists")
    rows = [
        {"room": room, "leader": leader, **{c: counts.get(c, 0) for c in columns}}
        for (room, leader), counts in sorted(delta.items())
    ]
    await accumulate(tx.conn, models.room_leaders, rows, ["room", "leader"], columns)


_cd, _c = models.carrier_days, models.carriers
_CAPACITY = select(_c.c.daily_capacity).where(_c.c.carrier == _cd.c.carrier).scalar_subquery()
_N = bindparam("n", type_=Integer)
# assigned += n only while the carrier's daily capacity allows it (none set: unlimited; giving back: always).
_TAKE = (
    update(_cd)
    .where(_cd.c.carrier == bindparam("k_carrier"), _cd.c.day == bindparam("k_day"),
           or_(_N <= 0, _CAPACITY.is_(None), _cd.c.assigned + _N <= _CAPACITY))
    .values(assigned=_cd.c.assigned + _N)
)


async def add_carrier_days(tx: Tx, delta: Counter[tuple[str, str]]) -> None:
    """Count the parcels given to each carrier per China day: a guarded increment, `assigned + n <= capacity`
    (issue 13: capacity is a shared counter), so no writer anywhere takes a carrier past its capacity — the rules
    decided within it, and a row that does not match trips the guard and rolls the batch back."""
    changed = sorted((key, n) for key, n in delta.items() if n)
    if not changed:
        return
    await insert_missing(tx.conn, _cd, [{"carrier": c, "day": d, "assigned": 0} for (c, d), _ in changed],
                         ["carrier", "day"])
    rows = [{"k_carrier": c, "k_day": d, "n": n} for (c, d), n in changed]
    if not await guarded_update(tx.conn, _TAKE, rows):
        raise StockGuardTripped("a carrier's daily capacity was reached under the writer")
