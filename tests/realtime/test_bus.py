"""The bus, in-process and over a real redis-server: order, fan-out to every process, Redis restarts and outages."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from realparts import free_port, start_redis

from realtime.bus import Envelope, InProcessBus, RedisStreamBus
from realtime.relay import Relay


class Inbox:
    """A receiver that keeps every envelope it is handed, in arrival order."""

    def __init__(self, delay: float = 0.0) -> None:
        self.envelopes: list[Envelope] = []
        self.calls = 0
        self.delay = delay

    async def __call__(self, envelopes: Sequence[Envelope]) -> None:
        self.calls += 1
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.extend(envelopes)

    @property
    def seqs(self) -> list[int]:
        return [seq for seq, _ in self.envelopes]


def envelope(seq: int) -> Envelope:
    return seq, {"kind": "catalog_changed", "entity": "sku", "key": f"sku-{seq}"}


async def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.01)


# --- in-process -------------------------------------------------------------------------------------------


async def test_in_process_bus_delivers_every_batch_in_publish_order() -> None:
    bus, inbox = InProcessBus(), Inbox()
    await bus.start(inbox)
    for first in range(1, 1000, 10):
        await bus.publish([envelope(seq) for seq in range(first, first + 10)])
    await eventually(lambda: len(inbox.envelopes) == 1000)
    await bus.stop()
    assert inbox.seqs == list(range(1, 1001))
    assert inbox.envelopes[0] == envelope(1)  # records arrive untouched


async def test_commits_queue_in_the_relay_while_the_in_process_receiver_is_busy() -> None:
    # The writer hands each commit to the relay and goes on: a receiver busy for 0.5 s does not hold it up, and
    # the batches that queued meanwhile reach the receiver together, still in order.
    bus, inbox = InProcessBus(), Inbox(delay=0.5)
    relay = Relay(bus)
    await bus.start(inbox)
    for seq in range(1, 51):
        relay.committed([envelope(seq)])  # synchronous: the writer never waits on delivery
    assert inbox.envelopes == []  # nothing was delivered on the writer's turn
    await eventually(lambda: len(inbox.envelopes) == 50)
    await relay.stop()
    await bus.stop()
    assert inbox.seqs == list(range(1, 51))
    assert inbox.calls < 50


async def test_in_process_bus_keeps_what_was_published_before_start() -> None:
    bus, inbox = InProcessBus(), Inbox()
    await bus.publish([envelope(1), envelope(2)])
    await bus.start(inbox)
    await bus.publish([envelope(3)])
    await eventually(lambda: len(inbox.envelopes) == 3)
    await bus.stop()
    assert inbox.seqs == [1, 2, 3]


async def test_in_process_bus_keeps_delivering_after_the_receiver_fails() -> None:
    got: list[int] = []

    async def flaky(envelopes: Sequence[Envelope]) -> None:
        if envelopes[0][0] == 1:
            raise RuntimeError("projection bug")
        got.extend(seq for seq, _ in envelopes)

    bus = InProcessBus()
    await bus.start(flaky)
    await bus.publish([envelope(1)])  # the receiver raises: logged, not raised into the publisher
    await bus.publish([envelope(2)])
    await eventually(lambda: got == [2])
    await bus.stop()


# --- Redis Streams ----------------------------------------------------------------------------------------


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1].split("/")[0])


def start_redis_on(port: int, workdir: Path) -> subprocess.Popen[bytes]:
    """A fresh, empty redis-server on `port`: what a restarted Redis without persistence looks like."""
    process = start_redis(port, workdir)
    assert process is not None, "redis-server did not come back"
    return process


async def shutdown_redis(url: str) -> None:
    """Stop the redis-server behind `url` the way a crash or a restart does: it just goes away."""
    client = aioredis.Redis.from_url(url)
    try:
        await client.shutdown(nosave=True)
    except Exception:  # the server closes the connection instead of answering: that is the shutdown
        pass
    finally:
        await client.aclose()
    port = _port(url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except OSError:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("redis-server did not stop")


@pytest.fixture
def restarted(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Redis servers a test started itself (restarts); each is stopped at the end."""
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


async def started(url: str, **kwargs: Any) -> tuple[RedisStreamBus, Inbox]:
    bus, inbox = RedisStreamBus(url, **kwargs), Inbox()
    await bus.start(inbox)
    return bus, inbox


async def test_two_processes_each_receive_what_either_publishes(redis_url: str) -> None:
    # Two bus instances are what two server processes hold: each XADDs its commits, each reads the one stream.
    a, inbox_a = await started(redis_url)
    b, inbox_b = await started(redis_url)
    try:
        await a.publish([envelope(1), envelope(2)])
        await b.publish([envelope(3)])
        await a.publish([envelope(4)])
        await eventually(lambda: len(inbox_a.envelopes) == 4 and len(inbox_b.envelopes) == 4)
        assert inbox_a.seqs == inbox_b.seqs == [1, 2, 3, 4]
        assert inbox_b.envelopes[0] == envelope(1)  # the record survives the trip through Redis intact
    finally:
        await a.stop()
        await b.stop()


