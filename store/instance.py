"""Secrets the instance makes up for itself when the environment gives none.

Every process that shares the database then agrees on them: the CLI can mint a screen token the server accepts,
and a second server process accepts the first one's tokens. A configured LIVEROOM_SECRET / LIVEROOM_API_KEY wins.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from store import models
from store.sql import insert_missing

S = TypeVar("S", bound=Any)  # a frozen settings dataclass with `secret` and `api_key` (server.settings.Settings)


async def resolve_secrets(engine: AsyncEngine, settings: S) -> S:
    """`settings` with a missing `secret` or `api_key` filled from the instance table (made up once)."""
    wanted = {"secret": settings.secret, "api_key": settings.api_key}
    missing = [key for key, value in wanted.items() if not value]
    if not missing:
        return settings
    async with engine.begin() as conn:
        await insert_missing(
            conn,
            models.instance,
            [{"key": key, "value": secrets.token_urlsafe(32)} for key in missing],
            ["key"],
        )
        rows = await conn.execute(select(models.instance).where(models.instance.c.key.in_(missing)))
        stored = {row.key: row.value for row in rows}
    return replace(settings, **{key: stored[key] for key in missing})
