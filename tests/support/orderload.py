"""Orders offered open-loop from separate client processes, the way a live session's buyers send them: one order
every 1/rate seconds whether or not the earlier ones have been answered, each retried with the SAME order id
(always the same body, which is safe) while the answer says only that no process could take it yet.

The HTTP client is bench/httpload.py's raw keep-alive one and the processes are bench/common.py's client children,
so one small process offers hundreds of orders a second; an httpx client inside the test's own event loop, which
also runs the screens, managed about 45. Times are time.monotonic() readings, one clock for every process on Linux,
so the test compares them with its own (when it sent SIGTERM, when a replacement was healthy).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
from seed import API_KEY, order_body

from bench.common import Channel, Child, sleep_until
from bench.httpload import HttpConnection, connect, post_request

# The switch: nginx found no process to take the request (502), or nginx or a process turned the connection away
# because it was full (503, "busy"). Nothing was decided; the order is sent again with the same id.
RETRIED = (502, 503)
RESET = 0  # the connection to nginx broke before an answer: also retried (same id, so a replay is harmless)
GAVE_UP = -1  # no deciding answer within the patience


@dataclass(frozen=True)
class Answer:
    """The deciding answer to one order: its status, the error code of a refusal, when the order was due (its
    place in the schedule), when it was answered, how many times it was sent."""

    status: int
    error: str | None
    due: float
    answered: float
    attempts: int

    @property
    def acknowledged(self) -> bool:
        # 200: the replay of an order a process had taken before its first answer got lost
        return self.status in (200, 201)


async def offer_orders(
    channel: Channel, url: str, prefix: str, rate: float, sku: str, max_connections: int, patience: float
) -> dict[str, Any]:
    """A client process: orders `{prefix}-{n}` for one unit of `sku` at `rate` per second from the start time the
    parent sends until it sends "stop", then waits (`patience` at most) for the ones still open."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    idle: deque[HttpConnection] = deque([await connect(host, port) for _ in range(min(32, max_connections))])
    gate = asyncio.Semaphore(max_connections)  # nginx allows one address 256 connections (deploy/nginx)
    answers: dict[str, tuple[int, str | None, float, float, int]] = {}
    retried: Counter[int] = Counter()
    samples: dict[int, str] = {}
    opened = len(idle)

    async def send(request: bytes) -> tuple[int, bytes]:
        nonlocal opened
        async with gate:
            while idle and not idle[0].alive:
                idle.popleft()
            if idle:
                connection = idle.popleft()
            else:
                opened += 1
                connection = await connect(host, port)
            try:
                answer = await connection.request(request)
            except ConnectionError:
                connection.close()
                return RESET, b""
            idle.append(connection)
            return answer

    async def place(order: str, due: float) -> None:
        body = orjson.dumps(order_body(order, f"{order}-v", [(sku, 1)]))
        request = post_request(host, port, "/api/v1/orders", body, API_KEY)
        deadline, delay, attempts = time.monotonic() + patience, 0.05, 0
        while True:
            attempts += 1
            status, payload = await send(request)
            if status not in (*RETRIED, RESET):
                error = None if status in (200, 201) else _error(payload)
                answers[order] = (status, error, due, time.monotonic(), attempts)
                return
            retried[status] += 1
            samples.setdefault(status, " ".join(payload[:300].decode(errors="replace").split())[:120])
            if time.monotonic() > deadline:
                answers[order] = (GAVE_UP, f"last answer {status}", due, time.monotonic(), attempts)
                return
            await asyncio.sleep(delay * random.random())  # full jitter, doubling to 1 s
            delay = min(1.0, delay * 2)

    channel.send("ready")
    start = await channel.recv()
    stop = asyncio.ensure_future(channel.recv())
    await sleep_until(start)
    pending: set[asyncio.Task[None]] = set()
    n = 0
    while not stop.done():
        due = start + n / rate
        if due > time.monotonic():
            await asyncio.wait([stop], timeout=due - time.monotonic())
            if stop.done():
                break
        task = asyncio.create_task(place(f"{prefix}-{n}", due))
        pending.add(task)
        task.add_done_callback(pending.discard)
        n += 1
    if pending:
        await asyncio.wait(pending, timeout=patience + 5)
    for connection in idle:
        connection.close()
    unanswered = {f"{prefix}-{i}" for i in range(n)} - set(answers)
    return {
        "answers": answers,
        "unanswered": sorted(unanswered),
        "retried": dict(retried),
        "samples": samples,
        "connections": opened,
    }


def _error(payload: bytes) -> str:
    try:
        return str(orjson.loads(payload).get("error"))
    except (orjson.JSONDecodeError, AttributeError):
        return payload[:200].decode(errors="replace")


@dataclass
class OrderLoad:
    """`async with OrderLoad(url, "roll", rate=200, sku=...) as load:` offers the orders while the block runs
    (from `processes` client processes, each a share of the rate); afterwards `load.answers` holds every order's
    deciding answer, `load.retried` the answers that decided nothing, by status, and `load.unanswered` the orders
    that never got an answer at all."""

    url: str
    prefix: str
    rate: float
    sku: str
    processes: int = 1
    max_connections: int = 200
    patience: float = 30.0
    started: float = 0.0
    answers: dict[str, Answer] = field(default_factory=dict)
    retried: Counter[int] = field(default_factory=Counter)
    samples: dict[int, str] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    connections: int = 0
    _children: list[Child] = field(default_factory=list)

    async def __aenter__(self) -> OrderLoad:
        share = self.rate / self.processes
        for i in range(self.processes):
            args = (
                self.url,
                f"{self.prefix}{i}",
                share,
                self.sku,
                self.max_connections // self.processes,
                self.patience,
            )
            self._children.append(Child(offer_orders, *args))
        try:
            for child in self._children:
                assert await asyncio.to_thread(child.recv, 60) == "ready"
        except BaseException:
            self._kill()
            raise
        self.started = time.monotonic() + 0.1
        for i, child in enumerate(self._children):  # interleaved: together one order every 1/rate s
            child.send(self.started + i / self.rate)
        await sleep_until(self.started)
        return self

    async def __aexit__(self, *exc: object) -> None:
        try:
            for child in self._children:
                child.send("stop")
            if exc[0] is not None:
                return
            for child in self._children:
                result = await asyncio.to_thread(child.result, self.patience + 60)
                self.answers.update({order: Answer(*a) for order, a in result["answers"].items()})
                self.retried.update({int(s): c for s, c in result["retried"].items()})
                self.samples.update(result["samples"])
                self.unanswered += result["unanswered"]
                self.connections += result["connections"]
        finally:
            self._kill()

    def _kill(self) -> None:
        for child in self._children:
            child.kill()

    @property
    def acknowledged(self) -> set[str]:
        return {order for order, answer in self.answers.items() if answer.acknowledged}

    def acknowledged_per_s(self, since: float, until: float) -> float:
        """Orders acknowledged per second with their answer inside [since, until]."""
        inside = sum(1 for a in self.answers.values() if a.acknowledged and since <= a.answered <= until)
        return inside / (until - since)

    def offered_per_s(self, since: float, until: float) -> float:
        """Orders due per second inside [since, until] (what the schedule offered)."""
        return sum(1 for a in self.answers.values() if since <= a.due <= until) / (until - since)
