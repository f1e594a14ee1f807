"""Engines: SQLite (WAL, busy_timeout, foreign keys) by default, PostgreSQL through asyncpg for scale."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from store import inline_sqlite


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` with the connection settings liveroom relies on."""
    options: dict[str, Any] = {"json_serializer": _json_dumps, "json_deserializer": orjson.loads}
    if is_sqlite(url):
        # SQLite runs inline on the event loop's thread (store/inline_sqlite.py); `timeout` is how long a
        # statement keeps retrying, without blocking the loop, while another process holds the write lock.
        options["connect_args"] = {"timeout": 30}
        if make_url(url).get_driver_name() == "aiosqlite":
            options["module"] = inline_sqlite.dbapi()
    else:
        options.update(pool_size=10, max_overflow=10, pool_pre_ping=True)
    options.update(kwargs)
    engine = create_async_engine(url, **options)
    if is_sqlite(url):
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def inline_sqlite_active(engine: AsyncEngine) -> bool | None:
    """Whether SQLite runs on server/db/inline_sqlite.py (None: not SQLite): it has opened the connections, so
    a SQLAlchemy that stopped taking the stand-in module shows here (/healthz). A counter: no I/O."""
    if engine.dialect.name != "sqlite":
        return None
    return inline_sqlite.opened > 0


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; NORMAL sync is durable across process crashes in WAL mode.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={inline_sqlite.BUSY_SLICE_MS}")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
