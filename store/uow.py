"""The unit of work and the one writer of a process (group commit).

Every write of liveroom is a *command* handed to the `Writer`. The writer takes whatever commands are waiting, runs
them in arrival order inside ONE transaction, writes their domain events to the outbox in that same transaction,
commits, and only then answers each caller. Under a burst, hundreds of orders share one commit; when idle, a
command is committed alone at once. A command that the rules refuse writes nothing: commands decide in memory and
write only once they have decided, and anything a refused command might have started is rolled back to its savepoint.
A command that fails in any other way (a bug, an input nobody foresaw) fails the same way, alone: its caller gets the
exception and the rest of the batch commits in the same transaction. Only when the transaction as a whole fails (a
bulk statement, the outbox, the commit) is the batch split, in halves, so one bad command costs a few extra
transactions (about 2·log2 of the batch), never a transaction per command.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from domain.errors import DomainError
from domain.events import Event, to_record
from store import models
from store.room_locks import WRITE_LOCK, lock_key, take_rooms
from store.sequencer import Sequencer
from store.tasks import cancel_and_wait
from telemetry.metrics import (
    WRITER_BATCH,
    WRITER_BUSY_SECONDS,
    WRITER_COMMIT_SECONDS,
    WRITER_LOCK_HELD_SECONDS,
    WRITER_LOCK_WAIT_SECONDS,
    WRITER_ROOM_LOCK_HELD_SECONDS,
    WRITER_ROOM_LOCK_WAIT_SECONDS,
)

log = logging.getLogger("liveroom.writer")

R = TypeVar("R")
Envelope = tuple[int, dict[str, Any]]  # (outbox seq, event record): what the relay publishes after commit
# Room transactions a process runs at once by default (LIVEROOM_ROOM_PARALLEL; rooms dealt over them by hash, a
# room's commands keep their order). Two measured best on 2 cores (bench/scaleout.py, 8 rooms, one process: 1 → 218
# orders/s with the shared rows held 0.04 of the time, 2 → 349/s and 0.08, 4 → 235/s and 0.19, 8 → 127/s and
# 0.24): more, smaller transactions each pay a commit with the shared rows held.
PARALLEL = 2


@dataclass
class Tx:
    """One transaction of the writer: the connection, the batch's clock reading and the events to append."""

    conn: AsyncConnection
    now: datetime
    events: list[Event] = field(default_factory=list)
    cache: dict[str, Any] = field(default_factory=dict)  # per-transaction memo (counters, loaded rows)
    before_commit: dict[str, Callable[[], Awaitable[None]]] = field(
        default_factory=dict
    )  # once each, by name
    # Room-scoped (PostgreSQL): other rooms' transactions run at the same time, so rows shared between rooms (stock,
    # carrier days, the waybill counter, bindings) must be locked or updated guarded in `before_commit`.
    scoped: bool = False

    @property
    def dialect(self) -> str:
        return self.conn.dialect.name

    def emit(self, *events: Event) -> None:
        self.events.extend(events)


class Command(Generic[R]):
    """A write. Subclasses implement `run`; those that come in bursts also override `run_batch`."""

    batch_group: ClassVar[str | None] = None  # consecutive commands of one group go to run_batch together

    def rooms(self) -> frozenset[str] | None:
        """The rooms this command writes, when it writes nothing shared beyond what its run guards (see `Tx.scoped`);
        None: it needs the global write lock (the default: catalog, settlement, carriers, shipping, ...)."""
        return None

    async def run(self, tx: Tx) -> R:
        raise NotImplementedError

    @classmethod
    async def run_batch(cls, tx: Tx, commands: Sequence[Command[Any]]) -> list[Any]:
        """Run each command under a savepoint; one that raises (refused by the rules, or failing in any other way)
        leaves nothing behind and gets its exception back, the others go on. Returns result or exception."""
        results: list[Any] = []
        for command in commands:
            mark = len(tx.events)
            try:
                async with tx.conn.begin_nested():
                    results.append(await command.run(tx))
            except Exception as failure:  # isolated here, handed to the command's caller
                del tx.events[mark:]
                if not isinstance(failure, DomainError):
                    log_failure(command, failure)
                results.append(failure)
        return results


