"""`liveroom serve` as the benchmarks need it: the very same app and uvicorn options, plus bench-only routes.

    python -m bench.hubserver serve --port P [--log-level L]

- `POST /bench/pulse?topic=T&topic=T2` keeps those topics changing (a counter in their data moves and they are
  marked dirty every half tick), so the hub renders and fans out a frame per topic on every tick without any order
  being written: the fan-out benchmark measures the hub alone. `DELETE /bench/pulse` stops it. With
  `BENCH_EVERY_BEAT=1` every screen is sent its topics' frames on every beat, whatever its role's cadence
  (realtime/cadence.py): the offered load is then the tick's, as in the bare broadcast it is compared with.
- `GET /bench/stats`: the hub's connections, ticks, frames rendered and frames its senders handed to sockets.
- `BENCH_TRACE=1`: spans around the writer's transactions, the projections and the hub, and event-loop stalls
  (bench/trace.py); `GET /bench/trace?since=MONOTONIC` summarizes them.
- `BENCH_TRACEMALLOC=N`: tracemalloc from the start, N frames deep; `POST /bench/memory` takes the reference
  snapshot, `GET /bench/memory?per=K&top=T` the T biggest growths since it by allocation site, divided by K
  (the memory benchmark passes its connection count: bytes per idle connection, site by site).
- `BENCH_PROFILE=/path/to/file.prof`: `POST /bench/profile` starts cProfile on the event-loop thread (where all
  of the app's Python runs, SQLAlchemy's included; aiosqlite's own thread only waits on SQLite), `DELETE
  /bench/profile` stops it and writes the stats. Read them with `python -m bench.profile /path/to/file.prof`.

Nothing here is used by the product; it lives in bench/ so that profiling never needs a change to server/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import gc
import os
import tracemalloc
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.trace import Trace
from liveroom.app import create_app
from server.serving import serve
from server.settings import Settings
from store.migrate import upgrade


class Pulsed:
    """The projections as the hub reads them, with a counter in the pulsed topics' data: each pulse is a change
    (the hub sends a screen nothing when what it shows did not change)."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.topics: set[str] = set()
        self.beats = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def snapshot(self, topic: str) -> dict[str, Any] | None:
        data = self.real.snapshot(topic)
        return {**data, "bench_pulse": self.beats} if data is not None and topic in self.topics else data


class Pulse:
    def __init__(self) -> None:
        self.app: Any = None
        self.task: asyncio.Task[None] | None = None

    async def start(self, request: Request) -> Response:
        topics = request.query_params.getlist("topic")
        await self.stop()
        hub = self.app.state.realtime.hub
        if not isinstance(hub.projections, Pulsed):
            hub.projections = Pulsed(hub.projections)
        hub.projections.topics = set(topics)
        self.task = asyncio.create_task(self._run(hub, topics))
        return JSONResponse({"pulsing": topics, "tick_s": hub.tick})

    async def _run(self, hub: Any, topics: list[str]) -> None:
        while True:
            hub.projections.beats += 1
            hub.mark_dirty(topics)
            await asyncio.sleep(hub.tick / 2)

    async def stop(self, request: Request | None = None) -> Response:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None
        return JSONResponse({"pulsing": []})

    async def stats(self, request: Request) -> Response:
        hub = self.app.state.realtime.hub
        subscribers = {s for subs in hub.subscribers.values() for s in subs}
        return JSONResponse({
            "connections": len(subscribers),
            "ticks": hub.ticks,
            "frames_rendered": hub.frames_rendered,
            "frames_sent": sum(s.sent for s in subscribers),
            "frames_offered": sum(s.offered for s in subscribers),
        })


def build(settings: Settings, *, trace: bool = False) -> Any:
    pulse = Pulse()
    tracer = Trace() if trace else None
    app: Any = None

    async def install_trace(_ctx: Any) -> None:
        if tracer is not None:
            tracer.install(app)
        if os.environ.get("BENCH_EVERY_BEAT") == "1":
            app.state.realtime.hub.cadence_of = lambda role, fmt, topic: 0.0

    profiler = cProfile.Profile()
    profile_path = os.environ.get("BENCH_PROFILE")

    async def start_profile(request: Request) -> Response:
        profiler.enable()
        return JSONResponse({"profiling": True})

    async def stop_profile(request: Request) -> Response:
        profiler.disable()
        if profile_path:
            profiler.dump_stats(profile_path)
        return JSONResponse({"profiling": False, "written": profile_path})

    reference: list[Any] = []

    async def memory_mark(request: Request) -> Response:
        reference[:] = [tracemalloc.take_snapshot()] if tracemalloc.is_tracing() else []
        return JSONResponse({"tracing": tracemalloc.is_tracing()})

    async def memory_growth(request: Request) -> Response:
        if not reference:
            return JSONResponse({"tracing": False, "sites": []})
        per = max(1, int(request.query_params.get("per", "1")))
        top = int(request.query_params.get("top", "25"))
        gc.collect()
        now = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        diffs = now.compare_to(reference[0], "traceback")
        sites = [{"bytes_per": round(d.size_diff / per, 1), "count_per": round(d.count_diff / per, 2),
                  "where": [f"{f.filename.rsplit('site-packages/', 1)[-1]}:{f.lineno}" for f in d.traceback]}
                 for d in diffs[:top]]
        total = sum(d.size_diff for d in diffs)
        return JSONResponse({"tracing": True, "traced_bytes_per": round(total / per, 1), "sites": sites})

    async def read_trace(request: Request) -> Response:
        since = float(request.query_params.get("since", "0"))
        return JSONResponse(tracer.summary(since) if tracer is not None else {})

    app = create_app(settings, on_start=[install_trace], extra_routes=[
        Route("/bench/pulse", pulse.start, methods=["POST"]),
        Route("/bench/pulse", pulse.stop, methods=["DELETE"]),
        Route("/bench/stats", pulse.stats, methods=["GET"]),
        Route("/bench/trace", read_trace, methods=["GET"]),
        Route("/bench/memory", memory_mark, methods=["POST"]),
        Route("/bench/memory", memory_growth, methods=["GET"]),
        Route("/bench/profile", start_profile, methods=["POST"]),
        Route("/bench/profile", stop_profile, methods=["DELETE"]),
    ])
    pulse.app = app
    return app


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.hubserver")
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args()
    if os.environ.get("BENCH_TRACEMALLOC"):
        tracemalloc.start(int(os.environ["BENCH_TRACEMALLOC"]))
    settings = Settings.from_env()
    upgrade(settings.database_url)
    app = build(settings, trace=os.environ.get("BENCH_TRACE") == "1")
    serve(app, settings, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
