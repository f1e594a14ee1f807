"""The bus: carries committed outbox envelopes from the process that wrote them to every process that shows them.

Delivery is at-least-once and best effort: a consumer (the Follower) ignores sequences it has applied, fills gaps
from the outbox table and polls the outbox, so an envelope that the bus loses only arrives later — it is never lost.
That is why nothing here ever raises into the writer or blocks it: when in doubt, log and drop.

- `InProcessBus`: one process; publish calls the receiver (from the Relay's task, never the writer's).
- `RedisStreamBus`: several processes; each XADDs what it committed to one stream and each reads the whole stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ResponseError

from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.bus")

Envelope = tuple[int, dict[str, Any]]  # (outbox seq, event record)
Receiver = Callable[[Sequence[Envelope]], Awaitable[None]]


class Bus(Protocol):
    async def start(self, receiver: Receiver) -> None:
        """Begin delivering published envelopes (of this process or, for a shared bus, of any) to `receiver`."""
        ...

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        """Send committed envelopes, in seq order. Never raises: a lost publish is recovered from the outbox."""
        ...

    async def stop(self) -> None: ...


class Pump:
    """An ordered hand-off from a caller that must not wait to one consumer task.

    `put` only appends to a queue; one task takes everything waiting (up to `max_batch` envelopes, so a burst of
    commits becomes one call) and awaits `consume` with it. Order is kept. A failing `consume` is logged and its
    batch dropped: every consumer of envelopes recovers lost ones from the outbox. Past `max_pending` envelopes
    waiting (a consumer stuck for long) the oldest are dropped for the same reason, so memory stays bounded.
    """

    def __init__(self, consume: Callable[[list[Envelope]], Awaitable[None]], *, name: str,
                 max_batch: int = 5_000, max_pending: int = 200_000) -> None:
        self._consume = consume
        self._name = name
        self._max_batch = max_batch
        self._max_pending = max_pending
        self._queue: deque[Envelope] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0

    def put(self, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        self._queue.extend(envelopes)
        overflow = len(self._queue) - self._max_pending
        if overflow > 0:
            for _ in range(overflow):
                self._queue.popleft()
            self.dropped += overflow
            log.warning("%s: consumer behind, dropped %d oldest envelopes (the outbox poll recovers them)",
                        self._name, overflow)
        self._idle.clear()
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    async def drain(self, timeout: float) -> bool:
        """Wait until everything put so far has been consumed (True) or `timeout` seconds passed (False)."""
        if self._task is None:
            return not self._queue
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self, timeout: float = 2.0) -> None:
        """Deliver what is waiting (for at most `timeout` seconds), then end the task."""
        if self._task is None:
            return
        await self.drain(timeout)
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                take = min(len(self._queue), self._max_batch)
                batch = [self._queue.popleft() for _ in range(take)]
                try:
                    await self._consume(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("%s: delivery of %d envelopes failed; dropped", self._name, len(batch))
            self._idle.set()


class InProcessBus:
    """The bus of a single process: what the relay publishes is handed, in order, to this process's receiver.

    No queue of its own: the Relay's Pump already decouples the writer from delivery (its one task calls
    `publish`, which awaits the receiver). A second queue here did not pay: order-to-screen p50/p99 measured
    2,171/8,903 ms with it and 723/4,143 ms without (bench/latency.py, 300 screens at 200 orders/s, on a shared
    2-core machine whose noise dwarfs any difference). Envelopes published before `start` are held for it. A
    failing receiver is logged: the Follower's outbox poll recovers what it dropped.
    """

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._early: list[Envelope] = []

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        early, self._early = self._early, []
        await self.publish(early)

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        if self._receiver is None:
            self._early.extend(envelopes)
            return
        try:
            await self._receiver(envelopes)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("receiver failed on %d envelopes; the outbox poll recovers them", len(envelopes))

    async def stop(self) -> None:
        self._receiver = None


StreamEntry = tuple[bytes, dict[bytes, bytes]]


def _parse_id(raw: bytes) -> tuple[int, int]:
    ms, _, seq = raw.decode().partition("-")
    return int(ms), int(seq or 0)


class RedisStreamBus:
    """The bus across processes: one Redis Stream that every process appends to and every process reads whole.

    Entries are `{"seq": "<outbox seq>", "event": <orjson of the record>}`, trimmed to about `maxlen`.

    Reading position. The reader starts at the stream's last entry as of `start()`, not at its beginning: whatever
    was committed between the projections' snapshot and that moment is not lost, because the Follower sees the gap
    at the next envelope (or at its first outbox poll, which runs at once) and reads the missing rows from the
    outbox. The position (the last stream id read) is kept in memory, per process: no consumer groups, since every
    process must see every entry.

    Redis restarts. On a connection error the reader logs, backs off (0.1 s doubling to 2 s) and reconnects. A
    restarted Redis may hold no stream, or a new one whose ids are below the stored position (stream ids are
    time-based, so that takes a clock step back or an older stream restored from disk); then the reader starts
    over at "0-0" of the new stream. It checks after every reconnection and whenever a read comes back empty (the
    only symptom of a position past the end), so a reconnection the client made silently is noticed too.
    Re-reading is harmless: the Follower drops sequences it has applied.

    Publishing never raises: while Redis is down the envelopes are logged and dropped, and every process's outbox
    poll brings them in.
    """

    def __init__(self, url: str, stream: str = "liveroom:events", maxlen: int = 100_000, *,
                 block_ms: int = 1_000, count: int = 500) -> None:
        self.url = url
        self.stream = stream
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.count = count
        self.position: bytes | None = None  # last stream id read; None until Redis has been reached
        self.reconnects = 0
        self._receiver: Receiver | None = None
        self._task: asyncio.Task[None] | None = None
        self._publish_failing = False
        self._dropped = 0
        # The reader retries by itself (with backoff and a position check), so its client must not retry
        # silently; the publisher gets one immediate retry, which is what a pooled connection that died with a
        # Redis restart needs. Short timeouts: an unreachable Redis costs a publish about a second, not more.
        self._reader = aioredis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=block_ms / 1000 + 5.0, retry=Retry(NoBackoff(), 0))
        self._publisher = aioredis.Redis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=2.0, retry=Retry(NoBackoff(), 1))

    # --- publishing ----------------------------------------------------------------------------------------

    async def publish(self, envelopes: Sequence[Envelope]) -> None:
        if not envelopes:
            return
        try:
            pipe = self._publisher.pipeline(transaction=False)
            for seq, record in envelopes:
                pipe.xadd(self.stream, {"seq": str(seq), "event": orjson.dumps(record)},
                          maxlen=self.maxlen, approximate=True)
            await pipe.execute()
        except asyncio.CancelledError:
            raise
        except Exception as failure:
            self._dropped += len(envelopes)
            if not self._publish_failing:  # one line per outage, not one per commit
                log.warning("redis publish failed (%s); dropping envelopes until it is back — "
                            "the outbox poll delivers them", failure)
            self._publish_failing = True
            return
        if self._publish_failing:
            log.info("redis publish works again; %d envelopes were dropped meanwhile", self._dropped)
            self._publish_failing = False
            self._dropped = 0

    # --- reading -------------------------------------------------------------------------------------------

    async def start(self, receiver: Receiver) -> None:
        self._receiver = receiver
        try:
            self.position = await self._stream_end()
        except Exception as failure:  # Redis down at start: the reader finds the position once it connects
            log.warning("redis not reachable at start (%s); the reader keeps trying", failure)
            self.position = None
        self._task = asyncio.get_running_loop().create_task(self._read_loop(), name="liveroom-redis-reader")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None
        await self._reader.aclose()
        await self._publisher.aclose()

    async def _stream_end(self) -> bytes:
        """The id of the stream's newest entry ("0-0" when there is no stream yet)."""
        last = await self._last_generated_id()
        return last if last is not None else b"0-0"

    async def _last_generated_id(self) -> bytes | None:
        try:
            info = await self._reader.xinfo_stream(self.stream)
        except ResponseError as error:
            if "no such key" in str(error).lower():
                return None
            raise
        last = info["last-generated-id"]
        return last if isinstance(last, bytes) else str(last).encode()

    async def _check_position(self) -> None:
        """Start over at "0-0" when the stream is gone or is a new one that ends before where we stopped."""
        if self.position is None:
            self.position = await self._stream_end()
            return
        last = await self._last_generated_id()
        if last is None or _parse_id(last) < _parse_id(self.position):
            if self.position != b"0-0":
                log.info("redis stream %s is new (last id %s, read position %s); reading it from the start",
                         self.stream, last, self.position)
            self.position = b"0-0"

    async def _read_loop(self) -> None:
        delay, failing = 0.1, False
        while True:
            try:
                if failing or self.position is None:
                    await self._check_position()
                entries = await self._read()
                if failing:
                    log.info("redis reader reconnected at %s", self.position)
                    self.reconnects += 1
                delay, failing = 0.1, False
                if entries:
                    await self._deliver(entries)
                else:
                    await self._check_position()
            except asyncio.CancelledError:
                raise
            except Exception as failure:
                if not failing:
                    log.warning("redis reader lost its connection (%s); reconnecting", failure)
                failing = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    async def _read(self) -> list[StreamEntry]:
        assert self.position is not None
        response: Any = await self._reader.xread({self.stream: self.position}, count=self.count, block=self.block_ms)
        # RESP2 (the client's default): [[stream name, [(id, {field: value}), ...]]]; one stream was asked for.
        return list(response[0][1]) if response else []

    async def _deliver(self, entries: list[StreamEntry]) -> None:
        self.position = entries[-1][0]
        envelopes: list[Envelope] = []
        for entry_id, fields in entries:
            try:
                envelopes.append((int(fields[b"seq"]), orjson.loads(fields[b"event"])))
            except (KeyError, ValueError):  # orjson.JSONDecodeError is a ValueError
                log.warning("redis stream %s: skipping malformed entry %s", self.stream, entry_id)
        if not envelopes or self._receiver is None:
            return
        try:
            await self._receiver(envelopes)
        except asyncio.CancelledError:
            raise
        except Exception:  # a receiver bug must not stop the stream; the Follower's poll re-reads the outbox
            log.exception("receiver failed on %d envelopes from redis", len(envelopes))
