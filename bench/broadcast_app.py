"""The fan-out baseline: a bare broadcast loop over WebSocket connections, on the same stack as liveroom's hub.

Starlette's WebSocket on uvicorn with the options and the stack `liveroom serve` uses (uvloop, httptools,
websockets' sans-I/O protocol: bench/common.py `STACK`). Every tick, for each frame, a plain loop
awaits `send_text(frame)` on every connection in turn; when a round takes longer than a tick the next one starts
at once. The frames are the hub's own bytes (captured from the real server by the benchmark and passed in a
file), so both servers are offered the same frames at the same cadence and the difference between them is the
hub: topics, per-subscriber mailboxes, frames encoded once, coalescing, backpressure.

    python -m bench.broadcast_app --port P --frames FILE.json --tick-ms 100
    POST /start, POST /stop, GET /stats
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bench.common import STACK, keep_send, running_stack


class Broadcaster:
    def __init__(self, frames: list[str], tick: float) -> None:
        self.frames = frames
        self.tick = tick
        self.connections: set[WebSocket] = set()
        self.running = asyncio.Event()
        self.sent = 0
        self.rounds = 0

    async def endpoint(self, websocket: WebSocket) -> None:
        await websocket.accept()
        for frame in self.frames:  # the hub sends each topic's snapshot first; so does the baseline
            await websocket.send_text(frame)
        self.connections.add(websocket)
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
        except WebSocketDisconnect:
            pass
        finally:
            self.connections.discard(websocket)

    async def loop(self) -> None:
        while True:
            await self.running.wait()
            started = time.monotonic()
            for frame in self.frames:
                for websocket in list(self.connections):
                    try:
                        await websocket.send_text(frame)
                        self.sent += 1
                    except Exception:
                        self.connections.discard(websocket)
            self.rounds += 1
            await asyncio.sleep(max(0.0, self.tick - (time.monotonic() - started)))


def build(frames: list[str], tick: float) -> Starlette:
    broadcaster = Broadcaster(frames, tick)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(broadcaster.loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "fast_paths": running_stack(request)})

    async def start(request: Request) -> Response:
        broadcaster.running.set()
        return JSONResponse({"running": True})

    async def stop(request: Request) -> Response:
        broadcaster.running.clear()
        return JSONResponse({"running": False})

    async def stats(request: Request) -> Response:
        return JSONResponse({"connections": len(broadcaster.connections), "frames_sent": broadcaster.sent,
                             "rounds": broadcaster.rounds})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/start", start, methods=["POST"]),
            Route("/stop", stop, methods=["POST"]),
            Route("/stats", stats),
            WebSocketRoute("/ws", broadcaster.endpoint),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.broadcast_app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", required=True, help="a JSON list of the text frames to broadcast")
    parser.add_argument("--tick-ms", type=float, default=100)
    args = parser.parse_args()
    frames = [str(f) for f in orjson.loads(Path(args.frames).read_bytes())]
    uvicorn.run(keep_send(build(frames, args.tick_ms / 1000)), host=args.host, port=args.port, log_level="warning",
                access_log=False, ws_per_message_deflate=False, ws_max_size=64 * 1024, **STACK)


if __name__ == "__main__":
    main()
