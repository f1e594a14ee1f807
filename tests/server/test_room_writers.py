"""PostgreSQL: orders of different rooms never wait for each other, and what rooms share stays exact (issue 15,
"narrow what the lock covers"): each order's transaction holds only its room's lock to its commit; stock rows and
carrier days shared between rooms are touched in its tail; the sequencer gives its events their outbox seqs after
the commit (store/uow.py, store/sequencer.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import SeedClient, serve_process
from seed import API_KEY, ROOM, order_body, seed_catalog, share_code
from sqlalchemy import select, text

from store import models
from store.migrate import upgrade
from store.room_locks import ROOM_NS, WRITE_LOCK, lock_names

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def in_room(body: dict[str, Any], room: str) -> dict[str, Any]:
    return {**body, "room": room}


async def test_orders_visits_and_heartbeats_of_a_room_are_answered_while_another_rooms_writer_holds_its_lock(
    service: Any,
) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/rooms/room-2", ROOM)).status_code in (200, 201)
    code = await share_code(service, "lead-a", room="room-2")
    async with service.ctx.engine.connect() as held:
        # What a long transaction of room-1 holds (in another process, say) until its commit.
        await held.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": WRITE_LOCK})
        await lock_names(held, ROOM_NS, ["room-1"])
        other = await asyncio.wait_for(
            service.post("/api/v1/orders", in_room(order_body("o-2", "v-2", [("tea", 1)]), "room-2")), 10)
        assert other.status_code == 201, other.text
        visit = await asyncio.wait_for(service.post("/api/v1/visits", {"visitor": "v-3", "code": code}), 10)
        assert visit.status_code in (200, 201) and visit.json()["room"] == "room-2", visit.text
        beat = await asyncio.wait_for(service.post("/api/v1/rooms/room-2/presence", {"visitor": "v-3"}), 10)
        assert beat.status_code in (200, 201), beat.text
        same = asyncio.create_task(service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)])))
        await asyncio.sleep(0.5)
        assert not same.done()  # room-1's order waits for room-1's lock ...
        await held.rollback()
    answer = await asyncio.wait_for(same, 10)  # ... and goes through once it is released
    assert answer.status_code == 201, answer.text


async def test_a_room_busy_in_another_process_leaves_the_other_rooms_of_the_same_batch_to_commit(service: Any) -> None:
    """One transaction for all rooms of a batch (writer.parallel = 1): room-1's lock is held elsewhere, so its
    order waits for the next transaction while room-2's, in the same batch, is answered."""
    await seed_catalog(service)
    assert (await service.put("/api/v1/rooms/room-2", ROOM)).status_code in (200, 201)
    service.ctx.writer.parallel = 1
    async with service.ctx.engine.connect() as held:
        await held.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": WRITE_LOCK})
        await lock_names(held, ROOM_NS, ["room-1"])
        busy = asyncio.create_task(service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)])))
        free = asyncio.create_task(service.post(
            "/api/v1/orders", in_room(order_body("o-2", "v-2", [("tea", 1)]), "room-2")))
        answer = await asyncio.wait_for(free, 10)
        assert answer.status_code == 201, answer.text
        assert not busy.done()
        await held.rollback()
    assert (await asyncio.wait_for(busy, 10)).status_code == 201


async def test_a_command_for_no_room_waits_for_room_transactions_and_then_runs(service: Any) -> None:
    """Catalog, settlement, carriers: they take the global write lock exclusively, so they never interleave
    with an order of any room."""
    await seed_catalog(service)
    async with service.ctx.engine.connect() as held:
        await held.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": WRITE_LOCK})
        await lock_names(held, ROOM_NS, ["room-1"])
        change = asyncio.create_task(service.put("/api/v1/carriers/SF", {"daily_capacity": 77}))
        await asyncio.sleep(0.5)
        assert not change.done()
        await held.rollback()
    assert (await asyncio.wait_for(change, 10)).status_code == 200


async def test_four_hundred_orders_of_two_rooms_over_two_processes_sell_a_shared_sku_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    """Two rooms sell the same 100 units of tea from two processes: exactly 100 are sold, and the stock events
    of that row, in outbox order, count up to 100 without ever stepping back (commit order for the shared row);
    the outbox seqs have no hole (the sequencer hands them out)."""
    upgrade(database_url)
    with serve_process(database_url) as process_a, serve_process(database_url) as process_b:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx.AsyncClient(base_url=process_a, headers=headers, timeout=120) as a,
            httpx.AsyncClient(base_url=process_b, headers=headers, timeout=120) as b,
        ):
            seed = SeedClient(a)
            await seed_catalog(seed)
            assert (await a.put("/api/v1/rooms/room-2", json=ROOM)).status_code in (200, 201)
            for warehouse, units in (("SH", 0), ("GZ", 100), ("BJ", 0)):
                assert (await a.put(f"/api/v1/skus/tea/stock/{warehouse}", json={"on_hand": units})).status_code == 200
            gate = asyncio.Semaphore(100)

            async def buy(i: int) -> int:
                body = in_room(order_body(f"r-{i}", f"v-{i}", [("tea", 1)]), f"room-{1 + i % 2}")
                async with gate:
                    return (await (a if (i // 2) % 2 else b).post("/api/v1/orders", json=body)).status_code

            statuses = await asyncio.gather(*(buy(i) for i in range(400)))
            assert (statuses.count(201), statuses.count(409)) == (100, 300)
            stock = (await b.get("/api/v1/skus/tea/stock")).json()
            gz = next(w for w in stock["warehouses"] if w["warehouse"] == "GZ")
            assert (gz["on_hand"], gz["reserved"], gz["available"]) == (100, 100, 0)

    from store.engine import create_engine

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            seqs = [r.seq for r in await conn.execute(select(models.outbox.c.seq).order_by(models.outbox.c.seq))]
            events = [r.payload for r in await conn.execute(
                select(models.outbox.c.payload).where(models.outbox.c.kind == "stock_changed")
                .order_by(models.outbox.c.seq))]
            pending = (await conn.execute(select(models.outbox_pending.c.id))).all()
            sold = {r.order for r in await conn.execute(select(models.orders.c.order))}
    finally:
        await engine.dispose()
    assert pending == []  # every committed event has its seq
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # consecutive: none lost, none made up
    reserved = [e["reserved"] for e in events if (e["sku"], e["warehouse"]) == ("tea", "GZ")]
    assert reserved == sorted(reserved) and reserved[-1] == 100
    assert len(sold) == 100 and {o for o in sold if o.startswith("r-")} == sold
