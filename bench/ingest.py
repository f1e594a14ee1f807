"""ingest_orders_per_s next to ingest_baseline_per_s.

`liveroom serve` on a fresh SQLite file, the bench room seeded through the API, then a closed-loop client —
N keep-alive connections, each sending the next order as soon as the previous one is answered — runs for a
warm-up and a fixed measured window. Orders counted are the 201s answered inside the window: every one of them
went through the full rules and was committed with its outbox rows before it was answered.

The same client (same bodies, same headers) then drives the bare Starlette route of bench/baseline_app.py, once
from one client process and once from two: if two processes get noticeably more out of the baseline, one process
was the limit, and the higher figure is the baseline. Client and server CPU use over the window are reported so a
reader can see which side was saturated.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import resource
import time
from typing import Any

import httpx

from bench.catalog import Catalog, OrderMaker, seed
from bench.common import (
    API_KEY,
    HOST,
    Channel,
    ServerProcess,
    all_recv,
    api,
    app_server,
    broadcast,
    children,
    cpu_seconds,
    liveroom_server,
    profiling,
    server_choice,
    server_trace,
    sleep_until,
)
from bench.httpload import Tally, closed_loop, connect, post_request


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def ingest_client(channel: Channel, port: int | list[int], catalog: Catalog, prefix: str, workers: int,
                        seed_: int) -> dict[str, Any]:
    """`workers` closed-loop connections; given several ports (servers), dealt over them in turn."""
    maker = OrderMaker(catalog, prefix, seed_)
    ports = [port] if isinstance(port, int) else port
    connections = [await connect(HOST, ports[i % len(ports)]) for i in range(workers)]

    def make_request() -> bytes:  # the Host header names the first server: all of them serve the same site
        return post_request(HOST, ports[0], "/api/v1/orders", maker.encoded(), API_KEY)

    channel.send("ready")
    start, measure_from, stop_at = await channel.recv()
    await sleep_until(start)
    tally = Tally()
    cpu: list[float] = []

    async def sample_cpu() -> None:
        await sleep_until(measure_from)
        cpu.append(_cpu())
        await sleep_until(stop_at)
        cpu.append(_cpu())

    requests = [make_request] * len(connections)
    if os.environ.get("BENCH_ROOM_AFFINITY") == "1" and catalog.room_codes and len(ports) > 1:
        # Each room's orders go to one server (what `hash $room` in nginx would do): connection i serves port
        # i % n, and sends orders only for the rooms dealt to that port.
        rooms = sorted(catalog.room_codes)
        for i in range(len(connections)):
            mine = {r: catalog.room_codes[r] for k, r in enumerate(rooms) if k % len(ports) == i % len(ports)}
            own = OrderMaker(dataclasses.replace(catalog, room_codes=mine), f"{prefix}p{i}", seed_ + 97 * i)
            requests[i] = (lambda m: lambda: post_request(HOST, ports[0], "/api/v1/orders", m.encoded(), API_KEY))(own)
    sampler = asyncio.create_task(sample_cpu())
    await asyncio.gather(*(closed_loop(c, r, tally, measure_from, stop_at)
                           for c, r in zip(connections, requests, strict=True)))
    await sampler
    for connection in connections:
        connection.close()
    return {"tally": tally.as_dict(), "cpu_s": cpu[1] - cpu[0], "sent": maker.n}


def drive(server: ServerProcess, catalog: Catalog, *, tag: str, workers: int, procs: int, warmup: float,
          duration: float) -> dict[str, Any]:
    """Run the closed-loop client against `server`; returns accepted/s and who used how much CPU."""
    split = [workers // procs + (1 if i < workers % procs else 0) for i in range(procs)]
    args = [(server.port, catalog, f"{tag}{i}", n, 1000 + i) for i, n in enumerate(split)]
    with children(ingest_client, args) as group:
        all_recv(group, timeout=60)
        start = time.monotonic() + 0.3
        measure_from, stop_at = start + warmup, start + warmup + duration
        broadcast(group, (start, measure_from, stop_at))
        time.sleep(max(0.0, measure_from - time.monotonic()))
        server_cpu = cpu_seconds(server.pid)
        time.sleep(max(0.0, stop_at - time.monotonic()))
        server_cpu = cpu_seconds(server.pid) - server_cpu
        results = [child.result(timeout=warmup + duration + 120) for child in group]
    statuses: dict[int, int] = {}
    samples: dict[int, str] = {}
    for result in results:
        for status, count in result["tally"]["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
        samples.update(result["tally"]["samples"])
    return {
        "per_s": round(statuses.get(201, 0) / duration, 1),
        "statuses": statuses,
        "error_samples": samples,
        "connection_errors": sum(r["tally"]["errors"] for r in results),
        "client_procs": procs,
        "workers": workers,
        "client_cpu": [round(r["cpu_s"] / duration, 2) for r in results],
        "server_cpu": round(server_cpu / duration, 2),
    }


async def _seed(server: ServerProcess, leaders: int) -> tuple[Catalog, dict[str, Any]]:
    async with api(server) as client:
        catalog = await seed(client, leaders=leaders, linked=leaders)
        health = (await client.get("/healthz")).json()
    return catalog, health


def _writer_counts(server: ServerProcess) -> tuple[int, int]:
    health = httpx.get(server.url + "/healthz", timeout=10).json()
    return int(health.get("writer_batches", 0)), int(health.get("writer_commands", 0))


def run(*, duration: float = 10.0, warmup: float = 3.0, workers: int = 64, leaders: int = 300,
        compare_client_procs: bool = True, trace: bool = False, profile: str | None = None) -> dict[str, Any]:
    """`trace`: serve through bench/hubserver.py with BENCH_TRACE=1 and add its spans to the details;
    `profile`: a path where that server writes its cProfile stats when it stops."""
    module, env = server_choice(trace, profile)
    with liveroom_server(module, extra_env=env) as server:
        catalog, _ = asyncio.run(_seed(server, leaders))
        batches0, commands0 = _writer_counts(server)
        since = time.monotonic()
        with profiling(server, bool(profile)):
            ingest = drive(server, catalog, tag="o", workers=workers, procs=1, warmup=warmup, duration=duration)
        batches1, commands1 = _writer_counts(server)
        ingest["mean_batch"] = round((commands1 - commands0) / max(1, batches1 - batches0), 1)
        if trace:
            ingest["trace"] = server_trace(server, since)
    with app_server("bench.baseline_app") as baseline_server:
        baselines = [drive(baseline_server, catalog, tag="b", workers=workers, procs=1, warmup=warmup,
                           duration=duration)]
        if compare_client_procs:
            baselines.append(drive(baseline_server, catalog, tag="c", workers=workers, procs=2, warmup=warmup,
                                   duration=duration))
    baseline = max(b["per_s"] for b in baselines)
    return {
        "ingest_orders_per_s": ingest["per_s"],
        "ingest_baseline_per_s": baseline,
        "details": {"ingest": ingest, "baseline": baselines},
    }
