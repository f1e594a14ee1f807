"""scaleout_orders_per_s_1/_2/_3, scaleout_lock_share and scaleout_ceiling_processes (issue 15, "Scale-out,
measured honestly").

What serializes writers on PostgreSQL (store/uow.py, store/sequencer.py): an order's transaction holds its room's
lock to its commit (orders of one room are one queue, in every process), and the rows every room shares — the
carrier's count of the day, and stock where rooms sell the same SKU — from their update in the transaction's tail
to its commit. Other commands (catalog, settlement, carriers) take the global write lock exclusively; during an
ingest run there are none. The sequencer's passes, which give committed events their outbox seqs, hold a lock of
their own, outside every order's transaction.

The setup: a real PostgreSQL (its defaults: fsync and synchronous commit on, as in production) and a real
redis-server, then for N = 1, 2, 3 a fresh database with N `liveroom serve` processes on their own ports over it and
over Redis (what nginx's upstreams are in deploy/). Process 0 migrates and the bench rooms are seeded through it
before the others start: ROOMS rooms of one brand live at once, each selling its own line (bench/catalog.py), all
sharing the leaders, warehouses and carriers. The ingest load of bench/ingest.py (the same order generator and
closed-loop client: C keep-alive connections, each sending the next order once the last is answered, each order
for a room chosen at random) is dealt over the N processes' ports, the same C connections from the same client
processes whatever N is. After a warm-up, a measured window: the 201s answered inside it give
scaleout_orders_per_s_N. Each process's /metrics is read at both ends of the window (its own registry: no
PROMETHEUS_MULTIPROC_DIR here), and the differences give, per process p, held_p (seconds its transactions held
shared rows: from the tail's last shared-row update to the commit), wait_p (seconds in the tail before that:
updating those rows, waiting for another transaction's commit on them), the room locks' held and waited
seconds, the sequencer lock's held seconds and busy_p (seconds the writer was busy with batches).

The figures, defined:
- s = scaleout_lock_share = (Σ_p held_p) ÷ W for the N = 1 run, W the window's wall seconds: the share of the
  time one saturated process holds what orders of other rooms would wait for — the serial fraction of its work.
- scaleout_ceiling_processes = 1 ÷ s (from s as rounded to 3 places, itself rounded to 1 place): the Amdahl /
  utilization-law ceiling: past 1 ÷ s processes those rows would be held all the time.
- Not in s, in the details: the sequencer's utilization (its passes group-commit: one pass moves whatever every
  process committed since the last, so its time per order falls as load rises) and the room locks' (one room is
  one queue by design: a single room's orders never go faster than one writer at a time).
- For every N, details give each process's shares, waiting milliseconds per transaction, held milliseconds per
  accepted order, the mean batch, and the CPU used by each server, by PostgreSQL and by the clients (this
  machine has 2 cores: with N ≥ 2 the servers, PostgreSQL, Redis and the clients share them, so orders_per_s_N
  says little; the ceiling is the figure that counts).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bench.catalog import Catalog, seed
from bench.common import (
    API_KEY,
    ServerProcess,
    all_recv,
    api,
    bench_env,
    broadcast,
    children,
    cpu_seconds,
    free_port,
)
from bench.ingest import ingest_client
from bench.services import Postgres, postgres_server, redis_server

COUNTERS = {
    "held_s": "liveroom_writer_lock_held_seconds_total",
    "wait_s": "liveroom_writer_lock_wait_seconds_total",
    "busy_s": "liveroom_writer_busy_seconds_total",
    "room_held_s": "liveroom_writer_room_lock_held_seconds_total",
    "room_wait_s": "liveroom_writer_room_lock_wait_seconds_total",
    "seq_held_s": "liveroom_sequencer_lock_held_seconds_total",
    "batches": "liveroom_writer_batch_size_count",
    "commands": "liveroom_writer_batch_size_sum",
}


def read_writer(server: ServerProcess) -> dict[str, float]:
    """The writer's counters of one process from its GET /metrics, with when they were read and its CPU so far."""
    began = time.monotonic()
    response = httpx.get(server.url + "/metrics", headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)
    response.raise_for_status()
    at = (began + time.monotonic()) / 2
    found = {sample.name: sample.value for family in text_string_to_metric_families(response.text)
             for sample in family.samples if not sample.labels}
    reading = {key: float(found.get(name, 0.0)) for key, name in COUNTERS.items()}
    return {**reading, "at": at, "cpu_s": cpu_seconds(server.pid)}


