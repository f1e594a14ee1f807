"""Where the time goes inside a running server: spans around the writer, the projections and the hub, and stalls
of the event loop. Installed by bench/hubserver.py when BENCH_TRACE=1; read at GET /bench/trace.

The product is not touched: the bound methods of the live objects are wrapped on the instances at start.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import defaultdict
from typing import Any


class Trace:
    def __init__(self) -> None:
        self.spans: dict[str, list[tuple[float, float, int]]] = defaultdict(list)  # name -> (start, seconds, n)
        # (when, how late the loop woke up, CPU the loop's thread used meanwhile): a stall with CPU ≈ lag is code
        # hogging the loop; one with little CPU is the process waiting for a core (or the GIL).
        self.stalls: list[tuple[float, float, float]] = []
        self._monitor: asyncio.Task[None] | None = None
        self.statements: list[tuple[float, str]] = []  # (when, first words of the SQL): round trips to the driver

    def wrap_sync(self, owner: Any, name: str, label: str, size: Any = None) -> None:
        original = getattr(owner, name)
        spans = self.spans[label]

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                spans.append((time.monotonic(), time.perf_counter() - began, size(args) if size else 1))

        setattr(owner, name, timed)

    def wrap_async(self, owner: Any, name: str, label: str, size: Any = None) -> None:
        original = getattr(owner, name)
        spans = self.spans[label]

        @functools.wraps(original)
        async def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return await original(*args, **kwargs)
            finally:
                spans.append((time.monotonic(), time.perf_counter() - began, size(args) if size else 1))

        setattr(owner, name, timed)

    def install(self, app: Any) -> None:
        ctx = app.state.ctx
        realtime = app.state.realtime
        self.wrap_async(ctx.writer, "_transaction", "writer.transaction", size=lambda a: len(a[0]))
        self.wrap_sync(realtime.projections, "apply", "projections.apply")
        self.wrap_async(realtime.projections, "refresh", "projections.refresh")
        self.wrap_sync(realtime.hub, "flush", "hub.flush", size=lambda a: len(realtime.hub.dirty))
        self.wrap_sync(realtime.hub, "render", "hub.render")
        from server.services import order_writes, orders
        from store import uow

        self.wrap_async(orders, "load_book", "orders.load_book", size=lambda a: len(a[1]))
        self.wrap_async(orders, "flush", "orders.flush", size=lambda a: len(a[1].order_rows))
        self.wrap_sync(orders.PlaceOrder, "decide", "orders.decide")
        self.wrap_async(uow, "_append_outbox", "writer.outbox", size=lambda a: len(a[1].events))
        from store import inline_sqlite

        self.wrap_async(inline_sqlite.Connection, "commit", "sqlite.commit")
        self.wrap_async(order_writes, "take_deal_quota", "orders.flush.deals")
        self.wrap_async(order_writes.stock_rows, "reserve", "orders.flush.stock")
        self.wrap_async(ctx.waybills, "prepare", "waybills.prepare")
        self._monitor = asyncio.create_task(self._watch_loop())
        import gc

        gc_began: list[float] = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_began[0] = time.perf_counter()
            else:
                self.spans[f"gc.gen{info['generation']}"].append(
                    (time.monotonic(), time.perf_counter() - gc_began[0], info["collected"]))

        gc.callbacks.append(on_gc)
        from sqlalchemy import event

        def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
            head = " ".join(statement.split()[:3])
            self.statements.append((time.monotonic(), f"{head}{' (many)' if executemany else ''}"))

        event.listen(ctx.engine.sync_engine, "before_cursor_execute", count)

    async def _watch_loop(self, every: float = 0.005, late: float = 0.02) -> None:
        while True:
            began, cpu = time.monotonic(), time.thread_time()
            await asyncio.sleep(every)
            lag = time.monotonic() - began - every
            if lag > late:
                self.stalls.append((began, lag, time.thread_time() - cpu))

    def summary(self, since: float = 0.0) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label, spans in self.spans.items():
            chosen = sorted(s for s in spans if s[0] >= since)
            if not chosen:
                continue
            durations = sorted(d for _, d, _ in chosen)
            sizes = [n for _, _, n in chosen]
            out[label] = {
                "count": len(chosen),
                "total_s": round(sum(durations), 3),
                "p50_ms": round(durations[len(durations) // 2] * 1000, 2),
                "p99_ms": round(durations[min(len(durations) - 1, int(len(durations) * 0.99))] * 1000, 2),
                "max_ms": round(durations[-1] * 1000, 2),
                "mean_size": round(sum(sizes) / len(sizes), 1),
            }
        stalls = [s for s in self.stalls if s[0] >= since]
        statements = [what for at, what in self.statements if at >= since]
        kinds: dict[str, int] = {}
        for what in statements:
            kinds[what] = kinds.get(what, 0) + 1
        import gc
        from collections import Counter

        objects = gc.get_objects()
        out["heap"] = {"objects": len(objects),
                       "top": Counter(type(o).__name__ for o in objects).most_common(12)}
        del objects
        out["sql_statements"] = {"count": len(statements),
                                 "top": sorted(kinds.items(), key=lambda kv: -kv[1])[:15]}
        worst = sorted(stalls, key=lambda s: -s[1])[:10]
        out["loop_stalls"] = {
            "count": len(stalls),
            "total_s": round(sum(lag for _, lag, _ in stalls), 3),
            "busy_s": round(sum(cpu for _, _, cpu in stalls), 3),
            "worst_ms_lag_cpu": [[round(lag * 1000, 1), round(cpu * 1000, 1)] for _, lag, cpu in worst],
        }
        return out
