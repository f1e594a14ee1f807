"""What every benchmark shares: server processes, client processes, the fd limit, RSS, percentiles.

Servers and clients are separate OS processes: a server is `python -m liveroom.cli serve` (or a bench-only wrapper
of the same app, or a bare baseline app), each client group a `multiprocessing` child (spawn) that talks to the
parent over two queues. Times that cross processes are `time.monotonic()` readings: CLOCK_MONOTONIC is one clock
for the whole machine on Linux, so a send time taken in one process and an arrival time taken in another compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
API_KEY = "bench-api-key"
SECRET = "bench-secret"
HOST = "127.0.0.1"
# The stack every bench server runs on: what `liveroom serve` runs on (server/serving.py: uvloop, the httptools
# parser, websockets' sans-I/O protocol), passed by the bare baselines to uvicorn explicitly. What each server
# really ran is read off its /healthz once it answers (`fast_paths`) and goes into latest.json's `stack`.
STACK = {"loop": "uvloop", "http": "httptools", "ws": "websockets-sansio"}
SEND_KEY = "bench.send"  # where `keep_send` leaves the server's own `send` in the scope
# Every server started in this process, in order: (module, {"loop": ..., "http": ...}) as its /healthz said.
STARTED: list[tuple[str, dict[str, str | None]]] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def raise_fd_limit() -> int:
    """Lift the soft RLIMIT_NOFILE to the hard limit: thousands of sockets per process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1_048_576 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (from /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of unsorted values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def keep_send(app: Any) -> Any:
    """An ASGI app that leaves uvicorn's own `send` in the scope (as liveroom's RawSend does) and calls `app`: a
    bare baseline's /healthz reads off it which HTTP implementation carries its requests."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        scope[SEND_KEY] = send
        await app(scope, receive, send)

    return wrapped


def running_stack(request: Any) -> dict[str, str | None]:
    """A bare baseline's `fast_paths`, named as liveroom's /healthz names them, read off the live objects: the
    running loop's implementation and the module of the HTTP protocol that sent this request."""
    send = request.scope.get(SEND_KEY)
    module = type(getattr(send, "__self__", None)).__module__
    parser = (module.rpartition(".")[2].removesuffix("_impl") if module.startswith("uvicorn.protocols.http.")
              else None)
    return {"event_loop": type(asyncio.get_running_loop()).__module__.partition(".")[0], "http_parser": parser}


def stack_of(health: dict[str, Any]) -> dict[str, str | None]:
    paths = health.get("fast_paths") or {}
    return {"loop": paths.get("event_loop"), "http": paths.get("http_parser")}


def bench_env(database_url: str, port: int, **extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LIVEROOM_DATABASE_URL": database_url,
        "LIVEROOM_API_KEY": API_KEY,
        "LIVEROOM_SECRET": SECRET,
        "LIVEROOM_PUBLIC_URL": f"http://{HOST}:{port}",
        # The benchmarks are thousands of clients on one loopback address, several screens on one token: the
        # per-token and per-address caps a public server needs (README, "Security and limits") would stop them.
        "LIVEROOM_MAX_CONNECTIONS_PER_ADDRESS": "20000",
        "LIVEROOM_WS_PER_TOKEN": "20000",
        "LIVEROOM_WS_PER_ADDRESS": "20000",
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    env.update(extra)
    return env


def token(role: str, subject: str) -> str:
    from domain.tokens import mint

    return mint(SECRET, role, subject)


# --- server processes ----------------------------------------------------------------------------------------------


@dataclass
class ServerProcess:
    """A server in its own process, answering on 127.0.0.1:port once `start` returns."""

    argv: list[str]
    port: int
    env: dict[str, str]
    health_path: str = "/healthz"
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="liveroom-bench-")))
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 60) -> ServerProcess:
        log = (self.workdir / "server.log").open("wb")
        self.process = subprocess.Popen(self.argv, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{' '.join(self.argv[2:4])} exited:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                answer = httpx.get(self.url + self.health_path, timeout=2)
                if answer.status_code == 200:
                    health = answer.json() if answer.headers.get("content-type", "").startswith(
                        "application/json") else {}
                    STARTED.append((self.argv[2] if len(self.argv) > 2 else "?", stack_of(health)))
                    return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not answer {self.health_path} within {timeout} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        path = self.workdir / "server.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextlib.contextmanager
def liveroom_server(module: str = "liveroom.cli", *, tick_ms: int | None = None,
                    extra_env: dict[str, str] | None = None) -> Iterator[ServerProcess]:
    """`python -m liveroom.cli serve --port P` on a fresh SQLite file (or a bench wrapper module taking the same
    arguments), with the bench's API key and secret."""
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="liveroom-bench-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
    extra = dict(extra_env or {})
    if tick_ms is not None:
        extra["LIVEROOM_TICK_MS"] = str(tick_ms)
    argv = [sys.executable, "-m", module, "serve", "--port", str(port), "--log-level", "warning"]
    server = ServerProcess(argv, port, bench_env(database_url, port, **extra), workdir=workdir)
    try:
        yield server.start()
    finally:
        server.cleanup()


@contextlib.contextmanager
def app_server(module: str, *args: str, health_path: str = "/healthz") -> Iterator[ServerProcess]:
    """A bench-owned bare app (`python -m bench.baseline_app --port P ...`)."""
    port = free_port()
    argv = [sys.executable, "-m", module, "--port", str(port), *args]
    server = ServerProcess(argv, port, bench_env("sqlite+aiosqlite:///:memory:", port), health_path=health_path)
    try:
        yield server.start()
    finally:
        server.cleanup()


def server_choice(trace: bool = False, profile: str | None = None) -> tuple[str, dict[str, str]]:
    """`liveroom serve` itself, or bench/hubserver.py (the same app) when spans or a cProfile are wanted."""
    if not trace and not profile:
        return "liveroom.cli", {}
    env = {"BENCH_TRACE": "1"} if trace else {}
    if profile:
        env["BENCH_PROFILE"] = str(Path(profile).resolve())
    return "bench.hubserver", env


def server_trace(server: ServerProcess, since: float) -> dict[str, Any]:
    """The spans bench/hubserver.py recorded since `since` (a time.monotonic() reading), when BENCH_TRACE=1."""
    return dict(httpx.get(server.url + "/bench/trace", params={"since": since}, timeout=30).json())


@contextlib.contextmanager
def profiling(server: ServerProcess, enabled: bool) -> Iterator[None]:
    """cProfile the server (bench/hubserver.py with BENCH_PROFILE) for the duration of the block."""
    if enabled:
        httpx.post(server.url + "/bench/profile", timeout=30)
    try:
        yield
    finally:
        if enabled:
            httpx.delete(server.url + "/bench/profile", timeout=60)


def api(server: ServerProcess) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=60)


