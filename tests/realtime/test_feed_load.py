"""A restart fills each room's feed with that room's newest orders, however many rooms there are.

realtime/projections/feed.py reads them per room, newest first with a limit, when there are a few rooms (the
usual case: one live room), and with one window over the outbox when there are many. Both must land on the same
feeds: each room's newest `capacity` orders (shown oldest first), and "complete" only for a room that has fewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.rebuild import START, catalog_rows, session_rows
from realtime.projections import Projections, feed
from store import models
from store.engine import create_engine
from store.migrate import upgrade

ROOMS = [f"room-{i}" for i in range(feed.FEW_ROOMS + 2)]
CAPACITY = 7


async def _session(database_url: str) -> dict[str, Any]:
    """A session of 300 orders spread over more rooms than FEW_ROOMS; the last room gets only 3 of them."""
    upgrade(database_url)
    rows = session_rows(300)
    room_of: dict[str, str] = {}
    for i, order in enumerate(rows["orders"]):
        order["room"] = ROOMS[-1] if i in (10, 150, 299) else ROOMS[i % (len(ROOMS) - 1)]
        room_of[order["order"]] = order["room"]
    for event in rows["outbox"]:
        if "order" in event["payload"]:
            event["payload"] = {**event["payload"], "room": room_of[event["payload"]["order"]]}
    catalog = dict(catalog_rows())
    catalog["rooms"] = [{**catalog["rooms"][0], "room": room} for room in ROOMS]
    engine = create_engine(database_url)
    try:
        async with engine.begin() as conn:
            for name, table_rows in catalog.items():
                await conn.execute(getattr(models, name).insert(), table_rows)
            for table in ("stock", "orders", "order_lines", "shipments", "outbox"):
                await conn.execute(getattr(models, table).insert(), rows[table])
    finally:
        await engine.dispose()
    return rows


async def _feeds(database_url: str) -> dict[str, Any]:
    engine = create_engine(database_url)
    try:
        views = Projections(lambda: START, feed_capacity=CAPACITY)
        await views.load(engine)
        return {room: views.snapshot(f"room:{room}:feed") for room in ROOMS}
    finally:
        await engine.dispose()


async def test_each_rooms_feed_holds_its_newest_orders_with_few_rooms_or_many(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'rooms.db'}"
    rows = await _session(database_url)
    few = await _feeds(database_url)  # more rooms than FEW_ROOMS: the window
    monkeypatch.setattr(feed, "FEW_ROOMS", len(ROOMS))
    per_room = await _feeds(database_url)  # one limited query per room
    assert per_room == few
    for room in ROOMS:
        newest = [o["order"] for o in rows["orders"] if o["room"] == room][
            -CAPACITY:
        ]  # oldest first, as shown
        assert [item["order"] for item in few[room]["items"] if item["kind"] == "order"] == newest
    assert len(few[ROOMS[-1]]["items"]) == 3
