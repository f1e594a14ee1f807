"""rebuild_s_per_100k_orders: how long the read models take to load after a restart.

A session of N orders (100k by default) is written straight into the tables of a fresh, migrated SQLite file, as
the services would have left it — orders, lines, parcels in every state, the commission ledger, the leaderboard
rows, and an outbox with the events such a session produces (order accepted / held, stock changed, shipment
planned, parcel state changed, commission moved: about five per order). Then a fresh process — a restart —
times `Projections.load` alone (imports and engine creation excluded), and the time is scaled to 100k orders.
"""

from __future__ import annotations

import asyncio
import cProfile
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Channel, children

START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LEADERS = [f"L{i:04d}" for i in range(1_000)]  # a big room: 1,000 leaders (issue 16)
SKUS = ("tea", "mango", "serum", "nuts")
WAREHOUSES = ("SH", "GZ", "BJ", "CD", "WH")
CARRIERS = ("SF", "ZTO", "YTO", "JTSD", "YD")
STATES = ("created", "in_transit", "signed", "problem", "collected", "out_for_delivery")
BUYER = {"name": "张三", "phone": "13800138000", "province": "广东", "city": "广州", "district": "天河区",
         "address": "天河路385号太古汇1座"}


def session_rows(n: int) -> dict[str, list[dict[str, Any]]]:
    """`n` orders, one placed every 0.2 s up to START. Every 17th is cancelled, every 23rd held, every 10th has
    no leader; parcels cycle through every state."""
    from domain.events import (
        CommissionMoved,
        Event,
        OrderAccepted,
        OrderHeld,
        ParcelStateChanged,
        ShipmentPlanned,
        StockChanged,
        to_record,
    )

    rows: dict[str, list[dict[str, Any]]] = {t: [] for t in ("orders", "order_lines", "shipments", "ledger",
                                                             "outbox")}
    board: dict[str, list[int]] = {}
    reserved: Counter[tuple[str, str]] = Counter()
    outbox = rows["outbox"]

    def emit(event: Event) -> None:
        outbox.append({"kind": event.kind, "payload": to_record(event), "created_at": event.at})

    for i in range(n):
        leader = None if i % 10 == 9 else LEADERS[(i * 7919) % len(LEADERS) if i % 3 else i % 50]
        status = "cancelled" if i % 17 == 0 else "held" if i % 23 == 0 else "accepted"
        sku, warehouse, carrier = SKUS[i % 4], WAREHOUSES[i % 5], CARRIERS[i % 5]
        qty = 1 + i % 3
        total = 1_000 * qty
        placed = START - timedelta(seconds=0.2 * (n - i))
        order = f"o{i}"
        rows["orders"].append({
            "order": order, "room": "room-1", "visitor": f"v{i}", "leader": leader, "code": None,
            "status": status, "delivery": "express",
            "buyer": {**BUYER, "phone": "12345" if status == "held" else BUYER["phone"]},
            "destination": {"province": "广东", "city": "广州"}, "total_cents": total, "refunded_cents": 0,
            "presale": False, "flags": ["phone_not_mobile"] if status == "held" else [], "assists": [],
            "body_hash": "-", "response": {}, "placed_at": placed, "signed_at": None, "updated_at": placed,
        })
        rows["order_lines"].append({"order": order, "line": 0, "sku": sku, "qty": qty,
                                    "unit_price_cents": 1_000, "deal_leader": None})
        state = "cancelled" if status == "cancelled" else "created" if status == "held" else STATES[i % 6]
        shipped = state not in ("created", "cancelled")
        waybill = None if status == "held" else f"W{i}"
        rows["shipments"].append({
            "shipment": f"{order}-1", "order": order, "warehouse": warehouse, "carrier": carrier,
            "waybill": waybill, "state": state,
            "furthest": state if state not in ("problem", "cancelled") else "in_transit" if shipped else "created",
            "items": [[sku, qty]], "created_at": placed, "last_event_at": placed if shipped else None,
            "state_since": placed, "shipped_at": placed + timedelta(minutes=i % 90) if shipped else None,
            "stuck_at": None,
        })
        if state != "cancelled" and not shipped:
            reserved[(sku, warehouse)] += qty
        emit(OrderAccepted(at=placed, order=order, room="room-1", leader=leader, assists=(), buyer_masked="张*",
                           province="广东", city="广州", delivery="express", items=((sku, qty),),
                           total_cents=total, status="held" if status == "held" else "accepted"))
        if status == "held":
            emit(OrderHeld(at=placed, order=order, room="room-1", leader=leader, flags=("phone_not_mobile",)))
        emit(StockChanged(at=placed, room="room-1", sku=sku, warehouse=warehouse, on_hand=10**7,
                          reserved=reserved[(sku, warehouse)], sold=qty))
        emit(ShipmentPlanned(at=placed, shipment=f"{order}-1", order=order, room="room-1", leader=leader,
                             warehouse=warehouse, carrier=carrier, waybill=waybill, items=((sku, qty),)))
        if shipped and waybill:
            emit(ParcelStateChanged(at=placed, shipment=f"{order}-1", order=order, room="room-1", leader=leader,
                                    carrier=carrier, waybill=waybill, state=state, previous="created"))
        if leader:
            moves: list[tuple[str | None, str, str]] = [(None, "pending", "paid")]
            moves += [("pending", "reversed", "cancelled")] if status == "cancelled" else []
            moves += [("pending", "frozen", "signed")] if state == "signed" else []
            for source, target, reason in moves:
                rows["ledger"].append({"order": order, "room": "room-1", "leader": leader, "role": "leader",
                                       "source": source, "target": target, "amount_cents": total // 10,
                                       "reason": reason, "at": placed})
                emit(CommissionMoved(at=placed, order=order, room="room-1", leader=leader, role="leader",
                                     source=source, target=target, amount_cents=total // 10, reason=reason))
            if status != "cancelled":
                figures = board.setdefault(leader, [0, 0])
                figures[0] += total
                figures[1] += 1
    rows["room_leaders"] = [
        {"room": "room-1", "leader": leader, "gmv_cents": gmv, "orders": count, "invites": 0, "assists": 0}
        for leader, (gmv, count) in board.items()
    ]
    rows["stock"] = [{"sku": sku, "warehouse": w, "on_hand": 10**7, "reserved": reserved[(sku, w)]}
                     for sku in SKUS for w in WAREHOUSES]
    return rows


def catalog_rows() -> list[tuple[str, list[dict[str, Any]]]]:
    return [
        ("warehouses", [{"code": c, "name": f"{c}仓", "province": "上海", "city": "上海市", "active": True,
                         "updated_at": START} for c in WAREHOUSES]),
        ("skus", [{"sku": s, "name": s, "price_cents": 1_000, "category": None, "presale_when_sold_out": False,
                   "low_stock_units": 20, "updated_at": START} for s in SKUS]),
        ("leaders", [{"leader": leader, "name": f"团长{leader}", "community": None, "upline": None,
                      "pickup_point": None, "updated_at": START} for leader in LEADERS]),
        ("rooms", [{"room": "room-1", "title": "大促专场", "starts_at": START - timedelta(days=3), "ends_at": None,
                    "skus": list(SKUS), "base_rate_bp": 1000, "live_rate_bp": None, "first_hour_bonus_bp": 0,
                    "team_rate_bp": 0, "gmv_tiers": [], "after_sale_days": 7, "binding_mode": "first_touch",
                    "protection_days": 7, "updated_at": START}]),
    ]


async def write_session(database_url: str, n: int) -> int:
    """Migrate and fill a database with `n` orders; returns the number of outbox rows."""
    from store import models
    from store.engine import create_engine
    from store.migrate import upgrade

    upgrade(database_url)
    rows = session_rows(n)
    tables = [
        *((getattr(models, name), table_rows) for name, table_rows in catalog_rows()),
        (models.stock, rows["stock"]),
        (models.orders, rows["orders"]),
        (models.order_lines, rows["order_lines"]),
        (models.shipments, rows["shipments"]),
        (models.commission_entries, rows["ledger"]),
        (models.room_leaders, rows["room_leaders"]),
        (models.outbox, rows["outbox"]),
    ]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for table, table_rows in tables:
                for start in range(0, len(table_rows), 20_000):
                    await conn.execute(table.insert(), table_rows[start : start + 20_000])
    finally:
        await engine.dispose()
    return len(rows["outbox"])


async def load_once(channel: Channel, database_url: str, profile: str | None = None) -> dict[str, Any]:
    """In a fresh process (a restart): time `Projections.load` and nothing else (under cProfile if `profile`)."""
    from realtime.projections import Projections
    from store.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:  # open the pool's connection first: not part of the rebuild
            await conn.exec_driver_sql("SELECT 1")
        views = Projections(lambda: START)
        if profile:
            # `load` reads on a worker thread, which a profiler enabled here would not see: profile the same read
            # (`_read`) on this thread first, then time the real load.
            profiler = cProfile.Profile()
            profiler.enable()
            await views._read(engine, START)
            profiler.disable()
            profiler.dump_stats(profile)
        began = time.perf_counter()
        await views.load(engine)
        elapsed = time.perf_counter() - began
        board = views.snapshot("room:room-1:board") or {}
        return {"seconds": elapsed, "applied": views.applied, "leaders_on_board": board.get("leaders")}
    finally:
        await engine.dispose()


def run(*, orders: int = 100_000, profile: str | None = None) -> dict[str, Any]:
    """`profile`: write a cProfile of the load there (read it with `python -m bench.profile FILE`)."""
    workdir = Path(tempfile.mkdtemp(prefix="liveroom-bench-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'rebuild.db'}"
    try:
        began = time.perf_counter()
        outbox = asyncio.run(write_session(database_url, orders))
        written = time.perf_counter() - began
        with children(load_once, [(database_url, profile)]) as group:
            loaded = group[0].result(timeout=600)
        size = sum(f.stat().st_size for f in workdir.iterdir())
    finally:
        for f in workdir.iterdir():
            f.unlink()
        workdir.rmdir()
    return {
        "rebuild_s_per_100k_orders": round(loaded["seconds"] * 100_000 / orders, 2),
        "details": {"orders": orders, "outbox_rows": outbox, "load_s": round(loaded["seconds"], 2),
                    "write_s": round(written, 1), "db_mib": round(size / 2**20, 1),
                    "applied": loaded["applied"]},
    }
