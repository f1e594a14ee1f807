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
from collections.abc import Callable
from typing import Any

import httpx
import orjson

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
from bench.httpload import HttpConnection, Tally, closed_loop, connect, post_request


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


POISON_EVERY = 20  # ingest_poisoned_ratio: every 20th order is invalid


def poisoned(maker: OrderMaker) -> bytes:
    """An invalid order, in turn each of the ways a real client gets one wrong: a field the API refuses (qty 0:
    422 before any rule runs), a SKU the room does not sell (refused by the rules inside the writer's batch: 422),
    a body that is not JSON (400)."""
    body = maker.body()
    kind = maker.n // POISON_EVERY % 3
    if kind == 0:
        body["items"][0]["qty"] = 0
    elif kind == 1:
        body["items"][0]["sku"] = "no-such-sku"
    else:
        return orjson.dumps(body)[:-7]
    return orjson.dumps(body)


ALTERNATE_S = 1.0  # the poisoned measurement: clean and poisoned slices of this length, in turn


async def _alternating(connection: HttpConnection, make_request: Callable[[bool], bytes], tallies: list[Tally],
                       measure_from: float, stop_at: float, slice_s: float) -> None:
    """`closed_loop`, but the window is cut in slices of `slice_s`, clean and poisoned in turn: an answer counts in
    its slice's tally when it was sent and answered in the same slice. Whatever the shared machine does to the
    server's speed, both kinds of slices get the same share of it."""
    loop = asyncio.get_running_loop()

    def slice_of(at: float) -> int:
        return -1 if at < measure_from else int((at - measure_from) // slice_s)

    while loop.time() < stop_at:
        sent = slice_of(loop.time())
        try:
            status, body = await connection.request(make_request(sent % 2 == 1))
        except ConnectionError:
            tallies[0].errors += 1
            return
        done = loop.time()
        if sent >= 0 and done < stop_at and slice_of(done) == sent:
            tallies[sent % 2].add(status, body)


async def ingest_client(channel: Channel, port: int | list[int], catalog: Catalog, prefix: str, workers: int,
                        seed_: int, poison_every: int = 0, alternate_s: float = 0.0) -> dict[str, Any]:
    """`workers` closed-loop connections; given several ports (servers), dealt over them in turn. With
    `poison_every` N, every Nth order sent is invalid (`poisoned`); with `alternate_s` too, only in every other
    slice of that many seconds, and the poisoned slices are tallied apart (`poisoned_tally`)."""
    maker = OrderMaker(catalog, prefix, seed_)
    ports = [port] if isinstance(port, int) else port
    connections = [await connect(HOST, ports[i % len(ports)]) for i in range(workers)]

    def make_request(poison: bool = True) -> bytes:  # the Host header names the first server: all serve one site
        if poison and poison_every and (maker.n + 1) % poison_every == 0:
            return post_request(HOST, ports[0], "/api/v1/orders", poisoned(maker), API_KEY)
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
    poisoned_tally = Tally()
    if alternate_s and poison_every:
        await asyncio.gather(*(_alternating(c, make_request, [tally, poisoned_tally], measure_from, stop_at,
                                            alternate_s) for c in connections))
    else:
        await asyncio.gather(*(closed_loop(c, r, tally, measure_from, stop_at)
                               for c, r in zip(connections, requests, strict=True)))
    await sampler
    for connection in connections:
        connection.close()
    return {"tally": tally.as_dict(), "poisoned_tally": poisoned_tally.as_dict(), "cpu_s": cpu[1] - cpu[0],
            "sent": maker.n}


def drive(server: ServerProcess, catalog: Catalog, *, tag: str, workers: int, procs: int, warmup: float,
          duration: float, poison_every: int = 0, alternate_s: float = 0.0) -> dict[str, Any]:
    """Run the closed-loop client against `server`; returns accepted/s and who used how much CPU (with
    `alternate_s`, `per_s` of the clean slices and `poisoned_per_s` of the poisoned ones, per second of each)."""
    split = [workers // procs + (1 if i < workers % procs else 0) for i in range(procs)]
    args = [(server.port, catalog, f"{tag}{i}", n, 1000 + i, poison_every, alternate_s)
            for i, n in enumerate(split)]
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
    poisoned_statuses: dict[int, int] = {}
    samples: dict[int, str] = {}
    for result in results:
        for key, into in (("tally", statuses), ("poisoned_tally", poisoned_statuses)):
            for status, count in result[key]["statuses"].items():
                into[status] = into.get(status, 0) + count
            samples.update(result[key]["samples"])
    share = 0.5 if alternate_s and poison_every else 1.0  # of the window each kind of slice had
    figures = {} if share == 1.0 else {"poisoned_per_s": round(poisoned_statuses.get(201, 0) / duration / share, 1),
                                       "poisoned_statuses": poisoned_statuses, "slice_s": alternate_s}
    return {
        "per_s": round(statuses.get(201, 0) / duration / share, 1),
        **figures,
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


def _measured(server: ServerProcess, catalog: Catalog, tag: str, **how: Any) -> dict[str, Any]:
    """`drive`, plus the writer's mean batch (commands per commit)."""
    batches0, commands0 = _writer_counts(server)
    figures = drive(server, catalog, tag=tag, procs=1, **how)
    batches1, commands1 = _writer_counts(server)
    figures["mean_batch"] = round((commands1 - commands0) / max(1, batches1 - batches0), 1)
    return figures


def run(*, duration: float = 10.0, warmup: float = 3.0, workers: int = 64, leaders: int = 300,
        compare_client_procs: bool = True, poisoned: bool = True, trace: bool = False,
        profile: str | None = None) -> dict[str, Any]:
    """`trace`: serve through bench/hubserver.py with BENCH_TRACE=1 and add its spans to the details;
    `profile`: a path where that server writes its cProfile stats when it stops. `poisoned`: right after the
    clean window, the same client on the same server for another window cut in ALTERNATE_S slices, clean and with
    every POISON_EVERY-th order invalid in turn (ingest_poisoned_ratio = the poisoned slices' 201s per second ÷
    the clean slices'; interleaved, so that a shared machine's ups and downs fall on both alike)."""
    module, env = server_choice(trace, profile)
    how = {"workers": workers, "warmup": warmup, "duration": duration}
    with liveroom_server(module, extra_env=env) as server:
        catalog, _ = asyncio.run(_seed(server, leaders))
        since = time.monotonic()
        with profiling(server, bool(profile)):
            ingest = _measured(server, catalog, "o", **how)
        if trace:
            ingest["trace"] = server_trace(server, since)
        slice_s = min(ALTERNATE_S, duration / 4)  # at least two slices of each kind
        poison = (_measured(server, catalog, "p", poison_every=POISON_EVERY, alternate_s=slice_s, **how)
                  if poisoned else None)
    with app_server("bench.baseline_app") as baseline_server:
        baselines = [drive(baseline_server, catalog, tag="b", workers=workers, procs=1, warmup=warmup,
                           duration=duration)]
        if compare_client_procs:
            baselines.append(drive(baseline_server, catalog, tag="c", workers=workers, procs=2, warmup=warmup,
                                   duration=duration))
    baseline = max(b["per_s"] for b in baselines)
    ratio = round(poison["poisoned_per_s"] / poison["per_s"], 2) if poison and poison["per_s"] else None
    return {
        "ingest_orders_per_s": ingest["per_s"],
        "ingest_baseline_per_s": baseline,
        "ingest_poisoned_ratio": ratio,
        "details": {"ingest": ingest, "baseline": baselines, "poisoned": poison},
    }
