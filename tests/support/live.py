"""A real liveroom server on a free loopback port (uvicorn in this event loop, or `liveroom serve` as a separate
process), and a small WebSocket client that records the frames it receives."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import orjson
import uvicorn
import websockets
from realparts import free_port
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, SECRET

from liveroom.app import create_app
from server.clock import system_clock
from server.serving import server_config
from server.settings import Settings
from store.migrate import upgrade


@dataclass
class LiveServer:
    url: str
    app: Any
    http: httpx.AsyncClient
    gate: Any = None  # the server's connection gate (server/serving.py): its counts, for the limits tests

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    @property
    def ctx(self) -> Any:
        return self.app.state.ctx

    @property
    def hub(self) -> Any:
        return self.app.state.realtime.hub

    def token(self, role: str, subject: str) -> str:
        return str(self.ctx.token(role, subject))


def live_settings(database_url: str, port: int, **extra: Any) -> Settings:
    return Settings(
        database_url=database_url,
        api_key=API_KEY,
        secret=SECRET,
        kdniao_appkey=KDNIAO_APPKEY,
        kuaidi100_salt=KUAIDI100_SALT,
        public_url=f"http://127.0.0.1:{port}",
        **extra,
    )


@contextlib.asynccontextmanager
async def live_server(
    database_url: str,
    port: int | None = None,
    *,
    parser: str = "auto",
    extra_routes: Sequence[Any] = (),
    clock: Callable[[], datetime] = system_clock,
    **extra: Any,
) -> AsyncIterator[LiveServer]:
    """uvicorn serving the real app on `port` (default: a free one), inside this test's event loop, configured as
    `liveroom serve` configures it (`parser="h11"`: with the fallback HTTP parser); `clock`: the server's time."""
    upgrade(database_url)
    port = port or free_port()
    settings = live_settings(database_url, port, **extra)
    app = create_app(settings, clock=clock, run_scheduler=False, extra_routes=extra_routes)
    config = server_config(
        app, settings, host="127.0.0.1", port=port, log_level="warning", lifespan="on", parser=parser
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30
    ) as http:
        try:
            yield LiveServer(url, app, http, config.liveroom_gate)
        finally:
            server.should_exit = True
            await task


@dataclass
class ServedProcess:
    url: str
    process: subprocess.Popen[bytes]


@contextlib.contextmanager
def serve_process(
    database_url: str,
    env: dict[str, str] | None = None,
    *,
    soft_file_limit: int | None = None,
    pids: list[int] | None = None,
) -> Iterator[str]:
    """`liveroom serve` as its own process (what a second server machine would run). `soft_file_limit`: start it
    with that soft limit on open files (as a stingy shell would); `pids`: where to note its process id."""
    with served_process(database_url, env, soft_file_limit=soft_file_limit, pids=pids) as served:
        yield served.url


@contextlib.contextmanager
def served_process(
    database_url: str,
    env: dict[str, str] | None = None,
    *,
    soft_file_limit: int | None = None,
    pids: list[int] | None = None,
    port: int | None = None,
) -> Iterator[ServedProcess]:
    """`serve_process`, with the process itself at hand (to kill it); `port`: listen there (default: a free one)."""
    port = port or free_port()
    environment = {
        **os.environ,
        "LIVEROOM_DATABASE_URL": database_url,
        "LIVEROOM_API_KEY": API_KEY,
        "LIVEROOM_SECRET": SECRET,
        "LIVEROOM_PUBLIC_URL": f"http://127.0.0.1:{port}",
        **(env or {}),
    }
    # The server's log goes to a file, not a pipe: a pipe nobody reads fills up, and a server logging errors
    # would then block on it and look like a hang.
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "liveroom.cli", "serve", "--port", str(port), "--log-level", "warning"],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=log,
            preexec_fn=None if soft_file_limit is None else lambda: _lower_file_limit(soft_file_limit),
        )
        if pids is not None:
            pids.append(process.pid)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"liveroom serve exited: {log.read().decode(errors='replace')}")
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                time.sleep(0.1)
            else:
                raise RuntimeError("liveroom serve did not answer /healthz within 30 s")
            yield ServedProcess(url, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
            log.seek(0)
            errors = log.read().decode(errors="replace")
            if "Traceback" in errors:  # shown with the test's output when it fails
                print(f"--- liveroom serve on port {port} logged:\n{errors[-4000:]}", file=sys.stderr)


def _lower_file_limit(soft: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))


@dataclass
class Watcher:
    """A WebSocket client that keeps every frame it receives, with the time it arrived."""

    connection: Any
    frames: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in self.connection:
                self.frames.append(orjson.loads(message))
                self.arrivals.append(time.monotonic())

    def of(self, topic: str) -> list[dict[str, Any]]:
        return [f for f in self.frames if f["topic"] == topic]

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for frame in self.frames[seen:]:
                if predicate(frame):
                    return frame
            seen = len(self.frames)
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching frame within {timeout} s; got {[f['topic'] for f in self.frames]}")

    async def close(self) -> None:
        await self.connection.close()
        if self.task is not None:
            await self.task


async def watch(
    ws_url: str,
    topics: list[str],
    token: str,
    *,
    since: int | None = None,
    origin: str | None = None,
    fmt: str = "json",
) -> Watcher:
    query = "&".join(
        [
            *(f"topic={t}" for t in topics),
            f"token={token}",
            f"format={fmt}",
            *([f"since={since}"] if since is not None else []),
        ]
    )
    headers = {"Origin": origin} if origin else None
    connection = await websockets.connect(
        f"{ws_url}?{query}", additional_headers=headers, compression=None, max_size=None
    )
    watcher = Watcher(connection)
    watcher.task = asyncio.create_task(watcher._read())
    return watcher


class SeedClient:
    """seed.py's `svc` interface (put/post with JSON) over a running server's httpx client."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def put(self, path: str, body: dict[str, Any]) -> Any:
        return await self.client.put(path, json=body)

    async def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        return await self.client.post(path, json=body, **kwargs)


async def place_order(
    live: LiveServer,
    order: str,
    items: list[tuple[str, int]],
    leader: str | None = "lead-a",
    buyer: dict[str, str] | None = None,
    *,
    delivery: str = "express",
) -> dict[str, Any]:
    """Place an order the way a buyer who came through `leader`'s share link does (None: no link, the house)."""
    from seed import order_body, share_code

    code = await share_code(SeedClient(live.http), leader) if leader else None
    response = await live.http.post(
        "/api/v1/orders",
        json=order_body(order, f"visitor-{order}", items, code=code, delivery=delivery, buyer=buyer),
    )
    assert response.status_code == 201, response.text
    return dict(response.json())
