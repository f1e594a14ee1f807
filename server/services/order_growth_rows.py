"""What an order writes for the growth engine, in the order's transaction: the coupon use (a guarded update, like a
deal's quota: the database refuses to go past the quota even if the writer's view were stale) and the visitor's
"ordered" step in `viewers` (one upsert per batch: the earliest order time is kept, the row made if missing)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import bindparam, case, func, or_, update
from sqlalchemy.dialects import postgresql, sqlite

from domain import ordering
from server.services.order_book import OrderBook
from server.services.stock_rows import StockGuardTripped
from store import models
from store.sql import guarded_update
from store.uow import Tx


def note(book: OrderBook, d: ordering.OrderDecision) -> None:
    """Apply an accepted or held decision's coupon use and ordered step to the batch's book (nothing refuses)."""
    if d.coupon is not None:
        key = (d.coupon.room, d.coupon.coupon)
        book.coupon_delta[key] += d.coupon.used - book.coupons[key].used
        book.coupons[key] = d.coupon
    key = (d.room, d.request.visitor)
    row = book.viewer_rows.get(key)
    if row is None:
        book.viewer_rows[key] = {
            "room": d.room,
            "visitor": d.request.visitor,
            "leader": d.leader,
            "first_seen": d.at,
            "last_seen": d.at,
            "watched_us": 0,
            "ordered_at": d.at,
        }
    else:  # the same visitor ordered twice in one batch: one row (PostgreSQL refuses to update a row twice)
        row["first_seen"] = min(row["first_seen"], d.at)
        row["last_seen"] = max(row["last_seen"], d.at)
        row["ordered_at"] = min(row["ordered_at"], d.at)
        row["leader"] = d.leader or row["leader"]


async def flush(tx: Tx, book: OrderBook) -> None:
    await take_coupon_quota(tx, book.coupon_delta)
    await mark_ordered(tx, list(book.viewer_rows.values()))


_c = models.coupons
_TAKE = (
    update(_c)
    .where(
        _c.c.room == bindparam("k_room"),
        _c.c.coupon == bindparam("k_coupon"),
        or_(_c.c.quota.is_(None), _c.c.used + bindparam("n") <= _c.c.quota),
    )
    .values(used=_c.c.used + bindparam("n"))
)


async def take_coupon_quota(tx: Tx, delta: Counter[tuple[str, str]]) -> None:
    rows = [{"k_room": room, "k_coupon": coupon, "n": n} for (room, coupon), n in sorted(delta.items()) if n]
    if rows and not await guarded_update(tx.conn, _TAKE, rows):
        raise StockGuardTripped("a coupon's quota changed under the writer")


_STATEMENTS: dict[str, Any] = {}


def _mark_ordered_statement(dialect: str) -> Any:
    """INSERT the viewer, or keep the earliest first_seen and ordered_at, the latest last_seen, and the order's
    leader (the one already recorded when the order has none)."""
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        v = models.viewers
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(v)
        new = insert.excluded

        def earliest(column: str) -> Any:
            return case((or_(v.c[column].is_(None), new[column] < v.c[column]), new[column]), else_=v.c[column])

        statement = insert.on_conflict_do_update(
            index_elements=["room", "visitor"],
            set_={
                "first_seen": earliest("first_seen"),
                "ordered_at": earliest("ordered_at"),
                "last_seen": case((new.last_seen > v.c.last_seen, new.last_seen), else_=v.c.last_seen),
                "leader": func.coalesce(new.leader, v.c.leader),
            },
        )
        _STATEMENTS[dialect] = statement
    return statement


async def mark_ordered(tx: Tx, rows: list[dict[str, Any]]) -> None:
    if rows:
        rows.sort(key=lambda r: (r["room"], r["visitor"]))  # a fixed lock order
        await tx.conn.execute(_mark_ordered_statement(tx.dialect), rows)

