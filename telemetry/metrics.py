"""liveroom's Prometheus metrics (issue 15), one definition each, and their exposition for `GET /metrics`.

Multiprocess-safe: when PROMETHEUS_MULTIPROC_DIR is set before this module is first imported (`liveroom serve
--workers N` sets it before the workers start), every process writes its values to files in that directory and a
scrape of any one process aggregates them all (prometheus_client.multiprocess.MultiProcessCollector): counters and
histograms add up, the per-process gauges keep their `process` label ("pid-<pid>"), the subscriber gauge adds up
over the live processes. Without it, the process's own default registry is exposed.

Keep the hot paths cheap: the children of label sets used per request or per frame are looked up once
(`child`), not through `.labels()` each time.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

ORDERS = Counter(
    "liveroom_orders", "Orders answered: accepted (reason empty) or refused with the error code as reason",
    ["result", "reason"])
HTTP_SECONDS = Histogram(
    "liveroom_http_request_duration_seconds",
    "HTTP request latency, first byte in to last byte out, by the matched route's path template",
    ["method", "route", "status"])
WRITER_BATCH = Histogram(
    "liveroom_writer_batch_size", "Commands in one committed writer transaction",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000))
WRITER_COMMIT_SECONDS = Histogram(
    "liveroom_writer_commit_seconds", "One writer transaction, begin to commit",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
# What serializes writers (store/uow.py), per transaction: waiting for it (asked → granted) and holding it (granted →
# commit or rollback done). On SQLite that is the file's write lock (BEGIN IMMEDIATE), for the whole transaction. On
# PostgreSQL an order's transaction holds only its room's lock for its whole length (other rooms never wait for it);
# what it shares with other rooms (stock rows, carrier days, the pending outbox) it touches only in its tail, which
# is counted here as "held" (an upper bound: only a transaction touching the same rows waits); a transaction
# without rooms (catalog, settlement, carriers, ...) holds the global write lock exclusively, all of it counted.
# bench/scaleout.py reads them for the share of a process's time that serializes (issue 15).
WRITER_LOCK_WAIT_SECONDS = Counter(
    "liveroom_writer_lock_wait_seconds", "Seconds the writer waited for the global write lock (asked to granted)")
WRITER_LOCK_HELD_SECONDS = Counter(
    "liveroom_writer_lock_held_seconds",
    "Seconds the writer held what every writer shares (global lock, or a room transaction's shared-row tail)")
WRITER_ROOM_LOCK_WAIT_SECONDS = Counter(
    "liveroom_writer_room_lock_wait_seconds", "Seconds the writer waited for room locks (asked to granted)")
WRITER_ROOM_LOCK_HELD_SECONDS = Counter(
    "liveroom_writer_room_lock_held_seconds", "Seconds the writer held room locks (summed over concurrent ones)")
# The sequencer (store/sequencer.py, PostgreSQL): moving committed events from outbox_pending into the outbox.
SEQUENCER_HELD_SECONDS = Counter(
    "liveroom_sequencer_lock_held_seconds", "Seconds this process's sequencer held the sequencer lock")
SEQUENCER_MOVED = Counter(
    "liveroom_sequencer_moved_events", "Events this process's sequencer moved from outbox_pending into the outbox")
WRITER_BUSY_SECONDS = Counter(
    "liveroom_writer_busy_seconds", "Seconds the writer was busy with a batch (taken to every caller answered)")
OUTBOX_LAG = Gauge(
    "liveroom_outbox_lag_events", "Newest committed outbox seq minus the newest this process has applied",
    ["process"], multiprocess_mode="livesum")
BUS_LAG = Gauge(
    "liveroom_bus_lag_seconds",
    "Now minus the creation time of the newest event this process applied; 0 while it has applied every one",
    ["process"], multiprocess_mode="livesum")
EVENT_LOOP_LAG = Gauge(
    "liveroom_event_loop_lag_seconds", "How late a 0.5 s sleep of the event loop woke up, last sample",
    ["process"], multiprocess_mode="livesum")
HUB_SUBSCRIBERS = Gauge(
    "liveroom_hub_subscribers", "Screens subscribed, by topic kind (a screen counts once per topic)",
    ["kind"], multiprocess_mode="livesum")
FRAMES_SENT = Counter("liveroom_frames_sent", "WebSocket frames handed to screens, by topic kind", ["kind"])
FRAME_BYTES_SENT = Counter(
    "liveroom_frame_bytes_sent", "Bytes of WebSocket frames handed to screens, by topic kind", ["kind"])
SLOW_SCREENS_CUT = Counter(
    "liveroom_slow_screens_cut", "Screens cut for not taking their frames (stalled, or too far behind a feed)")
CARRIER_PUSHES = Counter(
    "liveroom_carrier_pushes", "Tracking pushes, by source (kdniao, kuaidi100, api) and result (applied, refused)",
    ["source", "result"])
WAYBILL_REQUESTS = Counter(
    "liveroom_waybill_requests", "Carrier gateway requests, by kind (issue, subscribe, cancel) and result",
    ["kind", "result"])

TOPIC_KINDS = ("room_stock", "room_board", "room_feed", "room_questions", "leader", "ops", "order")


def process_label() -> str:
    """The `process` label of this process's gauges."""
    return f"pid-{os.getpid()}"


def multiprocess_mode() -> bool:
    """Whether values go to PROMETHEUS_MULTIPROC_DIR. Decided when prometheus_client was first imported: a process
    that sets the variable later keeps its values to itself (then `exposition` says so by not aggregating)."""
    return bool(os.environ.get(MULTIPROC_ENV)) and values.ValueClass.__name__ != "MutexValue"


def exposition() -> tuple[bytes, str]:
    """The text a scrape gets, and its content type: every process's values in multiprocess mode, else this
    process's default registry."""
    if multiprocess_mode():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def process_stopped(pid: int | None = None) -> None:
    """A process stopped (this one by default): its live gauges leave the aggregate. A supervisor calls it with
    the pid of a worker that died without stopping (SIGKILL). Counters and histograms keep what it counted."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(os.getpid() if pid is None else pid)


class Children:
    """`.labels(...)` children of one metric, made once per label set: the hot paths call `get` (a dict lookup)."""

    __slots__ = ("_children", "_metric")

    def __init__(self, metric: Any) -> None:
        self._metric = metric
        self._children: dict[tuple[str, ...], Any] = {}

    def get(self, *labels: str) -> Any:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._metric.labels(*labels)
        return child


http_seconds = Children(HTTP_SECONDS)
frames_sent = Children(FRAMES_SENT)
frame_bytes_sent = Children(FRAME_BYTES_SENT)
hub_subscribers = Children(HUB_SUBSCRIBERS)


def order_accepted() -> None:
    ORDERS.labels("accepted", "").inc()


def order_refused(reason: str) -> None:
    """`reason`: the refusal's error code (sold_out, coupon_exhausted, validation, unauthorized, ...)."""
    ORDERS.labels("refused", reason).inc()
