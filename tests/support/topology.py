"""The production topology on loopback, from the installed Debian packages and the files in deploy/: nginx with
deploy/nginx/liveroom.conf (its two placeholders filled), in front of several `liveroom serve` processes over one
PostgreSQL and one Redis; plus the clients the deploy tests drive it with: an order placer that retries with the
same order id until it has an answer, and a room-feed screen that reconnects with `since=` like the real ones."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from live import ServedProcess, served_process
from realparts import free_port
from seed import API_KEY, SECRET

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "deploy" / "nginx" / "liveroom.conf"
PLACEHOLDER = re.compile(r"\$\{(LIVEROOM_[A-Z_]+)\}")
BULK = "bulk-tea"  # a SKU of room-1 with stock enough for every burst (tests/deploy/conftest.py)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def render_site(listen_port: int, upstreams: list[int]) -> str:
    """deploy/nginx/liveroom.conf with its placeholders filled, as `envsubst` fills them on a host."""
    values = {
        "LIVEROOM_LISTEN_PORT": f"127.0.0.1:{listen_port}",
        "LIVEROOM_UPSTREAMS": " ".join(f"server 127.0.0.1:{p} max_fails=1 fail_timeout=1s;" for p in upstreams),
    }
    text = SITE.read_text()
    missing = set(PLACEHOLDER.findall(text)) - set(values)
    assert not missing, f"deploy/nginx/liveroom.conf has placeholders the renderer does not know: {missing}"
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def _main_conf(prefix: Path, site: Path) -> str:
    """What /etc/nginx/nginx.conf is on a host: the site inside `http { }`, here with every path in `prefix`."""
    user = "user root root;\n" if os.geteuid() == 0 else ""  # the temp dirs below belong to whoever runs this
    return (
        f"{user}worker_processes 1;\nerror_log {prefix}/error.log warn;\npid {prefix}/nginx.pid;\n"
        "events { worker_connections 4096; }\n"
        "http {\n  access_log off;\n"
        + "".join(f"  {kind}_temp_path {prefix}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi",
                                                                          "uwsgi", "scgi"))
        + f"  include {site};\n}}\n"
    )


@contextlib.contextmanager
def nginx_server(upstreams: list[int]) -> Iterator[str]:
    """nginx on a free loopback port in front of `upstreams`; its base URL. Skips, saying why, if it cannot."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("deploy tests skipped: no nginx binary installed (apt-get install nginx; `make test` does)")
    prefix = Path(tempfile.mkdtemp(prefix="liveroom-nginx-"))
    port = free_port()
    site = prefix / "liveroom.conf"
    site.write_text(render_site(port, upstreams))
    conf = prefix / "nginx.conf"
    conf.write_text(_main_conf(prefix, site))
    checked = subprocess.run([binary, "-t", "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf)],
                             capture_output=True)
    if checked.returncode != 0:
        raise AssertionError(f"nginx refuses deploy/nginx/liveroom.conf:\n{checked.stderr.decode()}")
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-e", str(prefix / "error.log"), "-c", str(conf), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            if process.poll() is not None:
                log = (prefix / "error.log").read_text() if (prefix / "error.log").exists() else ""
                pytest.skip(f"deploy tests skipped: nginx did not start: {log[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                pytest.skip("deploy tests skipped: nginx did not answer /healthz within 10 s")
            time.sleep(0.05)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(prefix, ignore_errors=True)


class Fleet:
    """`liveroom serve` processes, each on its own port (the upstreams nginx names), started, killed, stopped
    and started again one by one."""

    def __init__(self, database_url: str, env: dict[str, str], count: int) -> None:
        self.database_url, self.env = database_url, env
        self.ports = [free_port() for _ in range(count)]
        self.served: dict[int, ServedProcess] = {}
        self._stacks: dict[int, contextlib.ExitStack] = {}

    def start(self, index: int) -> ServedProcess:
        stack = contextlib.ExitStack()
        served = stack.enter_context(served_process(self.database_url, self.env, port=self.ports[index]))
        self._stacks[index], self.served[index] = stack, served
        return served

    def kill(self, index: int) -> None:
        """SIGKILL: nothing of its own shutdown runs."""
        self.served[index].process.kill()
        self._close(index)

    def terminate(self, index: int) -> tuple[float, int]:
        """SIGTERM and wait: (seconds until it exited, its exit status)."""
        process = self.served[index].process
        began = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            status = process.wait(timeout=30)
        finally:
            elapsed = time.monotonic() - began
            self._close(index)
        return elapsed, status

    def _close(self, index: int) -> None:
        self.served.pop(index, None)
        self._stacks.pop(index).close()

    def close(self) -> None:
        for index in list(self._stacks):
            self._close(index)


@dataclass
class Topology:
    url: str  # nginx
    fleet: Fleet
    secret: str = SECRET

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/ws"

    def client(self, **limits: int) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30,
                                 limits=httpx.Limits(**limits) if limits else httpx.Limits())


DEFINITIVE = {200, 201, 409, 422}


async def place(client: httpx.AsyncClient, body: dict[str, Any], *, give_up_s: float = 20.0) -> httpx.Response:
    """POST the order until an answer that decides it (a process may be gone mid-request: 502, a reset); always
    the same body, so a retry of an order a process took before it died gets the first answer back."""
    deadline = time.monotonic() + give_up_s
    delay = 0.05
    while True:
        try:
            response = await client.post("/api/v1/orders", json=body)
            if response.status_code in DEFINITIVE:
                return response
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"order {body['order']} got no answer within {give_up_s} s")
        await asyncio.sleep(delay * random.random())
        delay = min(1.0, delay * 2)


@dataclass
class FeedScreen:
    """A room-feed screen through nginx that does what the real screens do when their socket closes: reconnect
    after a randomized (full-jitter) pause, with `since=` the last item it has."""

    ws_url: str
    topic: str
    token: str
    orders: set[str] = field(default_factory=set)
    last_seq: int | None = None
    close_codes: list[int | None] = field(default_factory=list)
    snapshots_after_reconnect: int = 0
    connections: int = 0
    task: asyncio.Task[None] | None = None
    _open: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        self.task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._open.wait(), 10)

    async def _run(self) -> None:
        retries = 0
        while True:
            query = f"topic={self.topic}&token={self.token}&format=json"
            if self.last_seq is not None:
                query += f"&since={self.last_seq}"
            try:
                async with websockets.connect(f"{self.ws_url}?{query}", compression=None, max_size=None,
                                              open_timeout=5) as connection:
                    self.connections += 1
                    retries = 0
                    self._open.set()
                    try:
                        async for message in connection:
                            self._take(orjson.loads(message))
                    except websockets.ConnectionClosed:
                        pass
                    self.close_codes.append(connection.close_code)
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                pass
            # live.js: full jitter, a ceiling doubling from 500 ms to 5 s
            await asyncio.sleep(random.random() * min(5.0, 0.5 * 2**retries))
            retries += 1

    def _take(self, frame: dict[str, Any]) -> None:
        if frame["topic"] != self.topic:
            return
        if frame["kind"] == "snapshot" and self.last_seq is not None:
            self.snapshots_after_reconnect += 1
        for item in frame["data"].get("items", []):
            if item.get("kind") == "order":
                self.orders.add(item["order"])
        self.last_seq = frame["seq"] if self.last_seq is None else max(self.last_seq, frame["seq"])

    async def wait_for(self, orders: set[str], timeout: float = 15.0) -> set[str]:
        """The orders of `orders` this screen has not shown within `timeout` (empty: it showed them all)."""
        deadline = time.monotonic() + timeout
        while not orders <= self.orders and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return orders - self.orders

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
