"""ws_kib_per_idle_connection: what an idle subscribed WebSocket client costs the server in memory.

`liveroom serve` on a fresh SQLite file with the bench room. A first few dozen connections are opened and closed
(so one-time costs — imports on first use, caches, the first snapshots rendered — are not charged to the
measured ones), the server's RSS (VmRSS of /proc/PID/status) is read, 2,000 clients subscribe across topics as
the screens do (host, leader, ops, as in the latency benchmark) and stay idle, and once the RSS has settled it
is read again: (after - before) / clients.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from bench.catalog import Catalog, place_orders, seed
from bench.common import (
    HOST,
    Channel,
    all_recv,
    api,
    broadcast,
    children,
    liveroom_server,
    rss_kib,
)
from bench.latency import audience_paths
from bench.wsclient import Stats, close_all, open_many


async def idle_client(channel: Channel, port: int, paths: list[str]) -> dict[str, Any]:
    stats = Stats()
    connections = await open_many(HOST, port, paths, stats)
    channel.send(("ready", len(connections)))
    await channel.recv()
    closed = stats.closed
    await close_all(connections)
    return {"closed_early": closed, "frames": stats.frames}


def _settled_rss(pid: int, settle: float) -> int:
    """RSS once it stops moving (two readings `settle` apart within 1%), or the last reading."""
    last = rss_kib(pid)
    for _ in range(10):
        time.sleep(settle)
        now = rss_kib(pid)
        if abs(now - last) <= 0.01 * last:
            return now
        last = now
    return last


def _connect(port: int, paths: list[str], procs: int) -> Any:
    chunks = [paths[i::procs] for i in range(procs)]
    return children(idle_client, [(port, chunk) for chunk in chunks if chunk])


def run(*, clients: int = 2_000, warm_clients: int = 50, client_procs: int = 2, settle: float = 1.0,
        leaders: int = 300, tracemalloc_frames: int = 0) -> dict[str, Any]:
    """`tracemalloc_frames` N > 0: serve through bench/hubserver.py with tracemalloc N frames deep, and put the
    biggest Python allocation sites per connection into the details (the RSS figure then includes its cost)."""
    module, env = ("bench.hubserver", {"BENCH_TRACEMALLOC": str(tracemalloc_frames)}) if tracemalloc_frames \
        else ("liveroom.cli", {})
    sites: dict[str, Any] = {}
    with liveroom_server(module, extra_env=env) as server:
        async def prepare() -> Catalog:
            async with api(server) as client:
                catalog = await seed(client, leaders=leaders, linked=20)
                await place_orders(client, catalog, 100, "warm")
                return catalog

        catalog = asyncio.run(prepare())
        with _connect(server.port, audience_paths(warm_clients, catalog.leaders), 1) as warm:
            all_recv(warm, timeout=120)
            broadcast(warm, "close")
            for child in warm:
                child.result()
        before = _settled_rss(server.pid, settle)
        if tracemalloc_frames:
            httpx.post(server.url + "/bench/memory", timeout=60)
        with _connect(server.port, audience_paths(clients, catalog.leaders), client_procs) as group:
            connected = sum(m[1] for m in all_recv(group, timeout=300))
            after = _settled_rss(server.pid, settle)
            if tracemalloc_frames:
                sites = httpx.get(server.url + "/bench/memory", params={"per": connected, "top": 40},
                                  timeout=120).json()
            broadcast(group, "close")
            results = [child.result() for child in group]
    return {
        "ws_kib_per_idle_connection": round((after - before) / max(1, connected), 1),
        "details": {"rss_before_kib": before, "rss_after_kib": after, "connections": connected,
                    "closed_early": sum(r["closed_early"] for r in results),
                    **({"python_allocations": sites} if sites else {})},
    }
