"""Service fixtures: the real app (lifespan, writer, database) on SQLite and on a real PostgreSQL server.

Every service test that takes `service` runs twice: `[sqlite]` on a fresh SQLite file, `[postgresql]` on a fresh
database of a PostgreSQL server started from the installed binaries (skipped with the reason where none exist).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, SECRET, START
from sqlalchemy import func, select

from liveroom.app import create_app
from server.clock import ManualClock
from server.context import AppContext
from server.settings import Settings
from store import models
from store.migrate import upgrade


@dataclass
class Service:
    client: httpx.AsyncClient
    ctx: AppContext
    clock: ManualClock
    app: Any = None  # the Starlette app (its realtime read models: app.state.realtime)

    async def counts(self) -> dict[str, int]:
        """Rows per table: a refused request must leave every count as it was."""
        async with self.ctx.engine.connect() as conn:
            return {
                t.name: (await conn.execute(select(func.count()).select_from(t))).scalar_one()
                for t in models.metadata.sorted_tables
            }

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(path, json=body)

    async def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, json=body, **kwargs)


def test_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        api_key=API_KEY,
        secret=SECRET,
        kdniao_appkey=KDNIAO_APPKEY,
        kuaidi100_salt=KUAIDI100_SALT,
        public_url="http://liveroom.test",
    )


@pytest.fixture
async def service(database_url: str) -> AsyncIterator[Service]:
    upgrade(database_url)
    clock = ManualClock(START)
    app = create_app(test_settings(database_url), clock=clock, run_scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://liveroom.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client:
            yield Service(client, app.state.ctx, clock, app)