def share_and_ceiling(held_s: float, wall_s: float) -> tuple[float, float]:
    """scaleout_lock_share and scaleout_ceiling_processes, as the module docstring defines them."""
    share = round(min(1.0, held_s / wall_s), 3)
    if share <= 0:
        raise RuntimeError(f"the lock was never held in {wall_s:.1f} s: no order was written")
    return share, round(1 / share, 1)


@contextlib.contextmanager
def fleet(postgres: Postgres, redis_url: str, count: int, leaders: int,
          rooms: int = 1) -> Iterator[tuple[list[ServerProcess], Catalog]]:
    """`count` liveroom processes over a fresh database and Redis database `count`; the room seeded via the first."""
    database_url = postgres.create_database()
    ports = [free_port() for _ in range(count)]
    env = bench_env(database_url, ports[0], LIVEROOM_REDIS_URL=f"{redis_url}/{count}")
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # each process its own registry: its own lock figures
    servers: list[ServerProcess] = []
    catalog: Catalog | None = None
    try:
        for i, port in enumerate(ports):
            argv = [sys.executable, "-m", "liveroom.cli", "serve", "--port", str(port), "--log-level", "warning"]
            servers.append(ServerProcess(argv, port, env).start())
            if i == 0:  # migrated and seeded once, before the others start
                catalog = asyncio.run(_seed(servers[0], leaders, rooms))
        assert catalog is not None
        yield servers, catalog
    finally:
        for server in servers:
            server.cleanup()


async def _seed(server: ServerProcess, leaders: int, rooms: int = 1) -> Catalog:
    async with api(server) as client:
        return await seed(client, leaders=leaders, linked=leaders, rooms=rooms)