async def test_publish_appends_one_entry_per_envelope_with_seq_and_event(redis_url: str) -> None:
    bus, _ = await started(redis_url, stream="test:events")
    try:
        await bus.publish([envelope(7), envelope(8)])
        client = aioredis.Redis.from_url(redis_url)
        entries = await client.xrange("test:events")
        await client.aclose()
        assert [fields[b"seq"] for _, fields in entries] == [b"7", b"8"]
        assert orjson.loads(entries[0][1][b"event"]) == envelope(7)[1]
    finally:
        await bus.stop()


async def test_reader_starts_at_the_stream_end_and_leaves_older_entries_to_the_outbox(redis_url: str) -> None:
    # What was on the stream before start() is older than the projections' snapshot or reaches the Follower
    # through its gap fill; replaying the whole stream (up to maxlen entries) at every start would be waste.
    early, _ = await started(redis_url)
    await early.publish([envelope(1), envelope(2)])
    late, inbox = await started(redis_url)
    try:
        await early.publish([envelope(3)])
        await early.publish([envelope(4)])
        await eventually(
            lambda: 4 in inbox.seqs
        )  # the stream is read in order: 1 and 2 would have come first
        assert inbox.seqs == [3, 4]
    finally:
        await early.stop()
        await late.stop()


async def test_reader_reconnects_after_a_redis_restart_and_keeps_delivering(
    redis_url: str, tmp_path: Path, restarted: list[subprocess.Popen[bytes]]
) -> None:
    bus, inbox = await started(redis_url)
    try:
        await bus.publish([envelope(1)])
        await eventually(lambda: inbox.seqs == [1])

        await shutdown_redis(redis_url)
        await bus.publish([envelope(2)])  # Redis is down: dropped (the outbox poll covers it), never raised
        restarted.append(start_redis_on(_port(redis_url), tmp_path / "redis-again"))

        await eventually(lambda: bus.reconnects >= 1)
        await bus.publish([envelope(3), envelope(4)])
        await eventually(lambda: len(inbox.envelopes) == 3)
        assert inbox.seqs == [1, 3, 4]
    finally:
        await bus.stop()


async def test_reader_rereads_a_new_stream_whose_ids_are_below_its_position(
    redis_url: str, tmp_path: Path, restarted: list[subprocess.Popen[bytes]]
) -> None:
    # An entry far in the future moves the reader's position past anything a new stream will hold soon: after
    # the restart, reading on from the stored position would wait for that date. The reader must start over.
    bus, inbox = await started(redis_url)
    client = aioredis.Redis.from_url(redis_url)
    future = "99999999999999-0"
    await client.xadd(bus.stream, {"seq": "1", "event": orjson.dumps(envelope(1)[1])}, id=future)
    await client.aclose()
    try:
        await eventually(lambda: inbox.seqs == [1])
        assert bus.position == future.encode()

        await shutdown_redis(redis_url)
        restarted.append(start_redis_on(_port(redis_url), tmp_path / "redis-again"))
        await eventually(lambda: bus.reconnects >= 1)
        await bus.publish([envelope(2)])
        await eventually(lambda: len(inbox.envelopes) == 2)
        assert inbox.seqs == [1, 2]
    finally:
        await bus.stop()


async def test_reader_starts_over_when_the_stream_is_replaced_by_one_with_lower_ids(redis_url: str) -> None:
    # The same situation without a dropped connection (a flushed Redis, a failover to a replica that lagged):
    # the stream exists but ends before the reader's position. An empty read is the only symptom.
    bus, inbox = await started(redis_url, block_ms=200)
    client = aioredis.Redis.from_url(redis_url)
    try:
        await client.xadd(
            bus.stream, {"seq": "1", "event": orjson.dumps(envelope(1)[1])}, id="99999999999999-0"
        )
        await eventually(lambda: inbox.seqs == [1])
        await client.delete(bus.stream)
        await bus.publish([envelope(2)])
        await eventually(lambda: len(inbox.envelopes) == 2)
        assert inbox.seqs == [1, 2]
        assert bus.reconnects == 0  # it was noticed without any connection error
    finally:
        await client.aclose()
        await bus.stop()


async def test_bus_started_while_redis_is_down_delivers_once_redis_is_up(
    tmp_path: Path, restarted: list[subprocess.Popen[bytes]]
) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("Redis tests skipped: no redis-server binary installed (apt-get install redis-server)")
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    bus, inbox = await started(url)  # must not raise: the server may come up after the app
    try:
        restarted.append(start_redis_on(port, tmp_path / "redis-late"))
        await eventually(lambda: bus.position is not None)
        await bus.publish([envelope(1)])
        await eventually(lambda: inbox.seqs == [1])
    finally:
        await bus.stop()


async def test_publish_without_redis_neither_raises_nor_hangs() -> None:
    # Nothing listens on this port: the writer's commit is done, so the publish must give up quietly and fast.
    bus = RedisStreamBus(f"redis://127.0.0.1:{free_port()}/0")
    began = time.monotonic()
    for seq in range(1, 4):
        await bus.publish([envelope(seq)])
    assert time.monotonic() - began < 3.0
    await bus.stop()
