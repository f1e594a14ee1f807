"""The hub: topics, subscribers, and the ticker that turns dirty topics into frames.

A committed change marks topics dirty; it sends nothing. Every tick (100 ms by default) the hub renders each dirty
topic that has subscribers ONCE per format in use and hands the same string to every subscriber, so the cost of a
burst is one frame per topic per tick however many orders it holds (DESIGN.md, "Realtime rules").

Each subscriber has a small mailbox: the latest state frame per topic (a newer one replaces an unsent older one —
state frames carry the whole view, so skipping is safe) plus feed frames in order. After rendering, the tick writes
each subscriber's frames straight to its socket when the socket has room (realtime/wire.py, the usual case under
uvicorn), so thousands of screens cost one loop, not a task wake-up each. Otherwise (no wire, a full socket
buffer) a task of that subscriber alone drains its mailbox with `send_text` while frames keep coalescing there. A slow
client therefore never delays the others; one that lets too many feed frames pile up is closed with 1013 so it
reconnects and starts again from a snapshot. A screen that has taken none of its frames for `stall_s` (10 s) while
there were frames to send is cut: its transport is aborted (a graceful close would wait behind the very buffer it
does not drain), it leaves its topics, and what was waiting for it is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from realtime.wire import Wire, encode_text
from store.tasks import cancel_and_wait
from telemetry.metrics import SLOW_SCREENS_CUT, frame_bytes_sent, frames_sent, hub_subscribers

log = logging.getLogger("liveroom.hub")

# "json", or "html:LANG" (htmx fragments in the page's language): a frame is rendered once per topic per format.
Format = str
HtmlRenderer = Callable[[str, str, dict[str, Any], str], str]  # (topic, kind, data, lang) -> htmx OOB fragment


class Connection(Protocol):
    async def send_text(self, data: str) -> None: ...

    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class ProjectionsView(Protocol):
    applied: int

    def snapshot(self, topic: str) -> dict[str, Any] | None: ...

    def feed_since(self, topic: str, since: int) -> list[dict[str, Any]] | None: ...

    def feed_seq(self, topic: str) -> int: ...


def is_feed(topic: str) -> bool:
    return topic.endswith(":feed")


def topic_kind(topic: str) -> str:
    """The metrics' name for a topic's kind: room_stock, room_board, room_feed, room_questions, leader, ops, order
    (ids left out: one series per kind, however many rooms and orders)."""
    head, _, rest = topic.partition(":")
    if head == "room":
        return "room_" + rest.rpartition(":")[2]
    return head


@dataclass(eq=False)
class Subscriber:
    connection: Connection
    topics: tuple[str, ...]
    fmt: Format
    max_feed_backlog: int
    states: dict[str, str] = field(default_factory=dict)  # topic -> newest unsent state frame
    feeds: list[str] = field(default_factory=list)  # unsent feed frames, in order
    closed: bool = False
    offered: int = 0
    sent: int = 0
    task: asyncio.Task[None] | None = None  # only while a send waits on a slow network
    progress_at: float = 0.0  # loop time a waiting send started or last completed (see Hub._cut_stalled)
    wire: Wire | None = None  # direct writes of pre-encoded frames, when the server allows (realtime/wire.py)
    auth: tuple[str, str, int] | None = None  # the token it opened with: (role, subject, issued µs since epoch)

    def offer_state(self, topic: str, frame: str) -> None:
        self.offered += 1
        self.states[topic] = frame

    def offer_feed(self, frame: str) -> bool:
        if len(self.feeds) >= self.max_feed_backlog:
            return False
        self.offered += 1
        self.feeds.append(frame)
        return True

    def _next(self) -> str:
        return self.feeds.pop(0) if self.feeds else self.states.pop(next(iter(self.states)))

    def pump(self, encode: Callable[[str], bytes] | None = None) -> None:
        """Send what is waiting. With a wire whose socket has room (the usual case under uvicorn) the frames'
        bytes from `encode` (made once per tick for everyone) go to the socket now, in one write. Otherwise a task
        of this subscriber's own sends them with `send_text`, waiting for the network as it must; frames offered
        meanwhile coalesce in the mailbox. (Stepping `send_text` by hand to spare that task did not pay: under
        uvicorn every screen has a wire, and a full socket suspends the send anyway. bench/fanout.py, 2,000
        screens, interleaved runs: 6,398 and 16,695 frames/s with it, 8,345 and 16,514 without.)"""
        if self.task is not None:
            return
        if self.wire is not None and encode is not None and not self.closed and self.wire.ready():
            # All of this tick's frames for this screen in one write: one system call, not one per frame.
            chunks = []
            while self.feeds or self.states:
                chunks.append(encode(self._next()))
            if chunks:
                self.wire.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
                self.sent += len(chunks)
            return
        if not self.closed and (self.feeds or self.states):  # no wire, or its socket is full: a task sends
            loop = asyncio.get_running_loop()
            self.progress_at = loop.time()
            self.task = loop.create_task(self._drain(), name="liveroom-ws-sender")

    async def _drain(self) -> None:
        try:
            loop = asyncio.get_running_loop()
            while not self.closed and (self.feeds or self.states):
                await self.connection.send_text(self._next())
                self.sent += 1
                self.progress_at = loop.time()
        except Exception as gone:
            self._gone(gone)
        finally:
            self.task = None

    def _gone(self, why: BaseException) -> None:
        log.debug("sender stopped: %s", why)  # the socket went away under us: the endpoint detaches it
        self.closed = True


class Hub:
    def __init__(self, projections: ProjectionsView, *, tick_ms: int = 100, html: HtmlRenderer | None = None,
                 max_feed_backlog: int = 64, stall_s: float = 10.0) -> None:
        self.projections = projections
        self.tick = tick_ms / 1000
        self.stall_s = stall_s
        self.waiting: set[Subscriber] = set()  # subscribers with a send waiting on the network
        self.cut = 0  # screens cut for not taking their frames
        self.html = html
        self.max_feed_backlog = max_feed_backlog
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.dirty: set[str] = set()
        self.feed_sent: dict[str, int] = {}  # feed topic -> last item seq already framed for subscribers
        # topic -> format -> (seq, snapshot frame): what a screen connecting now is sent first. Rendered once for
        # a storm of (re)connections; dropped when the topic changes (mark_dirty) or loses its last subscriber.
        self._snapshots: dict[str, dict[Format, tuple[int, str]]] = {}
        self.frames_rendered = 0
        self._encoded: dict[str, bytes] = {}  # this tick's frames, encoded once (flush)
        self.ticks = 0
        self.wired = 0  # screens attached with a Wire (direct transport writes) / without one: for /healthz
        self.unwired = 0
        self._task: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    # --- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._ticker(), name="liveroom-hub")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        for subscriber in {s for subs in self.subscribers.values() for s in subs}:
            await self.detach(subscriber)

    def mark_dirty(self, topics: Iterable[str]) -> None:
        for topic in topics:
            self.dirty.add(topic)
            self._snapshots.pop(topic, None)

    @property
    def direct_writes(self) -> bool | None:
        """Whether the screens attached so far all got direct transport writes (None: none attached yet)."""
        return None if self.wired + self.unwired == 0 else self.unwired == 0

    @property
    def connections(self) -> int:
        return len({s for subs in self.subscribers.values() for s in subs})

    # --- subscribers ---------------------------------------------------------------------------------------

    async def attach(self, connection: Connection, topics: tuple[str, ...], fmt: Format,
                     since: int | None = None, wire: Wire | None = None,
                     auth: tuple[str, str, int] | None = None) -> Subscriber:
        """Send the truth first (a snapshot per topic, or the feed items missed since `since`), then follow."""
        subscriber = Subscriber(connection, topics, fmt, self.max_feed_backlog, wire=wire, auth=auth)
        if wire is None:
            self.unwired += 1
        else:
            self.wired += 1
        try:
            for topic in topics:
                first = self._first_frame(topic, fmt, since)
                await connection.send_text(first)
                kind = topic_kind(topic)
                frames_sent.get(kind).inc()
                frame_bytes_sent.get(kind).inc(len(encode_text(first)))
                subs = self.subscribers.setdefault(topic, set())
                if subscriber not in subs:
                    subs.add(subscriber)
                    hub_subscribers.get(kind).inc()
                if is_feed(topic):
                    self.feed_sent.setdefault(topic, self.projections.feed_seq(topic))
        except BaseException:  # gone (or given up on) halfway: not left behind in the topics it joined
            self._unlink(subscriber)
            raise
        return subscriber

    async def detach(self, subscriber: Subscriber) -> None:
        self._unlink(subscriber)
        if subscriber.task is not None and subscriber.task is not asyncio.current_task():
            subscriber.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await subscriber.task

    def _unlink(self, subscriber: Subscriber) -> None:
        subscriber.closed = True
        self.waiting.discard(subscriber)
        for topic in subscriber.topics:
            subs = self.subscribers.get(topic)
            if subs is not None and subscriber in subs:
                subs.discard(subscriber)
                hub_subscribers.get(topic_kind(topic)).dec()
                if not subs:
                    del self.subscribers[topic]
                    self.feed_sent.pop(topic, None)
                    self._snapshots.pop(topic, None)

    def _cut_stalled(self) -> None:
        """Cut every screen whose waiting send has made no progress for `stall_s`: abort its transport (its
        unsent bytes go with it), take it out of its topics, drop its mailbox and its waiting send."""
        now = asyncio.get_running_loop().time()
        for subscriber in list(self.waiting):
            if subscriber.task is None or subscriber.closed:
                self.waiting.discard(subscriber)
            elif now - subscriber.progress_at >= self.stall_s:
                log.info("cut a screen on %s: it took no frames for %.0f s", ",".join(subscriber.topics),
                         now - subscriber.progress_at)
                self.cut += 1
                SLOW_SCREENS_CUT.inc()
                self._unlink(subscriber)
                if subscriber.wire is not None:
                    subscriber.wire.abort()  # the endpoint's receive loop then sees the disconnect
                subscriber.task.cancel()
                subscriber.states.clear()
                subscriber.feeds.clear()

    def _first_frame(self, topic: str, fmt: Format, since: int | None) -> str:
        if is_feed(topic) and since is not None:
            items = self.projections.feed_since(topic, since)
            if items is not None:  # the ring buffer still reaches: exactly what was missed, no gap
                return self.render(topic, "item", {"items": items}, fmt, self.projections.feed_seq(topic))
        seq = self._seq(topic)
        cached = self._snapshots.get(topic, {}).get(fmt)
        if cached is not None and cached[0] == seq:
            return cached[1]
        frame = self.render(topic, "snapshot", self.projections.snapshot(topic) or {}, fmt, seq)
        self._snapshots.setdefault(topic, {})[fmt] = (seq, frame)
        return frame

    # --- frames --------------------------------------------------------------------------------------------

    def _seq(self, topic: str) -> int:
        return self.projections.feed_seq(topic) if is_feed(topic) else self.projections.applied

    def render(self, topic: str, kind: str, data: dict[str, Any], fmt: Format, seq: int) -> str:
        self.frames_rendered += 1
        if fmt.startswith("html:") and self.html is not None:
            return self.html(topic, kind, data, fmt.removeprefix("html:"))
        return orjson.dumps({"topic": topic, "seq": seq, "kind": kind, "data": data}).decode()

    async def _ticker(self) -> None:
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        while True:
            # Tick on a fixed beat: a flush that took a while does not push every later frame back by its length.
            next_tick += self.tick
            await asyncio.sleep(max(0.0, next_tick - loop.time()))
            next_tick = max(next_tick, loop.time() - self.tick)
            self.ticks += 1
            try:
                self.flush()
            except Exception:  # a rendering bug must not stop the screens for good
                log.exception("hub tick failed")

    def flush(self) -> None:
        """Render every dirty topic once per format and hand the frame to its subscribers."""
        dirty, self.dirty = self.dirty, set()
        touched: dict[Subscriber, None] = {}
        encoded: dict[str, bytes] = {}
        self._encoded = encoded
        for topic in dirty:
            subscribers = self.subscribers.get(topic)
            if subscribers:
                touched.update(dict.fromkeys(subscribers))
                if is_feed(topic):
                    self._flush_feed(topic, subscribers)
                else:
                    self._flush_state(topic, subscribers)
        encode = self._encode
        for subscriber in touched:  # each screen gets this tick's frames back to back
            subscriber.pump(encode)
            if subscriber.task is not None:
                self.waiting.add(subscriber)
        if self.waiting:
            self._cut_stalled()

    def _encode(self, frame: str) -> bytes:
        """A frame's WebSocket bytes, encoded once per tick for every screen it goes to."""
        data = self._encoded.get(frame)
        if data is None:
            data = self._encoded[frame] = encode_text(frame)
        return data

    def _count(self, topic: str, handed: dict[str, int]) -> None:
        """Frames handed to screens this tick (frame → how many screens): two counter bumps per topic."""
        kind = topic_kind(topic)
        frames_sent.get(kind).inc(sum(handed.values()))
        frame_bytes_sent.get(kind).inc(sum(len(self._encode(frame)) * n for frame, n in handed.items()))

    def _flush_state(self, topic: str, subscribers: set[Subscriber]) -> None:
        data = self.projections.snapshot(topic) or {}
        frames: dict[Format, str] = {}
        handed: dict[str, int] = {}
        for subscriber in list(subscribers):
            frame = frames.get(subscriber.fmt)
            if frame is None:
                frame = frames[subscriber.fmt] = self.render(topic, "snapshot", data, subscriber.fmt,
                                                             self.projections.applied)
            subscriber.offer_state(topic, frame)
            handed[frame] = handed.get(frame, 0) + 1
        self._count(topic, handed)

    def _flush_feed(self, topic: str, subscribers: set[Subscriber]) -> None:
        last = self.feed_sent.get(topic, 0)
        items = self.projections.feed_since(topic, last)
        if items is None:  # fell out of the ring buffer between ticks (a huge burst): resend the whole view
            self.feed_sent[topic] = self.projections.feed_seq(topic)
            self._flush_state(topic, subscribers)
            return
        if not items:
            return
        seq = self.projections.feed_seq(topic)
        self.feed_sent[topic] = seq
        frames: dict[Format, str] = {}
        handed: dict[str, int] = {}
        for subscriber in list(subscribers):
            frame = frames.get(subscriber.fmt)
            if frame is None:
                frame = frames[subscriber.fmt] = self.render(topic, "item", {"items": items}, subscriber.fmt, seq)
            if subscriber.offer_feed(frame):
                handed[frame] = handed.get(frame, 0) + 1
            else:
                asyncio.get_running_loop().create_task(self._overflow(subscriber))
        self._count(topic, handed)

    def revoke(self, role: str, subject: str, revoked_us: int) -> int:
        """Close (4401) every socket opened with a token of (role, subject) issued at or before `revoked_us`;
        returns how many."""
        doomed = [s for s in {s for subs in self.subscribers.values() for s in subs}
                  if s.auth is not None and s.auth[:2] == (role, subject) and s.auth[2] <= revoked_us]
        loop = asyncio.get_running_loop()
        for subscriber in doomed:
            task = loop.create_task(self.close(subscriber, 4401, "token revoked"), name="liveroom-ws-revoke")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(doomed)

    async def close(self, subscriber: Subscriber, code: int, reason: str) -> None:
        """Stop sending to a subscriber and close its socket with `code`."""
        if subscriber.closed:
            return
        await self.detach(subscriber)
        with contextlib.suppress(Exception):
            await subscriber.connection.close(code=code, reason=reason)

    async def _overflow(self, subscriber: Subscriber) -> None:
        """A client that cannot keep up with a feed reconnects and resumes from a snapshot (1013: try again)."""
        if subscriber.closed:
            return
        SLOW_SCREENS_CUT.inc()
        await self.detach(subscriber)
        await close_bounded(subscriber.connection, subscriber.wire, 1013, "too slow: reconnect")


async def close_bounded(connection: Connection, wire: Wire | None, code: int, reason: str,
                        grace_s: float = 5.0) -> None:
    """Close with `code`, but never wait on a client that does not read: the close frame gets `grace_s` to go
    out and be answered, then the transport is aborted (a no-op if the client closed in time)."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(connection.close(code=code, reason=reason), grace_s)
    if wire is not None:
        wire.abort_later(grace_s)