def measure(servers: list[ServerProcess], catalog: Catalog, postgres: Postgres, *, workers: int, client_procs: int,
            warmup: float, duration: float) -> dict[str, Any]:
    """The closed-loop ingest load over `servers` for a warm-up and a measured window; what each one did in it."""
    ports = [s.port for s in servers]
    n = len(servers)
    split = [workers // client_procs + (1 if i < workers % client_procs else 0) for i in range(client_procs)]
    args = [(ports, catalog, f"s{n}c{i}", k, 2000 + 10 * n + i) for i, k in enumerate(split)]
    with children(ingest_client, args) as group:
        all_recv(group, timeout=60)
        start = time.monotonic() + 0.3
        measure_from, stop_at = start + warmup, start + warmup + duration
        broadcast(group, (start, measure_from, stop_at))
        time.sleep(max(0.0, measure_from - time.monotonic()))
        before = [read_writer(s) for s in servers]
        pg_before = postgres.cpu_seconds()
        time.sleep(max(0.0, stop_at - time.monotonic()))
        after = [read_writer(s) for s in servers]
        pg_after = postgres.cpu_seconds()
        results = [child.result(timeout=warmup + duration + 120) for child in group]
    statuses: dict[int, int] = {}
    for result in results:
        for status, count in result["tally"]["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    accepted = statuses.get(201, 0)
    processes: list[dict[str, Any]] = []
    for b, a in zip(before, after, strict=True):
        d = {key: a[key] - b[key] for key in (*COUNTERS, "cpu_s")}
        wall = a["at"] - b["at"]
        batches = max(1.0, d["batches"])
        processes.append({
            "wall_s": round(wall, 3),
            "held_s": round(d["held_s"], 3),
            "wait_s": round(d["wait_s"], 3),
            "busy_s": round(d["busy_s"], 3),
            "room_held_s": round(d["room_held_s"], 3),
            "room_wait_s": round(d["room_wait_s"], 3),
            "sequencer_held_s": round(d["seq_held_s"], 3),
            "held_share": round(d["held_s"] / wall, 3),
            "wait_share": round(d["wait_s"] / wall, 3),
            "busy_share": round(d["busy_s"] / wall, 3),
            "held_of_busy": round(d["held_s"] / d["busy_s"], 3) if d["busy_s"] else None,
            "wait_ms_per_transaction": round(1000 * d["wait_s"] / batches, 2),
            "held_ms_per_transaction": round(1000 * d["held_s"] / batches, 2),
            "transactions": int(d["batches"]),
            "mean_batch": round(d["commands"] / batches, 1),
            "server_cpu": round(d["cpu_s"] / wall, 2),
        })
    wall = sum(p["wall_s"] for p in processes) / n
    held = sum(p["held_s"] for p in processes)
    sequencer = sum(p["sequencer_held_s"] for p in processes)
    pg_cpu = sum(pg_after[pid] - pg_before.get(pid, 0.0) for pid in pg_after)
    return {
        "processes": n,
        "per_s": round(accepted / duration, 1),
        "statuses": statuses,
        "error_samples": {k: v for r in results for k, v in r["tally"]["samples"].items()},
        "connection_errors": sum(r["tally"]["errors"] for r in results),
        "wall_s": round(wall, 3),
        "held_s": round(held, 3),
        "lock_utilization": round(held / wall, 3),
        "sequencer_utilization": round(sequencer / wall, 3),
        "held_ms_per_order": round(1000 * held / accepted, 3) if accepted else None,
        "per_process": processes,
        "postgres_cpu": round(pg_cpu / wall, 2),
        "client_cpu": [round(r["cpu_s"] / duration, 2) for r in results],
        "client_procs": client_procs,
        "connections": workers,
    }


ROOMS = 8


def run(*, duration: float = 10.0, warmup: float = 3.0, workers: int = 64, client_procs: int = 1,
        leaders: int = 300, counts: tuple[int, ...] = (1, 2, 3), durable: bool = True,
        rooms: int = ROOMS) -> dict[str, Any]:
    """Raises bench.services.Unavailable when PostgreSQL or redis-server cannot start here."""
    assert counts and counts[0] == 1, "the share is measured on the one-process run, first"
    runs: dict[int, dict[str, Any]] = {}
    with postgres_server(durable=durable) as postgres, redis_server() as redis_url:
        for n in counts:
            with fleet(postgres, redis_url, n, leaders, rooms) as (servers, catalog):
                runs[n] = measure(servers, catalog, postgres, workers=workers, client_procs=client_procs,
                                  warmup=warmup, duration=duration)
    one = runs[1]
    share, ceiling = share_and_ceiling(one["held_s"], one["wall_s"])
    figures: dict[str, Any] = {f"scaleout_orders_per_s_{n}": r["per_s"] for n, r in runs.items()}
    return {
        **figures,
        "scaleout_lock_share": share,
        "scaleout_ceiling_processes": ceiling,
        "details": {
            "method": ("s = shared-row-held seconds / window wall seconds of the one-process run (Σ over processes "
                       "of liveroom_writer_lock_held_seconds_total deltas, read from each process's /metrics at "
                       "the window's ends); ceiling = 1/s: past that many processes those rows would be held all "
                       "the time, throughput capped at orders_per_s_1 / s"),
            "postgres": "durable (fsync, synchronous_commit on)" if durable else "fsync and synchronous_commit off",
            "cores": os.cpu_count(),
            "rooms": rooms,
            "lock_bound_orders_per_s": round(one["per_s"] / share, 1),
            "runs": {str(n): r for n, r in runs.items()},
        },
    }
