"""leader_screen_kib_per_s / host_screen_kib_per_s: what a screen downloads while the room sells 200 orders a second.

`liveroom serve` on a fresh SQLite file with the bench room (50 leaders, each with a share link). One client
process holds real WebSocket connections opened exactly as the pages open them (web/pages.py): HTML frames in
Chinese, the page's topics, the page's token —
- leader phones, one per leader: `leader:{id}` and `room:room-1:board`, with the leader's token;
- host screens: `room:room-1:stock`, `:board`, `:feed` and `:questions`, with the host token;
- ops walls: `ops`, with an ops token; buyers' tracking pages: `order:{id}` of orders placed before the window.
Another process places orders through the API at 200/s (open loop, bench/latency.py's buyer). After a warm-up,
the payload bytes and whole frames each connection receives in a fixed window are counted; a figure is bytes ÷
window ÷ connections of that kind, in KiB. The details give frames/s per screen kind, the mean frame size, and a
host screen's bytes and frames per topic.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

from bench.catalog import Catalog, place_orders, seed
from bench.common import (
    HOST,
    Channel,
    all_recv,
    api,
    broadcast,
    children,
    cpu_seconds,
    liveroom_server,
    sleep_until,
    token,
)
from bench.latency import buyer_client
from bench.wsclient import Stats, close_all, open_many, ws_path

ROOM = "room-1"
KINDS = ("leader", "host", "ops", "buyer")


def screen_paths(leaders: list[str], hosts: int, ops: int, orders: list[str]) -> dict[str, list[str]]:
    """Each kind's WebSocket paths, as its page opens them (format=html, lang=zh_CN)."""

    def html(topics: list[str], role: str, subject: str) -> str:
        return ws_path(topics, token(role, subject), "html") + "&lang=zh_CN"

    room = [f"room:{ROOM}:{part}" for part in ("stock", "board", "feed", "questions")]
    return {
        "leader": [html([f"leader:{leader}", f"room:{ROOM}:board"], "leader", leader) for leader in leaders],
        "host": [html(room, "host", ROOM)] * hosts,
        "ops": [html(["ops"], "ops", "-")] * ops,
        "buyer": [html([f"order:{order}"], "order", order) for order in orders],
    }


_HOST_TOPIC = re.compile(rb"t-room-.+?-(stock|board|feed|questions)|t-([sb])-")  # t-s-/t-b-: tiles', rows' pieces
_SHORT = {"s": "stock", "b": "board"}


async def screens_client(channel: Channel, port: int, paths: dict[str, list[str]]) -> dict[str, Any]:
    stats = {kind: Stats() for kind in paths}
    by_topic: dict[str, list[int]] = {}  # a host screen's bytes and frames per topic (the first piece names it)

    def host_frame(payload: bytes, _at: float) -> None:
        found = _HOST_TOPIC.search(payload, 0, 200)
        topic = "?" if found is None else found.group(1).decode() if found.group(1) else _SHORT[found.group(2).decode()]
        counts = by_topic.setdefault(topic, [0, 0])
        counts[0] += len(payload)
        counts[1] += 1

    connections = {kind: await open_many(HOST, port, kind_paths, stats[kind],
                                         on_message=host_frame if kind == "host" else None)
                   for kind, kind_paths in paths.items()}
    channel.send(("ready", sum(map(len, connections.values()))))
    measure_from, stop_at = await channel.recv()
    await sleep_until(measure_from)
    before = {kind: (s.payload_bytes, s.frames) for kind, s in stats.items()}
    received = {kind: [c.received for c in conns] for kind, conns in connections.items()}
    by_topic.clear()
    await sleep_until(stop_at)
    host_topics = {topic: list(counts) for topic, counts in by_topic.items()}
    result = {}
    for kind, conns in connections.items():
        frames = [c.received - b for c, b in zip(conns, received[kind], strict=True)]
        result[kind] = {"connections": len(conns), "bytes": stats[kind].payload_bytes - before[kind][0],
                        "frames": stats[kind].frames - before[kind][1],
                        "frames_min": min(frames, default=0), "frames_max": max(frames, default=0),
                        "closed_early": stats[kind].closed}
    channel.send(("measured", None))
    await channel.recv()  # close
    await close_all([c for conns in connections.values() for c in conns])
    return {"screens": result, "host_topics": host_topics}