# --- client processes ----------------------------------------------------------------------------------------------


class Channel:
    """The child's end: `recv` waits for the parent's next message without blocking the event loop."""

    def __init__(self, ctl: Any, out: Any) -> None:
        self._ctl = ctl
        self._out = out

    def send(self, message: Any) -> None:
        self._out.put(message)

    async def recv(self) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, self._ctl.get)


ChildMain = Callable[..., Coroutine[Any, Any, Any]]


def _child_main(fn: ChildMain, ctl: Any, out: Any, args: tuple[Any, ...]) -> None:
    raise_fd_limit()
    try:
        result: Any = asyncio.run(fn(Channel(ctl, out), *args))
        out.put(("result", result))
    except BaseException:
        out.put(("error", traceback.format_exc()))


class Child:
    """A client process running `await fn(channel, *args)`; its return value is its result."""

    def __init__(self, fn: ChildMain, *args: Any) -> None:
        context = mp.get_context("spawn")
        self._ctl = context.Queue()
        self._out = context.Queue()
        self.process = context.Process(target=_child_main, args=(fn, self._ctl, self._out, args), daemon=True)
        self.process.start()
        self._result: Any = None
        self._done = False

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def send(self, message: Any) -> None:
        self._ctl.put(message)

    def recv(self, timeout: float = 120) -> Any:
        """The child's next message; raises with its traceback if it failed or died."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                message = self._out.get(timeout=0.2)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError(f"client process exited with {self.process.exitcode}") from None
                if time.monotonic() > deadline:
                    raise TimeoutError("client process did not answer in time") from None
                continue
            if isinstance(message, tuple) and message and message[0] == "error":
                raise RuntimeError(f"client process failed:\n{message[1]}")
            if isinstance(message, tuple) and message and message[0] == "result":
                self._result, self._done = message[1], True
                return ("result", message[1])
            return message

    def result(self, timeout: float = 120) -> Any:
        while not self._done:
            self.recv(timeout)
        self.process.join(timeout=10)
        return self._result

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)


@contextlib.contextmanager
def children(fn: ChildMain, args_per_child: Sequence[tuple[Any, ...]]) -> Iterator[list[Child]]:
    group = [Child(fn, *args) for args in args_per_child]
    try:
        yield group
    finally:
        for child in group:
            child.kill()


def all_recv(group: Sequence[Child], timeout: float = 120) -> list[Any]:
    return [child.recv(timeout) for child in group]


def broadcast(group: Sequence[Child], message: Any) -> None:
    for child in group:
        child.send(message)


async def sleep_until(when: float) -> None:
    delay = when - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def machine() -> dict[str, Any]:
    return {"nproc": os.cpu_count(), "python": sys.version.split()[0]}
