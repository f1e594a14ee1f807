"""fanout_frames_per_s next to fanout_baseline_frames_per_s.

5,000 WebSocket clients (a few client processes, each holding thousands of connections) subscribe to a host
screen's state topics, `room:room-1:stock` and `room:room-1:board`. The hub is kept busy with no orders at all:
a bench-only route of bench/hubserver.py changes both topics all the time, so on every tick (100 ms here; every
screen on every tick, as the baseline sends them) the hub renders each once and hands it to every subscriber —
2 frames x 5,000 clients x 10 ticks/s offered, more than one Python process can send, so the figure is the hub's
delivery capacity.

The baseline (bench/broadcast_app.py) is offered the very same bytes at the same cadence over the same number of
connections, and loops over them with plain `await send_text`. Clients count whole frames received inside the
measured window; the per-connection spread shows whether some subscribers starved.
"""

from __future__ import annotations

import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.catalog import place_orders, seed
from bench.common import (
    API_KEY,
    HOST,
    Channel,
    all_recv,
    app_server,
    broadcast,
    children,
    cpu_seconds,
    liveroom_server,
    percentile,
    server_choice,
    server_trace,
    sleep_until,
    token,
)
from bench.wsclient import Stats, close_all, open_connection, open_many, ws_path

ROOM = "room-1"
TOPICS = (f"room:{ROOM}:stock", f"room:{ROOM}:board")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def fanout_client(channel: Channel, port: int, path: str, count: int) -> dict[str, Any]:
    stats = Stats()
    connections = await open_many(HOST, port, [path] * count, stats)
    channel.send(("ready", len(connections)))
    measure_from, stop_at = await channel.recv()
    await sleep_until(measure_from)
    frames, cpu = stats.frames, _cpu()
    before = [c.received for c in connections]
    await sleep_until(stop_at)
    frames, cpu = stats.frames - frames, _cpu() - cpu
    per_connection = [c.received - b for c, b in zip(connections, before, strict=True)]
    closed = stats.closed
    channel.send(("measured", None))
    await channel.recv()  # the parent reads the server's own counters while every client is still there
    await close_all(connections)
    return {"frames": frames, "cpu_s": cpu, "per_connection": per_connection, "closed_early": closed}


def drive(port: int, path: str, *, clients: int, procs: int, warmup: float, duration: float, server_pid: int,
          start: Any, stop: Any, server_stats: Any = None) -> dict[str, Any]:
    split = [clients // procs + (1 if i < clients % procs else 0) for i in range(procs)]
    began = time.monotonic()
    with children(fanout_client, [(port, path, n) for n in split]) as group:
        opened = sum(message[1] for message in all_recv(group, timeout=600))
        connected = time.monotonic()
        start()
        measure_from = time.monotonic() + warmup
        stop_at = measure_from + duration
        broadcast(group, (measure_from, stop_at))
        time.sleep(max(0.0, measure_from - time.monotonic()))
        server_cpu = cpu_seconds(server_pid)
        time.sleep(max(0.0, stop_at - time.monotonic()))
        server_cpu = cpu_seconds(server_pid) - server_cpu
        stop()
        all_recv(group, timeout=60)
        stats = server_stats() if server_stats is not None else None
        broadcast(group, "close")
        results = [child.result(timeout=120) for child in group]
    per_connection = [n / duration for r in results for n in r["per_connection"]]
    return {
        "frames_per_s": round(sum(r["frames"] for r in results) / duration),
        "connections": opened,
        "per_connection_frames_per_s": {"min": round(min(per_connection), 2),
                                        "p50": round(percentile(per_connection, 50), 2),
                                        "max": round(max(per_connection), 2)},
        "closed_early": sum(r["closed_early"] for r in results),
        "client_cpu": [round(r["cpu_s"] / duration, 2) for r in results],
        "server_cpu": round(server_cpu / duration, 2),
        "connect_s": round(connected - began, 1),
        **({"server_stats": stats} if stats is not None else {}),
    }


async def _prepare(url: str, port: int, orders: int) -> tuple[str, list[str]]:
    """Seed the room, give it some orders (so the frames have their real size), capture the hub's frames."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"},
                                 timeout=60) as client:
        catalog = await seed(client, leaders=50, linked=50)
        await place_orders(client, catalog, orders, "warm")
    path = ws_path(TOPICS, token("host", ROOM))
    frames: list[bytes] = []
    connection = await open_connection(HOST, port, path, Stats(), lambda payload, _at: frames.append(payload))
    deadline = time.monotonic() + 10
    while len(frames) < len(TOPICS) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await close_all([connection])
    return path, [f.decode() for f in frames[: len(TOPICS)]]


def run(*, clients: int = 5_000, client_procs: int = 2, warmup: float = 3.0, duration: float = 10.0,
        tick_ms: int = 100, orders: int = 200, trace: bool = False, profile: str | None = None,
        with_baseline: bool = True) -> dict[str, Any]:
    """`trace`: the hub server records spans (bench/trace.py) into the details; `profile`: it writes a cProfile
    of the measured window there; `with_baseline=False` skips the bare loop (to look at the hub alone)."""
    env = {**server_choice(trace, profile)[1], "BENCH_EVERY_BEAT": "1"}  # the tick's cadence, as the baseline's
    with liveroom_server("bench.hubserver", tick_ms=tick_ms, extra_env=env) as server:
        path, frames = asyncio.run(_prepare(server.url, server.port, orders))
        pulse = httpx.Client(base_url=server.url, timeout=30)

        def start() -> None:
            pulse.post("/bench/pulse", params=[("topic", t) for t in TOPICS])
            if profile:
                pulse.post("/bench/profile")

        def stop() -> None:
            if profile:
                pulse.delete("/bench/profile")
            pulse.delete("/bench/pulse")

        hub = drive(server.port, path, clients=clients, procs=client_procs, warmup=warmup, duration=duration,
                    server_pid=server.pid, start=start, stop=stop,
                    server_stats=lambda: pulse.get("/bench/stats").json())
        if trace:
            hub["trace"] = server_trace(server, time.monotonic() - duration - 1)
        pulse.close()
    if not with_baseline:
        return {"fanout_frames_per_s": hub["frames_per_s"], "fanout_baseline_frames_per_s": None,
                "details": {"hub": hub}}
    frames_file = Path(tempfile.mkdtemp(prefix="liveroom-bench-")) / "frames.json"
    frames_file.write_text(json.dumps(frames, ensure_ascii=False))
    with app_server("bench.broadcast_app", "--frames", str(frames_file), "--tick-ms", str(tick_ms)) as base:
        control = httpx.Client(base_url=base.url, timeout=30)
        baseline = drive(base.port, "/ws", clients=clients, procs=client_procs, warmup=warmup,
                         duration=duration, server_pid=base.pid,
                         start=lambda: control.post("/start"), stop=lambda: control.post("/stop"))
        control.close()
    frames_file.unlink()
    frames_file.parent.rmdir()
    return {
        "fanout_frames_per_s": hub["frames_per_s"],
        "fanout_baseline_frames_per_s": baseline["frames_per_s"],
        "details": {"hub": hub, "baseline": baseline, "frame_bytes": [len(f.encode()) for f in frames],
                    "offered_per_s": round(len(TOPICS) * clients * 1000 / tick_ms)},
    }
