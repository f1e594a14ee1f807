"""Alembic environment: async engines (aiosqlite, asyncpg), schema from store.models."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from store.engine import create_engine
from store.models import metadata

target_metadata = metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copy
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    engine = create_engine(context.config.get_main_option("sqlalchemy.url") or "")
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(_online())
    else:  # called from inside a running loop (tests, serve): run in a fresh loop on a helper thread
        import threading

        errors: list[BaseException] = []

        def _thread() -> None:
            try:
                asyncio.run(_online())
            except BaseException as exc:
                errors.append(exc)

        worker = threading.Thread(target=_thread)
        worker.start()
        worker.join()
        if errors:
            raise errors[0]
