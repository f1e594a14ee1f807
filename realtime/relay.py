"""From commit to read models: the Relay publishes what the writer committed; the Follower applies what arrives.

    writer.on_commit ─► Relay.committed ─► Bus.publish ··· Bus ─► Follower.receive ─► Projections.apply ─► on_dirty

The outbox table is the truth and the bus only a fast path: the Follower drops what it has applied, reads from the
outbox whatever the bus skipped, and polls the outbox so that an envelope whose publish was lost (a crash between
commit and publish, Redis down) still arrives, only later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from realtime.bus import Bus, Envelope, Pump
from store import models
from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.relay")

PAGE = 500  # outbox rows per query when catching up
SLICE_S = 0.010  # while catching up, the loop is handed back at least this often (tests/realtime/test_loop_lag.py)


class Relay:
    """Publishes each committed batch on the bus, in commit order, without making the writer wait or fail."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self._pump = Pump(bus.publish, name="liveroom-relay")

    def committed(self, envelopes: Sequence[Envelope]) -> None:
        """Called synchronously by the writer right after a commit. Schedules the publish; never raises."""
        try:
            self._pump.start()  # on first use: the writer calls from inside the running loop
            self._pump.put(list(envelopes))
        except Exception:  # the commit is done; a lost publish is recovered by every Follower's outbox poll
            log.exception("could not schedule the publish of %d envelopes", len(envelopes))

    async def flush(self, timeout: float = 5.0) -> bool:
        """Wait until everything committed so far has been handed to the bus (True), or `timeout` passed."""
        return await self._pump.drain(timeout)

    async def stop(self) -> None:
        """Publish what is still waiting (briefly), then stop: other processes then hear of the last commits now
        rather than at their next outbox poll."""
        await self._pump.stop()


class ReadModels(Protocol):
    """What the Follower needs of the projections."""

    applied: int
    needs_refresh: bool

    def apply(self, seq: int, record: dict[str, Any]) -> set[str]: ...

    async def refresh(self, engine: AsyncEngine) -> set[str]: ...


class Follower:
    """Applies committed events to this process's projections exactly once each, in seq order, none missing.

    Starts from `projections.applied` (the outbox seq their snapshot reflects) and keeps its own `applied`.
    Sequences may have holes (a rolled-back batch on PostgreSQL burns numbers); a hole is never waited for: every
    seq below one that has arrived is committed or will never exist, because commit order is seq order.
    """

    def __init__(self, engine: AsyncEngine, projections: ReadModels, on_dirty: Callable[[set[str]], None], *,
                 poll_interval: float = 2.0) -> None:
        self.engine = engine
        self.projections = projections
        self.on_dirty = on_dirty
        self.poll_interval = poll_interval
        self._applied = 0
        self._lock = asyncio.Lock()  # receive and poll never interleave: each applies in order from `applied`
        self._task: asyncio.Task[None] | None = None
        self.from_outbox = 0  # events applied from the outbox rather than the bus (gap fills and polls)

    @property
    def applied(self) -> int:
        return max(self._applied, self.projections.applied)

    @applied.setter
    def applied(self, seq: int) -> None:
        self._applied = seq

    async def start(self) -> None:
        """Poll the outbox now (for what was committed while the snapshot loaded) and every `poll_interval`."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._poll_loop(), name="liveroom-follower")

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)
            self._task = None

    async def receive(self, envelopes: Sequence[Envelope]) -> None:
        """The bus's receiver: apply the new envelopes; first read any missing ones from the outbox."""
        async with self._lock:
            self._applied = self.applied  # the projections may have loaded a snapshot since we last looked
            fresh = {seq: record for seq, record in envelopes if seq > self._applied}
            if not fresh:
                return
            seqs = sorted(fresh)
            dirty: set[str] = set()
            try:
                if seqs[-1] - self._applied != len(seqs):  # not exactly applied+1 … last: something is missing
                    await self._apply_outbox(dirty, before=seqs[-1])
                for seq in seqs:
                    self._apply(seq, fresh[seq], dirty)
            except Exception:
                # The outbox could not be read: applying past the gap would lose events for good. Leave the
                # whole batch to the next poll, which reads it all from the outbox.
                log.exception("gap fill before seq %d failed; the outbox poll will catch up", seqs[-1])
            finally:
                await self._refresh(dirty)
                self._notify(dirty)

    async def poll(self) -> int:
        """Apply every committed event not applied yet, straight from the outbox. Returns how many were applied."""
        async with self._lock:
            self._applied = self.applied
            dirty: set[str] = set()
            try:
                return await self._apply_outbox(dirty, before=None)
            finally:
                await self._refresh(dirty)
                self._notify(dirty)

    async def _poll_loop(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be briefly unavailable: try again at the next interval
                log.exception("outbox poll failed")
            await asyncio.sleep(self.poll_interval)

    async def _apply_outbox(self, dirty: set[str], *, before: int | None) -> int:
        """Apply outbox rows after `applied` (and below `before`), page by page; missing seqs are holes.

        A long catch-up (a restart behind a busy writer, a bus outage) must not freeze the screens: between pages,
        and inside one every `SLICE_S`, the loop gets a turn (the hub may then draw a view that is part way
        through the backlog, which is as true as any view between two events)."""
        outbox = models.outbox
        applied = 0
        loop = asyncio.get_running_loop()
        # Only a backlog of more than a page (a restart, a bus outage) hands the loop back, from its second page on.
        # Live gap fills and polls are short; yielding there let the publishes of the next commits queue up behind
        # the lock and each read the outbox again: under 500 orders/s the screens fell seconds behind and feed
        # items went missing (bench latency: 15,308 of 20,000 samples missing when every page yielded).
        while True:
            yielding = applied >= PAGE
            query = select(outbox.c.seq, outbox.c.payload).where(outbox.c.seq > self._applied)
            if before is not None:
                query = query.where(outbox.c.seq < before)
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query.order_by(outbox.c.seq).limit(PAGE))).all()
            handed_back = loop.time()
            for seq, payload in rows:
                self._apply(seq, payload, dirty)
                if yielding and loop.time() - handed_back > SLICE_S:
                    await asyncio.sleep(0)
                    handed_back = loop.time()
            self.from_outbox += len(rows)
            applied += len(rows)
            if len(rows) < PAGE:
                return applied
            if yielding:
                await asyncio.sleep(0)

    def _apply(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        if seq <= self._applied:
            return
        try:
            dirty |= self.projections.apply(seq, record)
        except Exception:
            # One event a read model cannot fold must not freeze every screen behind it: log it and move on.
            log.exception("projections failed on seq %d (%s); skipped", seq, record.get("kind"))
        self._applied = seq

    async def _refresh(self, dirty: set[str]) -> None:
        """Read back what events name but do not carry (a renamed SKU, a held order's address) before drawing."""
        if not self.projections.needs_refresh:
            return
        try:
            dirty |= await self.projections.refresh(self.engine)
        except Exception:
            log.exception("read-model refresh failed; names may lag until the next event")

    def _notify(self, dirty: set[str]) -> None:
        if not dirty:
            return
        try:
            self.on_dirty(dirty)
        except Exception:
            log.exception("on_dirty failed for %d topics", len(dirty))
