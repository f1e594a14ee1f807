"""The hub: topics, subscribers, and the ticker that turns dirty topics into frames.

A committed change marks topics dirty; it sends nothing. Every tick (the beat, 25 ms by default) the hub renders
each dirty topic that has subscribers due for it ONCE per format and hands the result to all of them, so a burst
costs at most one frame per topic per tick however many orders it holds (DESIGN.md, "Realtime rules"). Who is due
follows each screen's cadence (realtime/cadence.py): a leader's phone at most once a second, a wall twice, a
buyer's page and the JSON feeds every beat or two; subscribers with one cadence on a topic form a lane. A state
frame goes to a screen only when what it shows changed since the last one it was sent, and an HTML screen then
gets only what changed (realtime/htmldiff.py); a JSON screen the whole view.

Each subscriber has a small mailbox: the latest state frame per topic (a newer one replaces an unsent older one, as
the whole view, since the change it built on never went out) plus feed frames in order. The tick writes each
subscriber's frames straight to its socket when it has room (realtime/wire.py, the usual case under uvicorn), so
thousands of screens cost one loop, not a task wake-up each. Otherwise a task of that subscriber alone drains its
mailbox with `send_text` while frames keep coalescing there. A slow client never delays the others; one that lets
too many feed frames pile up is closed with 1013 so it reconnects from a snapshot. A screen that has taken none of
its frames for `stall_s` (10 s) while there were frames to send is cut: its transport is aborted, it leaves its
topics, and what was waiting for it is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

from realtime import cadence
from realtime.cadence import is_feed, topic_kind
from realtime.htmldiff import View, diff
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


@dataclass(eq=False, slots=True)
class Subscriber:
    connection: Connection
    topics: tuple[str, ...]
    fmt: Format
    max_feed_backlog: int
    states: dict[str, str] = field(default_factory=dict)  # topic -> newest unsent state frame
    shown: dict[str, View] = field(default_factory=dict)  # topic -> the view its frames so far add up to
    feeds: list[str] = field(default_factory=list)  # unsent feed frames, in order
    closed: bool = False
    offered: int = 0
    sent: int = 0
    task: asyncio.Task[None] | None = None  # only while a send waits on a slow network
    progress_at: float = 0.0  # loop time a waiting send started or last completed (see Hub._cut_stalled)
    wire: Wire | None = None  # direct writes of pre-encoded frames, when the server allows (realtime/wire.py)
    auth: tuple[str, str, int] | None = None  # the token it opened with: (role, subject, issued µs since epoch)

    def offer_state(self, topic: str, view: View, frame: str) -> None:
        """Offer `frame`, which turns what the screen was sent into `view`. If the previous frame of the topic has
        not gone out yet, the change `frame` builds on never reached the screen: the whole view replaces both."""
        self.offered += 1
        self.states[topic] = view.frame if topic in self.states else frame
        self.shown[topic] = view

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
        meanwhile coalesce in the mailbox."""
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
    def __init__(self, projections: ProjectionsView, *, tick_ms: int = 25, html: HtmlRenderer | None = None,
                 max_feed_backlog: int = 64, stall_s: float = 10.0,
                 cadence_of: Callable[[str | None, Format, str], float] | None = None) -> None:
        self.projections = projections
        self.tick = tick_ms / 1000
        self.cadence_of = cadence_of or (lambda role, fmt, topic: cadence.period(role, fmt.partition(":")[0], topic))
        # topic -> period -> its subscribers with that cadence (a lane); lanes still owed a frame; when each last went
        self.lanes: dict[str, dict[float, set[Subscriber]]] = {}
        self.owed: dict[str, set[float]] = {}
        self.lane_sent_at: dict[tuple[str, float], float] = {}
        self._views: dict[str, dict[Format, View]] = {}  # the latest view of each topic per format
        self.stall_s = stall_s
        self.waiting: set[Subscriber] = set()  # subscribers with a send waiting on the network
        self.cut = 0  # screens cut for not taking their frames
        self.html = html
        self.max_feed_backlog = max_feed_backlog
        self.subscribers: dict[str, set[Subscriber]] = {}
        self.dirty: set[str] = set()
        self.feed_sent: dict[tuple[str, float], int] = {}  # (feed topic, lane) -> last item seq framed for it
        # topic -> format -> (seq, snapshot view): what a screen connecting now is sent first. Rendered once for
        # a storm of (re)connections; dropped when the topic changes (mark_dirty) or loses its last subscriber.
        self._snapshots: dict[str, dict[Format, tuple[int, View]]] = {}
        self.frames_rendered = 0
        self._encoded: dict[str, bytes] = {}  # this tick's frames, encoded once (flush)
        self._data: dict[str, dict[str, Any]] = {}  # this tick's snapshots, read once per topic (flush)
        self._deltas: dict[tuple[int, int], str] = {}  # this tick's changes, (shown view, new view) -> frame
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
        role = auth[0] if auth is not None else None
        try:
            for topic in topics:
                first, view = self._first_frame(topic, fmt, since)
                await connection.send_text(first)
                kind = topic_kind(topic)
                frames_sent.get(kind).inc()
                frame_bytes_sent.get(kind).inc(len(encode_text(first)))
                if view is not None:
                    subscriber.shown[topic] = view
                subs = self.subscribers.setdefault(topic, set())
                if subscriber not in subs:
                    subs.add(subscriber)
                    hub_subscribers.get(kind).inc()
                    period = self.cadence_of(role, fmt, topic)
                    self.lanes.setdefault(topic, {}).setdefault(period, set()).add(subscriber)
                    if is_feed(topic):
                        self.feed_sent.setdefault((topic, period), self.projections.feed_seq(topic))
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
                self._leave_lanes(topic, subscriber)
                if not subs:
                    del self.subscribers[topic]
                    self._snapshots.pop(topic, None)
                    self.owed.pop(topic, None)
                    self._views.pop(topic, None)

    def _leave_lanes(self, topic: str, subscriber: Subscriber) -> None:
        lanes = self.lanes.get(topic, {})
        for period, lane in list(lanes.items()):  # a topic has a lane or three
            if subscriber not in lane:
                continue
            lane.discard(subscriber)
            if not lane:
                del lanes[period]
                self.feed_sent.pop((topic, period), None)
                self.lane_sent_at.pop((topic, period), None)
        if not lanes:
            self.lanes.pop(topic, None)

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

    def _first_frame(self, topic: str, fmt: Format, since: int | None) -> tuple[str, View | None]:
        """The frame a screen connecting now is sent first, and (for a state topic) the view it shows then."""
        if is_feed(topic) and since is not None:
            items = self.projections.feed_since(topic, since)
            if items is not None:  # the ring buffer still reaches: exactly what was missed, no gap
                return self.render(topic, "item", {"items": items}, fmt, self.projections.feed_seq(topic)), None
        seq = self._seq(topic)
        cached = self._snapshots.get(topic, {}).get(fmt)
        if cached is None or cached[0] != seq:
            cached = (seq, self._view(topic, fmt, self.projections.snapshot(topic) or {}, seq))
            self._snapshots.setdefault(topic, {})[fmt] = cached
        view = cached[1]
        return view.frame, None if is_feed(topic) else view

    # --- frames --------------------------------------------------------------------------------------------

    def _seq(self, topic: str) -> int:
        return self.projections.feed_seq(topic) if is_feed(topic) else self.projections.applied

    def render(self, topic: str, kind: str, data: dict[str, Any], fmt: Format, seq: int) -> str:
        self.frames_rendered += 1
        if fmt.startswith("html:") and self.html is not None:
            return self.html(topic, kind, data, fmt.removeprefix("html:"))
        return orjson.dumps({"topic": topic, "seq": seq, "kind": kind, "data": data}).decode()

    def _view(self, topic: str, fmt: Format, data: dict[str, Any], seq: int) -> View:
        """The topic's view drawn from `data`: the latest one again when nothing in it changed, so screens that
        were sent it compare equal by identity."""
        if fmt.startswith("html:") and self.html is not None:
            frame = self.render(topic, "snapshot", data, fmt, seq)
            key: str | bytes = frame
        else:
            self.frames_rendered += 1
            key = orjson.dumps(data)
            frame = f'{{"topic":{orjson.dumps(topic).decode()},"seq":{seq},"kind":"snapshot","data":{key.decode()}}}'
        views = self._views.setdefault(topic, {})
        latest = views.get(fmt)
        if latest is not None and latest.key == key:
            return latest
        view = views[fmt] = View(key, frame)
        return view

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
        """Hand each dirty topic's frame to the lanes of its subscribers that are due; the others stay owed it."""
        now = time.monotonic()
        for topic in self.dirty:
            lanes = self.lanes.get(topic)
            if lanes:
                self.owed.setdefault(topic, set()).update(lanes)
        self.dirty = set()
        touched: dict[Subscriber, None] = {}
        self._encoded = {}
        slack = self.tick / 2  # a lane due within half a beat goes now, not a whole beat late
        for topic, periods in list(self.owed.items()):
            lanes = self.lanes.get(topic, {})
            due = [p for p in periods if p in lanes and now - self.lane_sent_at.get((topic, p), -1e9) >= p - slack]
            periods.intersection_update(lanes)
            if due:
                periods.difference_update(due)
                for period in due:
                    subscribers = lanes[period]
                    touched.update(dict.fromkeys(subscribers))
                    sent = (self._flush_feed(topic, period, subscribers) if is_feed(topic)
                            else self._flush_state(topic, subscribers))
                    if sent:  # a lane that had nothing to send may send the next change at once
                        self.lane_sent_at[(topic, period)] = now
            if not periods:
                del self.owed[topic]
        self._data = {}
        self._deltas = {}
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

    def _count(self, topic: str, handed: dict[str, int]) -> bool:
        """Frames handed to screens this tick (frame → how many screens): two counter bumps per topic. Whether
        any frame was."""
        if not handed:
            return False
        kind = topic_kind(topic)
        frames_sent.get(kind).inc(sum(handed.values()))
        frame_bytes_sent.get(kind).inc(sum(len(self._encode(frame)) * n for frame, n in handed.items()))
        return True

    def _flush_state(self, topic: str, subscribers: set[Subscriber]) -> bool:
        data = self._data.get(topic)
        if data is None:
            data = self._data[topic] = self.projections.snapshot(topic) or {}
        views: dict[Format, View] = {}
        handed: dict[str, int] = {}
        for subscriber in list(subscribers):
            view = views.get(subscriber.fmt)
            if view is None:
                view = views[subscriber.fmt] = self._view(topic, subscriber.fmt, data, self.projections.applied)
            shown = subscriber.shown.get(topic)
            if shown is view:
                continue  # nothing this screen shows changed
            frame = self._delta(shown, view)
            subscriber.offer_state(topic, view, frame)
            handed[frame] = handed.get(frame, 0) + 1
        return self._count(topic, handed)

    def _delta(self, shown: View | None, view: View) -> str:
        """What turns a screen showing `shown` into one showing `view`: for HTML, only the pieces that changed
        (realtime/htmldiff.py), worked out once per pair however many screens share it."""
        if shown is None or isinstance(view.key, bytes):
            return view.frame
        pair = (id(shown), id(view))
        frame = self._deltas.get(pair)
        if frame is None:
            change = diff(shown.parsed(), view.parsed())
            frame = self._deltas[pair] = view.frame if change is None else change
        return frame

    def _flush_feed(self, topic: str, period: float, subscribers: set[Subscriber]) -> bool:
        lane = (topic, period)
        last = self.feed_sent.get(lane, 0)
        items = self.projections.feed_since(topic, last)
        if items is None:  # fell out of the ring buffer between ticks (a huge burst): resend the whole view
            self.feed_sent[lane] = self.projections.feed_seq(topic)
            return self._feed_snapshot(topic, subscribers)
        if not items:
            return False
        seq = self.projections.feed_seq(topic)
        self.feed_sent[lane] = seq
        frames: dict[Format, str] = {}
        handed: dict[str, int] = {}
        for subscriber in list(subscribers):
            frame = frames.get(subscriber.fmt)
            if frame is None:
                data: dict[str, Any] = {"items": items}
                if subscriber.fmt.startswith("html:") and len(items) > cadence.FEED_ROWS:
                    # A screen shows the newest rows; the ones a burst pushed past it are counted, not drawn.
                    data = {"items": items[-cadence.FEED_ROWS:], "skipped": len(items) - cadence.FEED_ROWS}
                frame = frames[subscriber.fmt] = self.render(topic, "item", data, subscriber.fmt, seq)
            if subscriber.offer_feed(frame):
                handed[frame] = handed.get(frame, 0) + 1
            else:
                asyncio.get_running_loop().create_task(self._overflow(subscriber))
        return self._count(topic, handed)

    def _feed_snapshot(self, topic: str, subscribers: set[Subscriber]) -> bool:
        """The whole feed again, as a state frame (a burst outran the ring buffer)."""
        data = self.projections.snapshot(topic) or {}
        seq = self.projections.feed_seq(topic)
        views: dict[Format, View] = {}  # rendered once per format, however many screens
        handed: dict[str, int] = {}
        for subscriber in list(subscribers):
            view = views.get(subscriber.fmt)
            if view is None:
                view = views[subscriber.fmt] = self._view(topic, subscriber.fmt, data, seq)
            subscriber.offer_state(topic, view, view.frame)
            handed[view.frame] = handed.get(view.frame, 0) + 1
        return self._count(topic, handed)

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
