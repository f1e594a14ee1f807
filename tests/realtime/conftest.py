"""The real app (lifespan, writer, database) on SQLite and on a real PostgreSQL, with every committed envelope
recorded, for the projection tests: they feed those envelopes to read models of their own, as a Follower would.

Every test that takes `recorded_app` runs twice: `[sqlite]` on a fresh SQLite file, `[postgresql]` on a fresh
database of a PostgreSQL server started from the installed binaries (skipped with the reason where none exist).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import LiveServer, SeedClient, live_server
from realparts import redis_server
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, SECRET, START, seed_catalog

from liveroom.app import create_app
from realtime.projections import Projections
from server.clock import ManualClock
from server.context import AppContext
from server.settings import Settings
from store.migrate import upgrade

Envelope = tuple[int, dict[str, Any]]


@dataclass
class RecordedApp:
    client: httpx.AsyncClient
    ctx: AppContext
    clock: ManualClock
    committed: list[Envelope] = field(default_factory=list)
    fed: int = 0  # how many of `committed` were handed to `follow` so far
    realtime: Any = None  # the app's own realtime (its follower and process mark)

    @property
    def engine(self) -> Any:
        return self.ctx.engine

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(path, json=body)

    async def post(self, path: str, body: dict[str, Any] | None = None, **kwargs: Any) -> httpx.Response:
        return await self.client.post(path, json=body, **kwargs)

    async def follow(self, *views: Projections) -> set[str]:
        """Do what a Follower does: apply what was committed since the last call, in order, then refresh."""
        dirty: set[str] = set()
        for projections in views:
            for seq, record in self.committed[self.fed :]:
                dirty |= projections.apply(seq, record)
            if projections.needs_refresh:
                dirty |= await projections.refresh(self.engine)
        self.fed = len(self.committed)
        return dirty


@pytest.fixture
async def recorded_app(database_url: str) -> AsyncIterator[RecordedApp]:
    upgrade(database_url)
    clock = ManualClock(START)
    settings = Settings(
        database_url=database_url,
        api_key=API_KEY,
        secret=SECRET,
        kdniao_appkey=KDNIAO_APPKEY,
        kuaidi100_salt=KUAIDI100_SALT,
        public_url="http://liveroom.test",
    )
    app = create_app(settings, clock=clock, run_scheduler=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://liveroom.test",
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as client:
            recorded = RecordedApp(client, app.state.ctx, clock)
            recorded.realtime = getattr(app.state, "realtime", None)
            writer = recorded.ctx.writer
            forward = writer.on_commit  # the app's own realtime keeps running beside the recording

            def record(envelopes: list[Envelope]) -> None:
                recorded.committed.extend(envelopes)
                if forward is not None:
                    forward(envelopes)

            writer.on_commit = record
            yield recorded


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A real redis-server of this test's own on a free loopback port (skipped, with the reason, when none starts)."""
    with redis_server() as url:
        yield url


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    """A real `liveroom serve` on a fresh SQLite file, its catalog seeded through the API."""
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as server:
        await seed_catalog(SeedClient(server.http))
        yield server