def run(*, leaders: int = 50, hosts: int = 4, ops: int = 2, buyers: int = 4, rate: float = 200.0,
        warmup: float = 3.0, duration: float = 10.0) -> dict[str, Any]:
    with liveroom_server() as server:
        async def prepare() -> tuple[Catalog, list[str]]:
            async with api(server) as client:
                catalog = await seed(client, leaders=leaders, linked=leaders)
                await place_orders(client, catalog, 200, "warm")
                orders = [f"warm-{n}" for n in range(1, 4 * buyers + 1)]  # OrderMaker's ids; a few may be refused
                found = [o for o in orders if (await client.get(f"/api/v1/orders/{o}")).status_code == 200]
            return catalog, found[:buyers]

        catalog, orders = asyncio.run(prepare())
        paths = screen_paths(catalog.leaders, hosts, ops, orders)
        with children(screens_client, [(server.port, paths)]) as screens, \
                children(buyer_client, [(server.port, catalog, rate)]) as buyer:
            connected = sum(m[1] for m in all_recv(screens, timeout=300))
            all_recv(buyer)
            start = time.monotonic() + 0.3
            measure_from, stop_at = start + warmup, start + warmup + duration
            broadcast(buyer, (start, stop_at + 0.5))
            broadcast(screens, (measure_from, stop_at))
            time.sleep(max(0.0, measure_from - time.monotonic()))
            server_cpu = cpu_seconds(server.pid)
            time.sleep(max(0.0, stop_at - time.monotonic()))
            server_cpu = cpu_seconds(server.pid) - server_cpu
            all_recv(screens, timeout=60)
            broadcast(screens, "close")
            seen = screens[0].result(timeout=60)
            posted = buyer[0].result(timeout=120)
    return summarize(seen, posted, measure_from, stop_at, connected, server_cpu / duration)


def summarize(seen: dict[str, Any], posted: dict[str, Any], measure_from: float, stop_at: float,
              connected: int, server_cpu: float) -> dict[str, Any]:
    window = stop_at - measure_from
    per_kind: dict[str, Any] = {}
    hosts = seen["screens"]["host"]["connections"] or 1
    host_topics = {topic: {"kib_per_s": round(n / window / hosts / 1024, 2),
                           "frames_per_s": round(f / window / hosts, 2)}
                   for topic, (n, f) in sorted(seen["host_topics"].items())}
    for kind, s in seen["screens"].items():
        n = s["connections"]
        per_kind[kind] = {
            "connections": n,
            "kib_per_s": round(s["bytes"] / window / n / 1024, 2) if n else None,
            "frames_per_s": round(s["frames"] / window / n, 2) if n else None,
            "frame_bytes_mean": round(s["bytes"] / s["frames"]) if s["frames"] else None,
            "frames_per_s_min_max": [round(s["frames_min"] / window, 2), round(s["frames_max"] / window, 2)],
            "closed_early": s["closed_early"],
        }
    statuses: dict[int, int] = {}
    for status in posted["answered"].values():
        statuses[status] = statuses.get(status, 0) + 1
    offered = sum(1 for at in posted["sent"].values() if measure_from <= at < stop_at) / window
    return {
        "leader_screen_kib_per_s": per_kind["leader"]["kib_per_s"],
        "host_screen_kib_per_s": per_kind["host"]["kib_per_s"],
        "details": {"screens": per_kind, "host_topics": host_topics, "offered_per_s": round(offered, 1),
                    "statuses": statuses, "connections": connected, "server_cpu": round(server_cpu, 2)},
    }
