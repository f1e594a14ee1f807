"""SQLite for the async engine without a thread hop: the `aiosqlite` surface SQLAlchemy uses, run inline.

aiosqlite runs every call on a worker thread and hands the answer back through the event loop. For a writer that
issues a few dozen short statements per group commit, that hop costs far more than SQLite itself: measured here,
a point SELECT took ~30 µs called directly and ~450 µs of CPU through aiosqlite (thread wake-ups, GIL hand-over,
the loop's self-pipe). SQLite's own calls are microseconds, so this module runs them on the event loop's thread
and gives SQLAlchemy's `sqlite+aiosqlite` dialect the same awaitable API (`create_engine(module=...)`).

The one call that could block for long is taking SQLite's write lock while another *process* holds it. The
connection's busy timeout is therefore short (`BUSY_SLICE_MS`), and a statement refused with "database is locked"
is retried after an `await asyncio.sleep`, so the loop keeps serving until `timeout` seconds have passed — the
same total patience as before, without freezing the process. `_patiently` says when a retry is safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Generator, Iterable, Sequence
from functools import partial
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_dbapi

__version__ = "inline-1"
BUSY_SLICE_MS = 50
opened = 0  # connections this module opened in this process: /healthz's proof that SQLAlchemy runs on it

# What SQLAlchemy's adapter reads off the module it is given.
DatabaseError = sqlite3.DatabaseError
Error = sqlite3.Error
IntegrityError = sqlite3.IntegrityError
NotSupportedError = sqlite3.NotSupportedError
OperationalError = sqlite3.OperationalError
ProgrammingError = sqlite3.ProgrammingError
sqlite_version = sqlite3.sqlite_version
sqlite_version_info = sqlite3.sqlite_version_info


def _is_busy(error: sqlite3.OperationalError) -> bool:
    text = str(error).lower()
    return "database is locked" in text or "database is busy" in text


async def _patiently(call: Callable[[], Any], conn: sqlite3.Connection, timeout: float) -> Any:
    """Run `call`; while SQLite answers busy, wait without blocking the loop and try again.

    Only a statement that opened no transaction of its own can simply be tried again. In the sqlite3 module's
    default mode a first INSERT opens one implicitly (BEGIN), and a refused one may leave it holding a read snapshot
    that is stale by the time the other process commits: such a transaction is rolled back — it holds nothing yet —
    before the retry. A statement refused inside a transaction that was already open cannot succeed by waiting
    (its snapshot predates the other writer's commit): the error goes to the caller, who retries the whole
    transaction. The writer avoids that case by starting with BEGIN IMMEDIATE (store/uow.py)."""
    was_open = conn.in_transaction
    try:
        return call()
    except sqlite3.OperationalError as error:
        if not _is_busy(error) or was_open:
            raise
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause = 0.002
    while True:
        if conn.in_transaction:
            conn.rollback()
        await asyncio.sleep(pause)
        try:
            return call()
        except sqlite3.OperationalError as error:
            if not _is_busy(error) or loop.time() >= deadline:
                raise
        pause = min(pause * 2, 0.05)


class Cursor:
    def __init__(self, connection: Connection) -> None:
        self._owner = connection
        self._cursor = connection._conn.cursor()

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    def __aiter__(self) -> Cursor:
        return self

    async def __anext__(self) -> Any:
        row = self._cursor.fetchone()
        if row is None:
            raise StopAsyncIteration
        return row

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> Cursor:
        args = (sql,) if parameters is None else (sql, parameters)
        await _patiently(partial(self._cursor.execute, *args), self._owner.raw, self._owner.timeout)
        return self

    async def executemany(self, sql: str, seq_of_parameters: Iterable[Any]) -> Cursor:
        rows = list(seq_of_parameters)  # a retry must see every row again
        await _patiently(partial(self._cursor.executemany, sql, rows), self._owner.raw, self._owner.timeout)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def close(self) -> None:
        self._cursor.close()


class _DaemonFlag:
    """SQLAlchemy marks the driver's worker thread as a daemon; there is no thread here."""

    daemon = True


class _Immediate:
    """Stands in for aiosqlite's request queue: SQLAlchemy's isolation-level setter puts (future, fn) on it."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as error:  # handed to the awaiting caller, as aiosqlite does
            future.set_exception(error)


class Connection:
    _thread = _DaemonFlag()

    def __init__(self, database: str, *, timeout: float = 30.0, **kwargs: Any) -> None:
        self.database = database
        self.timeout = float(timeout)
        self._kwargs = kwargs
        self._conn: sqlite3.Connection | None = None
        self._tx = _Immediate()

    def __await__(self) -> Generator[Any, None, Connection]:
        if self._conn is None:
            options = {"check_same_thread": False, **self._kwargs, "timeout": BUSY_SLICE_MS / 1000}
            self._conn = sqlite3.connect(self.database, **options)
            global opened
            opened += 1
        return self
        yield  # pragma: no cover - makes this a generator; connecting never suspends

    @property
    def _connection(self) -> sqlite3.Connection | None:
        return self._conn

    @property
    def raw(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ValueError("no active connection")
        return self._conn

    @property
    def isolation_level(self) -> str | None:
        assert self._conn is not None
        return self._conn.isolation_level

    @property
    def in_transaction(self) -> bool:
        return self._conn is not None and self._conn.in_transaction

    def cursor(self) -> Cursor:
        if self._conn is None:
            raise ValueError("no active connection")
        return Cursor(self)

    async def execute(self, sql: str, parameters: Sequence[Any] | None = None) -> Cursor:
        cursor = self.cursor()
        return await cursor.execute(sql, parameters)

    async def commit(self) -> None:
        if self._conn is None:
            raise ValueError("no active connection")
        await _patiently(self._conn.commit, self._conn, self.timeout)

    async def rollback(self) -> None:
        if self._conn is None:
            raise ValueError("no active connection")
        self._conn.rollback()

    async def close(self) -> None:
        if self._conn is None:
            raise ValueError("connection closed")
        conn, self._conn = self._conn, None
        conn.close()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        assert self._conn is not None
        self._conn.create_function(*args, **kwargs)


def connect(database: str, **kwargs: Any) -> Connection:
    return Connection(database, **kwargs)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The module object to pass as `create_async_engine(..., module=...)` for a `sqlite+aiosqlite` URL."""
    import sys

    return AsyncAdapt_aiosqlite_dbapi(sys.modules[__name__], sqlite3)
