"""The production topology, through nginx (deploy/nginx/liveroom.conf) in front of three `liveroom serve` processes
over one PostgreSQL and one Redis (issue 15): no oversell across processes, every feed item on every screen
whichever process took the order, a process killed or restarted mid-burst loses no acknowledged order and no feed
item, and a SIGTERM closes screens with 1012 and ends the process within 10 s."""

from __future__ import annotations

import asyncio
import time

import httpx
from orderload import GAVE_UP, OrderLoad
from seed import ROOM, order_body
from sqlalchemy import select
from topology import BULK, FeedScreen, Topology, place

from domain import tokens
from store import models
from store.engine import create_engine

FEED = "room:room-1:feed"


def _host_token(topology: Topology) -> str:
    return tokens.mint(topology.secret, "host", "room-1")


def _writer_commands(topology: Topology) -> dict[int, int]:
    return {
        index: httpx.get(served.url + "/healthz", timeout=5).json()["writer_commands"]
        for index, served in topology.fleet.served.items()
    }


async def _screens(topology: Topology, count: int) -> list[FeedScreen]:
    """`count` screens opened one after another: nginx's round robin puts consecutive ones on different processes."""
    screens = []
    for _ in range(count):
        screen = FeedScreen(topology.ws_url, FEED, _host_token(topology))
        await screen.start()
        screens.append(screen)
    return screens


async def test_two_hundred_orders_racing_for_fifty_units_over_three_processes_sell_exactly_fifty(
    topology: Topology,
) -> None:
    async with topology.client() as http:
        sku = "race-mug"
        assert (await http.put(f"/api/v1/skus/{sku}", json={"name": "限量杯", "price_cents": 3_900,
                                                              "category": "home"})).status_code in (200, 201)
        assert (await http.put(f"/api/v1/skus/{sku}/stock/GZ", json={"on_hand": 50})).status_code in (200, 201)
        room = await http.put("/api/v1/rooms/room-1", json={**ROOM, "skus": [*ROOM["skus"], BULK, sku]})
        assert room.status_code in (200, 201), room.text
    before = _writer_commands(topology)

    async with topology.client(max_connections=100, max_keepalive_connections=100) as http:
        answers = await asyncio.gather(
            *(place(http, order_body(f"race-{i}", f"race-v-{i}", [(sku, 1)])) for i in range(200))
        )
        accepted = [a for a in answers if a.status_code == 201]
        refused = [a for a in answers if a.status_code == 409]
        assert len(accepted) == 50, [a.status_code for a in answers]
        assert len(refused) == 150
        assert {a.json()["error"] for a in refused} == {"sold_out"}
        stock = (await http.get(f"/api/v1/skus/{sku}/stock")).json()
        assert stock["available"] == 0
        assert all(w["available"] >= 0 and w["reserved"] <= w["on_hand"] for w in stock["warehouses"])
        assert sum(w["reserved"] for w in stock["warehouses"]) == 50
    after = _writer_commands(topology)
    assert all(after[i] > before[i] for i in after), f"not every process took orders: {before} -> {after}"


async def test_a_screen_through_nginx_gets_every_feed_item_whichever_process_took_the_order(
    topology: Topology,
) -> None:
    screens = await _screens(topology, 3)
    try:
        async with topology.client() as http:
            answers = await asyncio.gather(
                *(place(http, order_body(f"feed-{i}", f"feed-v-{i}", [(BULK, 1)])) for i in range(30))
            )
        assert all(a.status_code == 201 for a in answers)
        placed = {f"feed-{i}" for i in range(30)}
        for screen in screens:
            assert await screen.wait_for(placed) == set()
    finally:
        for screen in screens:
            await screen.stop()


def _assert_every_order_acknowledged(load: OrderLoad) -> None:
    """Every order offered was decided, and accepted: the stock is plentiful, so nothing may refuse one."""
    assert not load.unanswered, f"orders that never got an answer: {load.unanswered[:10]}"
    gave_up = sorted(order for order, answer in load.answers.items() if answer.status == GAVE_UP)
    assert not gave_up, (f"{len(gave_up)} orders got only 502/503 or cut connections for {load.patience:.0f} s: "
                         f"{gave_up[:10]}")
    refused = sorted((order, a.status, a.error) for order, a in load.answers.items() if not a.acknowledged)
    assert not refused, f"{len(refused)} orders refused: {refused[:10]}"


async def _missing_from_database(topology: Topology, orders: set[str]) -> set[str]:
    """The orders of `orders` that the database (the one all the processes write) does not hold."""
    engine = create_engine(topology.fleet.database_url)
    try:
        async with engine.connect() as connection:
            column = models.orders.c.order
            found = {row[0] for row in await connection.execute(select(column).where(column.in_(sorted(orders))))}
    finally:
        await engine.dispose()
    return orders - found


