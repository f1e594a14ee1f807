"""Small SQL helpers that read the same on SQLite and PostgreSQL (both speak INSERT ... ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, Text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection


async def snapshot_transaction(conn: AsyncConnection) -> None:
    """Make every read on `conn` see one moment of the database."""
    if conn.dialect.name == "postgresql":
        await conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    elif conn.dialect.name == "sqlite":
        # The driver opens a transaction only before a write; a read transaction in WAL mode is a snapshot
        # from its first read on, so open one explicitly.
        await conn.exec_driver_sql("BEGIN")


def _insert(conn: AsyncConnection, table: Table) -> Any:
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


async def upsert(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    update: Sequence[str],
) -> None:
    """Insert rows, or set `update` columns on rows whose `keys` already exist."""
    if not rows:
        return
    await conn.execute(_conflict_statement(conn, table, tuple(keys), tuple(update), add=False), list(rows))


async def insert_missing(
    conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]
) -> None:
    await upsert(conn, table, rows, keys, ())


async def accumulate(
    conn: AsyncConnection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    keys: Sequence[str],
    columns: Sequence[str],
) -> None:
    """Insert rows, or add their `columns` to the existing row's (counters kept in SQL: `col = col + excluded.col`)."""
    if not rows:
        return
    await conn.execute(_conflict_statement(conn, table, tuple(keys), tuple(columns), add=True), list(rows))


_CONFLICT: dict[tuple[str, str, tuple[str, ...], tuple[str, ...], bool], Any] = {}


def _conflict_statement(
    conn: AsyncConnection, table: Table, keys: tuple[str, ...], columns: tuple[str, ...], *, add: bool
) -> Any:
    """INSERT ... ON CONFLICT for these keys: set `columns` to the new values (or add them, `add`), or do nothing
    when there are none. Built once per shape: building one (its `excluded` alias) costs ~0.4 ms, more than
    running it, and the writer runs several per commit."""
    cache_key = (conn.dialect.name, table.name, keys, columns, add)
    statement = _CONFLICT.get(cache_key)
    if statement is None:
        statement = _insert(conn, table)
        if not columns:
            statement = statement.on_conflict_do_nothing(index_elements=list(keys))
        elif add:
            statement = statement.on_conflict_do_update(
                index_elements=list(keys),
                set_={name: table.c[name] + statement.excluded[name] for name in columns},
            )
        else:
            statement = statement.on_conflict_do_update(
                index_elements=list(keys), set_={name: statement.excluded[name] for name in columns}
            )
        _CONFLICT[cache_key] = statement
    return statement


async def guarded_update(conn: AsyncConnection, statement: Any, rows: Sequence[dict[str, Any]]) -> bool:
    """Run a conditional UPDATE for each row; True only when every row matched exactly one row.

    SQLite reports the summed row count of an executemany; asyncpg does not (it answers -1), so there each row
    runs on its own. Either way a row whose condition fails (not enough stock, quota used up) is seen.
    """
    if not rows:
        return True
    if conn.dialect.name == "sqlite":
        return (await conn.execute(statement, list(rows))).rowcount == len(rows)
    for row in rows:
        if (await conn.execute(statement, row)).rowcount != 1:
            return False
    return True


# (SQL text, [(key, bind processor or None), ...]) per table, key set and dialect; None when a column would need
# a Python-side default computed by SQLAlchemy at execution time (then the plain insert is used).
_Plan = tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]
_PLANS: dict[tuple[str, tuple[str, ...], str], _Plan | None] = {}


def _insert_plan(table: Table, keys: tuple[str, ...], dialect: Dialect) -> _Plan | None:
    cache_key = (table.name, keys, dialect.name)
    if cache_key not in _PLANS:
        compiled: Any = table.insert().compile(dialect=dialect, column_keys=list(keys))
        # `_bind_processors` is SQLAlchemy's private attribute (pinned in pyproject.toml): should it go, the plain
        # insert is used, and /healthz says `precompiled_insert: false`.
        processors = getattr(compiled, "_bind_processors", None)
        positions = getattr(compiled, "positiontup", None)
        if compiled.insert_prefetch or processors is None or positions is None or sorted(positions) != sorted(keys):
            _PLANS[cache_key] = None
        else:
            _PLANS[cache_key] = (compiled.string, [(key, processors.get(key)) for key in positions])
    return _PLANS[cache_key]


_PROBE = Table("liveroom_probe", MetaData(), Column("id", Integer, primary_key=True), Column("name", Text),
               Column("at", DateTime(timezone=True)))


def precompiled_insert_works(dialect: Dialect) -> bool:
    """Whether `insert_many` takes its precompiled path on `dialect` (asked for /healthz): a table of the shapes
    liveroom writes, compiled the way `insert_many` compiles, with a bind processor found for its datetime."""
    plan = _insert_plan(_PROBE, ("id", "name", "at"), dialect)
    return plan is not None


async def insert_many(conn: AsyncConnection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT rows that all have the same keys, as one executemany of SQLAlchemy's own SQL for the dialect.

    `conn.execute(table.insert(), rows)` builds and converts every row's parameters through the statement
    compiler; under a burst that was a fifth of the writer's time. Here the SQL and each column's bind
    processor (the same conversions: UTC datetimes, JSON) are worked out once per table and key set, and a
    datetime shared by many rows of a batch (the batch's clock reading) is converted once.
    """
    if not rows:
        return
    keys = tuple(rows[0])
    plan = _insert_plan(table, keys, conn.dialect)
    if plan is None or any(len(row) != len(keys) for row in rows):
        await conn.execute(table.insert(), list(rows))
        return
    sql, columns = plan
    converted: dict[datetime, Any] = {}

    def bind(value: Any, process: Callable[[Any], Any] | None) -> Any:
        if process is None:
            return value
        if type(value) is datetime:
            if value not in converted:
                converted[value] = process(value)
            return converted[value]
        return process(value)

    await conn.exec_driver_sql(sql, [tuple(bind(row[key], process) for key, process in columns) for row in rows])
