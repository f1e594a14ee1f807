"""order_to_screen_ms_p50 / _p99: from the POST of an order to the feed frame that shows it, under load.

`liveroom serve` on a fresh SQLite file with the bench room. Three client processes:
- the audience: 1,000 real WebSocket connections across topics, as the screens open them — host screens (the
  room's stock, board and feed with a host token), leader phones (`leader:{id}` with the leader's token) and
  ops screens (`ops`); they read every frame and count it;
- the probes: a few more connections on `room:room-1:feed`, noting when each order id first shows up;
- the buyers: orders at a fixed rate (500/s, open loop: an order is sent on schedule whether or not earlier ones
  were answered), each timed from the moment it was due.
Latency per (order, probe) = arrival - due, over the orders due inside the measured window that the server did
not refuse. An order a probe never shows within the drain time counts as missing (reported) with the time until
the probes stopped looking: a lower bound, so lost frames can only make the figure worse.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

import orjson

from bench.catalog import Catalog, OrderMaker, place_orders, seed
from bench.common import (
    API_KEY,
    HOST,
    Channel,
    all_recv,
    api,
    broadcast,
    children,
    cpu_seconds,
    liveroom_server,
    percentile,
    profiling,
    server_choice,
    server_trace,
    sleep_until,
    token,
)
from bench.httpload import HttpConnection, connect, post_request
from bench.wsclient import Stats, close_all, open_many, ws_path

ROOM = "room-1"
FEED = f"room:{ROOM}:feed"


def audience_paths(count: int, leaders: list[str], fmt: str = "json") -> list[str]:
    """Four in ten host screens, four in ten leader phones, two in ten ops screens."""
    host = ws_path([f"room:{ROOM}:stock", f"room:{ROOM}:board", FEED], token("host", ROOM), fmt)
    ops = ws_path(["ops"], token("ops", "-"), fmt)
    paths = []
    for i in range(count):
        kind = i % 10
        if kind < 4:
            paths.append(host)
        elif kind < 8:
            leader = leaders[i % len(leaders)]
            paths.append(ws_path([f"leader:{leader}"], token("leader", leader), fmt))
        else:
            paths.append(ops)
    return paths


async def audience_client(channel: Channel, port: int, paths: list[str]) -> dict[str, Any]:
    stats = Stats()
    connections = await open_many(HOST, port, paths, stats)
    channel.send(("ready", len(connections)))
    await channel.recv()  # done
    frames, closed = stats.frames, stats.closed
    await close_all(connections)
    return {"frames": frames, "closed_early": closed}


async def probe_client(channel: Channel, port: int, probes: int) -> dict[str, Any]:
    seen: list[dict[str, float]] = [{} for _ in range(probes)]

    def on_message(index: int) -> Any:
        first = seen[index]

        def record(payload: bytes, at: float) -> None:
            frame = orjson.loads(payload)
            for item in frame.get("data", {}).get("items", ()):
                first.setdefault(item["order"], at)

        return record

    stats = Stats()
    path = ws_path([FEED], token("host", ROOM))
    connections = []
    for index in range(probes):
        connections.extend(await open_many(HOST, port, [path], stats, on_message=on_message(index)))
    channel.send(("ready", len(connections)))
    await channel.recv()  # done
    closed, stopped = stats.closed, time.monotonic()
    await close_all(connections)
    return {"seen": seen, "closed_early": closed, "stopped": stopped}


async def buyer_client(channel: Channel, port: int, catalog: Catalog, rate: float, max_connections: int = 256,
                       patience: float = 30.0) -> dict[str, Any]:
    """Orders on a fixed schedule. An order's time is when it was DUE, not when a connection was free to carry
    it: if the server falls behind, the wait counts (no coordinated omission)."""
    maker = OrderMaker(catalog, "lat", seed=99)
    due_at: dict[str, float] = {}
    answered: dict[str, int] = {}
    refusals: list[str] = []
    opened = 0
    channel.send(("ready", 1))
    start, stop_at = await channel.recv()
    # Connected only now: uvicorn drops keep-alive connections idle for 5 s, and the audience took longer.
    idle: deque[HttpConnection] = deque([await connect(HOST, port) for _ in range(64)])
    gate = asyncio.Semaphore(max_connections)
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def connection() -> HttpConnection:
        nonlocal opened
        while idle:
            candidate = idle.popleft()
            if candidate.alive:
                return candidate
        opened += 1
        return await connect(HOST, port)

    async def place(order: str) -> None:
        request = post_request(HOST, port, "/api/v1/orders", maker.encoded(order), API_KEY)
        async with gate:
            for _attempt in range(2):  # a replay of the same order id is idempotent
                conn = await connection()
                try:
                    status, body = await conn.request(request)
                except ConnectionError:
                    continue
                answered[order] = status
                if status >= 300 and len(refusals) < 5:
                    refusals.append(f"{status} {body[:200].decode(errors='replace')}")
                idle.append(conn)
                return

    await sleep_until(start)
    n = 0
    interval = 1 / rate
    while True:
        due = start + n * interval
        if due >= stop_at:
            break
        if due > loop.time():
            await asyncio.sleep(due - loop.time())
        order = maker.next_id()
        due_at[order] = due
        task = asyncio.create_task(place(order))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
    if pending:
        await asyncio.wait(pending, timeout=patience)
    return {"sent": due_at, "answered": answered, "connections": 64 + opened,
            "unanswered": sum(1 for o in due_at if o not in answered), "refusals": refusals}


def run(*, audience: int = 1_000, probes: int = 4, rate: float = 500.0, warmup: float = 3.0,
        duration: float = 10.0, drain: float = 3.0, leaders: int = 300, trace: bool = False,
        profile: str | None = None) -> dict[str, Any]:
    """`trace`: serve through bench/hubserver.py with BENCH_TRACE=1 and add its spans to the details;
    `profile`: a path where that server writes its cProfile stats when it stops."""
    module, env = server_choice(trace, profile)
    with liveroom_server(module, extra_env=env) as server:
        async def prepare() -> Catalog:
            async with api(server) as client:
                catalog = await seed(client, leaders=leaders, linked=leaders)
                await place_orders(client, catalog, 100, "warm")
                return catalog

        catalog = asyncio.run(prepare())
        paths = audience_paths(audience, catalog.leaders)
        with children(audience_client, [(server.port, paths)]) as crowd, \
                children(probe_client, [(server.port, probes)]) as probers, \
                children(buyer_client, [(server.port, catalog, rate)]) as buyers:
            connected = sum(m[1] for m in all_recv(crowd, timeout=300)) + sum(m[1] for m in all_recv(probers))
            all_recv(buyers)
            start = time.monotonic() + 0.3
            measure_from, stop_at = start + warmup, start + warmup + duration
            broadcast(buyers, (start, stop_at))
            time.sleep(max(0.0, measure_from - time.monotonic()))
            with profiling(server, bool(profile)):
                server_cpu = cpu_seconds(server.pid)
                time.sleep(max(0.0, stop_at - time.monotonic()))
                server_cpu = cpu_seconds(server.pid) - server_cpu
            posted = buyers[0].result(timeout=120)
            time.sleep(drain)  # let the last frames arrive
            broadcast(crowd, "done")
            broadcast(probers, "done")
            watched = probers[0].result(timeout=60)
            crowd_result = crowd[0].result(timeout=60)
        spans = server_trace(server, measure_from) if trace else None
    figures = summarize(posted, watched, crowd_result, measure_from, stop_at, connected, server_cpu / duration)
    if spans is not None:
        figures["details"]["trace"] = spans
    return figures


def summarize(posted: dict[str, Any], watched: dict[str, Any], crowd: dict[str, Any], measure_from: float,
              stop_at: float, connected: int, server_cpu: float) -> dict[str, Any]:
    """Latency per (order, probe). Orders due in the window count unless the server refused them (4xx/5xx); one
    a probe never saw (unanswered, or answered but never shown) counts as the time until the probes stopped
    looking — a lower bound, so that losing frames can never improve the figure."""
    sent, answered = posted["sent"], posted["answered"]
    measured = [o for o, at in sent.items() if measure_from <= at < stop_at and answered.get(o, 201) == 201]
    latencies: list[float] = []
    missing = 0
    for seen in watched["seen"]:
        for order in measured:
            arrived = seen.get(order)
            if arrived is None:
                missing += 1
                arrived = watched["stopped"]
            latencies.append((arrived - sent[order]) * 1000)
    statuses: dict[int, int] = {}
    for status in answered.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "order_to_screen_ms_p50": round(percentile(latencies, 50), 1),
        "order_to_screen_ms_p99": round(percentile(latencies, 99), 1),
        "details": {
            "orders_measured": len(measured),
            "offered_per_s": round(sum(1 for at in sent.values() if measure_from <= at < stop_at)
                                   / (stop_at - measure_from), 1),
            "samples": len(latencies),
            "missing": missing,
            "unanswered": posted["unanswered"],
            "max_ms": round(max(latencies), 1) if latencies else None,
            "statuses": statuses,
            "refusals": posted["refusals"],
            "connections": connected,
            "http_connections": posted["connections"],
            "audience_frames": crowd["frames"],
            "closed_early": crowd["closed_early"] + watched["closed_early"],
            "server_cpu": round(server_cpu, 2),
        },
    }
