"""Small SQL helpers that read the same on SQLite and PostgreSQL (both speak INSERT ... ON CONFLICT)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection


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
    statement = _insert(conn, table)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys), set_={name: statement.excluded[name] for name in update}
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await conn.execute(statement, list(rows))


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
    statement = _insert(conn, table)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys), set_={name: table.c[name] + statement.excluded[name] for name in columns}
    )
    await conn.execute(statement, list(rows))


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
