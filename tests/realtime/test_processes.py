"""Several server processes and restarts: the truth reaches every screen (issue #4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from live import SeedClient, live_server, serve_process, watch
from seed import API_KEY, SECRET, order_body, seed_catalog, share_code

from domain import tokens


async def test_an_order_posted_to_one_process_reaches_a_screen_of_another(
    tmp_path: Path, redis_url: str
) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = {"LIVEROOM_REDIS_URL": redis_url}
    with serve_process(database, env) as process_a, serve_process(database, env) as process_b:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=process_a, headers=headers, timeout=30) as a:
            svc = SeedClient(a)
            await seed_catalog(svc)
            code = await share_code(svc, "lead-a")
            ws_b = process_b.replace("http://", "ws://") + "/ws"
            board = await watch(ws_b, ["room:room-1:board"], tokens.mint(SECRET, "host", "room-1"))
            leader = await watch(ws_b, ["leader:lead-a"], tokens.mint(SECRET, "leader", "lead-a"))
            await board.wait_for(lambda f: f["kind"] == "snapshot")
            placed = await a.post(
                "/api/v1/orders", json=order_body("o-cross", "v-cross", [("tea", 3)], code=code)
            )
            assert placed.status_code == 201, placed.text
            frame = await board.wait_for(lambda f: "38400" in str(f["data"]), timeout=10)
            assert frame["topic"] == "room:room-1:board"
            await leader.wait_for(lambda f: "o-cross" in str(f["data"]), timeout=10)
            await board.close()
            await leader.close()


async def _snapshots(server: Any, topics: list[str]) -> dict[str, Any]:
    watcher = await watch(server.ws_url, topics, server.token("ops", "-"))
    frames = {}
    for topic in topics:
        frames[topic] = (
            await watcher.wait_for(lambda f, t=topic: f["topic"] == t and f["kind"] == "snapshot")
        )["data"]
    await watcher.close()
    return frames


async def test_after_a_restart_the_screens_show_the_same_figures(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'restart.db'}"
    topics = ["room:room-1:board", "room:room-1:stock", "leader:lead-a", "leader:lead-b"]
    async with live_server(database) as first:
        svc = SeedClient(first.http)
        await seed_catalog(svc)
        code_a, code_b = await share_code(svc, "lead-a"), await share_code(svc, "lead-b")
        for i in range(12):
            code = code_a if i % 3 else code_b
            response = await first.http.post(
                "/api/v1/orders",
                json=order_body(f"r-{i}", f"rv-{i}", [("tea", 1 + i % 2), ("mango", 1)], code=code),
            )
            assert response.status_code == 201
        assert (await first.http.post("/api/v1/orders/r-4/cancel")).status_code == 200
        waybill = (await first.http.get("/api/v1/orders/r-1")).json()["shipments"][0]["waybill"]
        carrier = (await first.http.get("/api/v1/orders/r-1")).json()["shipments"][0]["carrier"]
        tracked = await first.http.post(
            "/api/v1/tracking",
            json={
                "carrier": carrier,
                "waybill": waybill,
                "state": "signed",
                "at": datetime.now(UTC).isoformat(),  # signed as it is reported
            },
        )
        assert tracked.status_code == 200, tracked.text
        before = await _snapshots(first, topics)
        commission_before = (await first.http.get("/api/v1/leaders/lead-a/commission")).json()
    async with live_server(database) as second:
        after = await _snapshots(second, topics)
        commission_after = (await second.http.get("/api/v1/leaders/lead-a/commission")).json()
    for topic in topics:
        assert _without_clock(after[topic]) == _without_clock(before[topic]), topic
    assert commission_after == commission_before


def _without_clock(data: Any) -> Any:
    """Figures that depend on the wall clock (sell rate over the last minutes) move between two snapshots taken
    seconds apart; everything else must be identical field by field."""
    if isinstance(data, dict):
        return {
            k: _without_clock(v)
            for k, v in data.items()
            if k not in ("rate_per_min", "minutes_to_sellout", "generated_at", "now", "sparkline")
        }
    if isinstance(data, list):
        return [_without_clock(v) for v in data]
    return data


async def test_two_processes_on_one_sqlite_file_never_issue_the_same_waybill(tmp_path: Path) -> None:
    """Each writer reads the waybill counter inside its own write transaction, so two processes writing the same
    file take turns: every parcel gets its own number, and the stock both sold adds up."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    with serve_process(database) as process_a, serve_process(database) as process_b:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with (
            httpx.AsyncClient(base_url=process_a, headers=headers, timeout=60) as a,
            httpx.AsyncClient(base_url=process_b, headers=headers, timeout=60) as b,
        ):
            await seed_catalog(SeedClient(a))
            bodies = [order_body(f"o-{n}", f"v-{n}", [("tea", 1)]) for n in range(120)]
            answers = await asyncio.gather(
                *((a if n % 2 else b).post("/api/v1/orders", json=body) for n, body in enumerate(bodies))
            )
            assert [r.status_code for r in answers] == [201] * len(bodies), [r.text for r in answers][:3]
            waybills = [s["waybill"] for r in answers for s in r.json()["shipments"]]
            assert len(waybills) == len(bodies) and len(set(waybills)) == len(waybills)
            stock = (await a.get("/api/v1/skus/tea/stock")).json()
            assert sum(w["reserved"] for w in stock["warehouses"]) == len(bodies)