def log_failure(command: Command[Any], failure: BaseException) -> None:
    """A command failed for a reason that is not a rule (a bug): logged with its traceback, rate-limited."""
    log.error("%s failed alone, the rest of its batch goes on", type(command).__name__, exc_info=failure)


class FunctionCommand(Command[R]):
    """A one-off write given as a coroutine function of the transaction (catalog upserts and the like)."""

    def __init__(self, fn: Callable[[Tx], Awaitable[R]]) -> None:
        self.fn = fn

    async def run(self, tx: Tx) -> R:
        return await self.fn(tx)


@dataclass
class _Pending:
    command: Command[Any]
    future: asyncio.Future[Any]
    deferred: int = 0  # times its room was busy in another process's transaction (it then waits the next time)


_RERUNS = 5  # times a room transaction is run again after deciding on rows another room changed meanwhile


class StaleDecision(RuntimeError):
    """A guarded update of a row rooms share found it changed since the batch read it (another room's transaction
    committed in between): nothing of the transaction is kept and the writer runs the batch again on fresh rows."""


_DEFERRED = object()  # a command's result when its room was taken elsewhere: it goes to the next transaction


class Writer:
    """The single writer of this process. `submit` returns once the command's transaction has committed."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Callable[[], datetime],
        *,
        max_batch: int = 500,
        linger: float = 0.002,
        on_commit: Callable[[list[Envelope]], None] | None = None,
        parallel: int = PARALLEL,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.max_batch = max_batch
        self.linger = linger
        self._last_batch = 0
        self._busy = False  # a batch is being written (stop() lets it finish)
        self.on_commit = on_commit
        # PostgreSQL: room locks, events through outbox_pending and this process's sequencer (see above).
        self.room_locks = engine.dialect.name == "postgresql"
        self.sequencer = Sequencer(engine, self._published) if self.room_locks else None
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self.parallel = parallel
        self._retry: list[_Pending] = []  # deferred commands (their room was busy elsewhere): first in the next batch
        self._task: asyncio.Task[None] | None = None
        self.batches = 0  # committed transactions
        self.commands = 0  # commands answered from a committed transaction
        self.failed_transactions = 0  # transactions that failed as a whole and were split (or failed their one)
        # Cumulative seconds (also the liveroom_writer_*_seconds_total counters, telemetry/metrics.py): waiting for
        # and holding what serializes every writer (SQLite's write lock; on PostgreSQL WRITE_LOCK exclusive, or a
        # room transaction's shared-row tail), the room locks apart, busy (a batch taken → answered).
        self.lock_wait_s = 0.0
        self.lock_held_s = 0.0
        self.room_lock_wait_s = 0.0
        self.room_lock_held_s = 0.0
        self.busy_s = 0.0

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="liveroom-writer")
        if self.sequencer is not None:
            self.sequencer.start()

    def _published(self, envelopes: list[Envelope]) -> None:
        if self.on_commit is not None:
            self.on_commit(envelopes)

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop after the batch being written has committed and its callers have their answers, and after what
        is already queued (a SIGTERM's graceful stop, liveroom/workers.py); past `grace_s`, cancel it anyway."""
        if self._task is not None and not self._task.done():
            loop = asyncio.get_running_loop()
            deadline = loop.time() + grace_s
            while ((self._busy or not self._queue.empty() or self._retry) and loop.time() < deadline
                   and not self._task.done()):
                await asyncio.sleep(0.005)
        await cancel_and_wait(self._task)
        self._task = None
        if self.sequencer is not None:  # the last commits' events into the outbox, their callers answered
            await self.sequencer.stop()

    async def submit(self, command: Command[R]) -> R:
        if self._task is None:
            raise RuntimeError("writer is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(command, future))
        return await future

    async def call(self, fn: Callable[[Tx], Awaitable[R]]) -> R:
        return await self.submit(FunctionCommand(fn))

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._retry:
                batch, self._retry = self._retry, []
            else:
                batch = [await self._queue.get()]
            # Busy (the last commit held several commands): the callers it just answered are sending their next
            # ones. Wait a moment (at most `linger`) until as many as then, plus those already waiting, are here,
            # so they share this commit instead of the next: a commit's fixed cost (loading, statements, the
            # commit itself) is what limits a burst. An idle writer (last batch of one) never waits.
            expected = min(self.max_batch, self._last_batch + self._queue.qsize())
            if self._last_batch > 1 and self._queue.qsize() + 1 < expected:
                until = loop.time() + self.linger
                while self._queue.qsize() + 1 < expected and loop.time() < until:
                    await asyncio.sleep(0.0005)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._last_batch = len(batch)
            self._busy = True
            began = time.perf_counter()
            try:
                if self.room_locks:
                    await self._execute_by_room(batch)
                else:
                    await self._execute(batch)
            finally:
                self._busy = False
                busy = time.perf_counter() - began
                self.busy_s += busy
                WRITER_BUSY_SECONDS.inc(busy)

    async def _execute_by_room(self, batch: list[_Pending]) -> None:
        """Commands with rooms run as concurrent transactions, one per bucket of rooms (arrival order kept within
        a room); commands without rooms wait for those before them and run together under the global lock."""
        buckets: dict[int, list[_Pending]] = {}
        solo: list[_Pending] = []
        for pending in batch:
            rooms = pending.command.rooms()
            if rooms is None:
                await self._run_buckets(buckets)
                buckets = {}
                solo.append(pending)
                continue
            if solo:
                await self._execute(solo)
                solo = []
            key = min(lock_key(r) for r in rooms) % self.parallel if len(rooms) == 1 else -1
            buckets.setdefault(key, []).append(pending)
        await self._run_buckets(buckets)
        if solo:
            await self._execute(solo)

    async def _run_buckets(self, buckets: dict[int, list[_Pending]]) -> None:
        if len(buckets) == 1:
            await self._execute(next(iter(buckets.values())))
        elif buckets:
            await asyncio.gather(*(self._execute(b) for b in buckets.values()))

    async def _execute(self, batch: list[_Pending], reruns: int = _RERUNS) -> None:
        started = time.perf_counter()
        try:
            results, envelopes = await self._transaction([p.command for p in batch], [p.deferred for p in batch])
        except asyncio.CancelledError:
            for pending in batch:
                if not pending.future.done():
                    pending.future.cancel()
            raise
        except Exception as failure:
            if isinstance(failure, StaleDecision) and self.room_locks and reruns > 0:
                log.info("a batch of %d decided on rows changed since (%s); running it again", len(batch), failure)
                await self._execute(batch, reruns - 1)
                return
            self.failed_transactions += 1
            if len(batch) == 1:
                log.error("write failed", exc_info=failure)
                _settle(batch[0].future, failure)
                return
            # Something no single command could be blamed for inside the transaction (a bulk statement, the
            # outbox, the commit). Split in halves, in arrival order: the good half commits at once, the bad one
            # is split again, so one bad command costs about 2·log2(n) transactions, not one per command.
            log.warning("a batch of %d failed as a whole (%s: %s); splitting it in halves",
                        len(batch), type(failure).__name__, failure)
            half = len(batch) // 2
            await self._execute(batch[:half])
            await self._execute(batch[half:])
            return
        later = [p for p, r in zip(batch, results, strict=True) if r is _DEFERRED]
        for pending in later:
            pending.deferred += 1
        self._retry.extend(later)
        WRITER_COMMIT_SECONDS.observe(time.perf_counter() - started)
        WRITER_BATCH.observe(len(batch) - len(later))
        self.batches += 1
        self.commands += len(batch) - len(later)
        if self.sequencer is not None:  # answered once the sequencer has given the events their seqs
            self.sequencer.committed(lambda: _settle_all(batch, results))
            return
        if self.on_commit is not None and envelopes:
            self.on_commit(envelopes)
        _settle_all(batch, results)

    async def _transaction(self, commands: list[Command[Any]],
                           deferred: Sequence[int] = ()) -> tuple[list[Any], list[Envelope]]:
        held_from = 0.0  # since when this transaction holds what every writer shares (0: not yet)
        room_granted = 0.0  # when it got its room locks (room transactions only)
        try:
            async with self.engine.begin() as conn:
                tx = Tx(conn, self.clock())
                asked = time.perf_counter()
                rooms = _rooms(commands) if self.room_locks else None
                runnable = commands
                if rooms is not None:
                    tx.scoped = True
                    await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": WRITE_LOCK})
                    got = await take_rooms(conn, [_rooms_of(c) for c in commands], deferred)
                    runnable = [c for c in commands if _rooms_of(c) <= got]
                    if len(runnable) == len(commands):
                        runnable = commands
                    room_granted = time.perf_counter()
                    self.room_lock_wait_s += room_granted - asked
                    WRITER_ROOM_LOCK_WAIT_SECONDS.inc(room_granted - asked)
                else:
                    if self.room_locks:
                        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
                    else:
                        # Take SQLite's write lock first: what the batch reads (stock, counters) then stays true
                        # until its commit, even with another process writing the same file, and waiting is safe.
                        await conn.exec_driver_sql("BEGIN IMMEDIATE")
                    held_from = time.perf_counter()
                    self.lock_wait_s += held_from - asked
                    WRITER_LOCK_WAIT_SECONDS.inc(held_from - asked)
                ran: list[Any] = []
                for group in _groups(runnable):
                    ran.extend(await type(group[0]).run_batch(tx, group))
                results = ran if runnable is commands else _with_deferred(commands, runnable, ran)
                tail = time.perf_counter()
                for finish in tx.before_commit.values():
                    await finish()
                if rooms is not None:
                    # The tail: the rows other rooms share (stock, carrier days) were updated just now and stay
                    # locked to the commit: what an order of another room touching them would wait for. Counted
                    # from the last of those updates (updating them, and waiting for them, counts as waiting).
                    held_from = time.perf_counter()
                    self.lock_wait_s += held_from - tail
                    WRITER_LOCK_WAIT_SECONDS.inc(held_from - tail)
                if self.sequencer is not None:
                    await _append_pending(conn, tx)
                    return results, []
                return results, await _append_outbox(conn, tx)
        finally:
            ended = time.perf_counter()
            if held_from:  # held until the commit (or the rollback) has returned: the locks go with it
                self.lock_held_s += ended - held_from
                WRITER_LOCK_HELD_SECONDS.inc(ended - held_from)
            if room_granted:
                self.room_lock_held_s += ended - room_granted
                WRITER_ROOM_LOCK_HELD_SECONDS.inc(ended - room_granted)


def _rooms_of(command: Command[Any]) -> frozenset[str]:
    return command.rooms() or frozenset()


def _with_deferred(commands: list[Command[Any]], runnable: list[Command[Any]], ran: list[Any]) -> list[Any]:
    by_command = dict(zip(map(id, runnable), ran, strict=True))
    return [by_command.get(id(c), _DEFERRED) for c in commands]


def _rooms(commands: list[Command[Any]]) -> frozenset[str] | None:
    """The rooms a transaction of these commands locks, or None when one of them needs the global lock."""
    found: set[str] = set()
    for command in commands:
        rooms = command.rooms()
        if rooms is None:
            return None
        found |= rooms
    return frozenset(found)


def _groups(commands: list[Command[Any]]) -> list[list[Command[Any]]]:
    groups: list[list[Command[Any]]] = []
    for command in commands:
        group = type(command).batch_group
        if groups and group is not None and type(groups[-1][0]).batch_group == group:
            groups[-1].append(command)
        else:
            groups.append([command])
    return groups


async def _append_outbox(conn: AsyncConnection, tx: Tx) -> list[Envelope]:
    if not tx.events:
        return []
    records = [to_record(e) for e in tx.events]
    # SQLite: one multi-row INSERT; under the file's one writer its rows take consecutive seqs in the order given,
    # so the sorted seqs pair with the records in order. (Asking SQLAlchemy to keep parameter order instead turns
    # this into one INSERT per row.)
    result = await conn.execute(
        insert(models.outbox).returning(models.outbox.c.seq),
        [{"kind": r["kind"], "payload": r, "created_at": tx.now} for r in records])
    return list(zip(sorted(row.seq for row in result), records, strict=True))


async def _append_pending(conn: AsyncConnection, tx: Tx) -> None:
    """PostgreSQL: the events into outbox_pending as one row, the transaction's last statement (store/sequencer.py
    says why it must come last; one row keeps the tail, where shared rows are held, short)."""
    if tx.events:
        await conn.execute(insert(models.outbox_pending),
                           {"events": [to_record(e) for e in tx.events], "created_at": tx.now})


def _settle_all(batch: list[_Pending], results: list[Any]) -> None:
    for pending, result in zip(batch, results, strict=True):
        if result is not _DEFERRED:
            _settle(pending.future, result)


def _settle(future: asyncio.Future[Any], result: Any) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)