async def test_a_process_killed_mid_burst_loses_no_acknowledged_order_and_its_screens_miss_nothing(
    topology: Topology,
) -> None:
    """Orders at 100/s from a client process through nginx; one process is killed outright (SIGKILL) and started
    again. Its orders in flight get a 502 or a cut connection and are sent again with the same order id: one it had
    committed gets its first answer back (200), one it had not is placed by another process (201)."""
    screens = await _screens(topology, 3)
    victim = 1
    try:
        async with OrderLoad(topology.url, "kill", rate=100, sku=BULK) as load:
            await asyncio.sleep(1.5)
            topology.fleet.kill(victim)
            await asyncio.sleep(1.5)
            await asyncio.to_thread(topology.fleet.start, victim)
            await asyncio.sleep(0.5)
        replays = sum(1 for answer in load.answers.values() if answer.status == 200)
        print(f"{len(load.answers)} orders ({replays} acknowledged by a replay); sent again after "
              f"{dict(load.retried)} (0: connection reset); closes {[s.close_codes for s in screens]}")
        _assert_every_order_acknowledged(load)
        acknowledged = load.acknowledged
        assert await _missing_from_database(topology, acknowledged) == set()
        for screen in screens:
            assert await screen.wait_for(acknowledged) == set()
        assert sum(len(s.close_codes) for s in screens) >= 1, "no screen was on the killed process"
        assert sum(s.connections for s in screens) > len(screens)  # the cut one came back through nginx
    finally:
        for screen in screens:
            await screen.stop()


async def test_a_rolling_restart_under_two_hundred_orders_a_second_loses_nothing_and_closes_screens_with_1012(
    topology: Topology,
) -> None:
    """Orders come open-loop at 200/s from a client process through nginx (tests/support/orderload.py), from a second
    before the first SIGTERM until after the last replacement answers /healthz; each process in turn is stopped with
    SIGTERM, waited for, and started again, as systemd restarts deploy/systemd's units one by one. An answer that
    decides nothing (502/503: nginx found no process free to take it) is sent again with the same order id."""
    screens = await _screens(topology, 3)
    stops: list[tuple[int, float, int]] = []
    try:
        async with OrderLoad(topology.url, "roll", rate=200, sku=BULK) as load:
            await asyncio.sleep(1.0)
            began = time.monotonic()
            for index in range(3):
                elapsed, status = await asyncio.to_thread(topology.fleet.terminate, index)
                stops.append((index, elapsed, status))
                await asyncio.to_thread(topology.fleet.start, index)
                await asyncio.sleep(0.5)
            ended = time.monotonic()
            await asyncio.sleep(0.5)
        acknowledged = load.acknowledged
        achieved, offered = load.acknowledged_per_s(began, ended), load.offered_per_s(began, ended)
        replays = sum(1 for answer in load.answers.values() if answer.status == 200)
        waits = sorted(a.answered - a.due for a in load.answers.values())
        print(f"{len(load.answers)} orders; restart window {ended - began:.1f} s: offered {offered:.0f}/s, "
              f"acknowledged {achieved:.0f}/s ({replays} by a replay); sent again after {dict(load.retried)} "
              f"(0: connection reset) {load.samples}; longest wait {waits[-1] if waits else 0:.2f} s; "
              f"{load.connections} connections; "
              f"stops {stops}; closes {[s.close_codes for s in screens]}; "
              f"resumed by snapshot {[s.snapshots_after_reconnect for s in screens]}")
        _assert_every_order_acknowledged(load)
        assert await _missing_from_database(topology, acknowledged) == set()
        for screen in screens:
            assert await screen.wait_for(acknowledged) == set()
        assert [index for index, _, _ in stops] == [0, 1, 2]
        for index, elapsed, status in stops:
            assert elapsed < 10, f"process {index} took {elapsed:.1f} s to stop"
            assert status in (0, -15), f"process {index} exited with {status}"
        codes = [code for screen in screens for code in screen.close_codes]
        assert codes and set(codes) == {1012}, codes
        # A check of the test's own load: passing means the restart happened under the load the issue names (200
        # orders/s offered, at least 180/s of them acknowledged over the restart window), not under the trickle a
        # client in the test's own event loop used to manage. A machine too busy to serve 200/s fails here, saying so.
        assert achieved >= 180, (f"the restart did not happen under the load the issue names: {achieved:.0f} orders/s "
                                 f"acknowledged of {offered:.0f}/s offered (longest wait {waits[-1]:.1f} s)")
    finally:
        for screen in screens:
            await screen.stop()
