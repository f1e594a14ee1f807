"""One production topology for the deploy tests (they share it, to stay within ~90 s): PostgreSQL, Redis, three
`liveroom serve` processes and nginx with deploy/nginx/liveroom.conf in front, all from the installed binaries on
loopback. Anything that cannot start skips the tests with the reason."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from live import SeedClient
from realparts import Postgres, redis_server
from seed import API_KEY, seed_catalog
from topology import BULK, Fleet, Topology, nginx_binary, nginx_server

PROCESSES = 3


async def _seed(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30) as http:
        svc = SeedClient(http)
        await seed_catalog(svc)
        from seed import ROOM

        created = await http.put(f"/api/v1/skus/{BULK}", json={"name": "龙井 整箱", "price_cents": 9_900,
                                                                 "category": "snacks"})
        assert created.status_code in (200, 201), created.text
        stocked = await http.put(f"/api/v1/skus/{BULK}/stock/SH", json={"on_hand": 1_000_000})
        assert stocked.status_code in (200, 201), stocked.text
        room = await http.put("/api/v1/rooms/room-1", json={**ROOM, "skus": [*ROOM["skus"], BULK]})
        assert room.status_code in (200, 201), room.text


@pytest.fixture(scope="module")
def topology(pg: Postgres) -> Iterator[Topology]:
    if nginx_binary() is None:
        pytest.skip("deploy tests skipped: no nginx binary installed (apt-get install nginx; `make test` does)")
    database = pg.create_database()
    with redis_server() as redis_url:
        env = {
            "LIVEROOM_REDIS_URL": redis_url,
            # Everything arrives from nginx's address: the per-address limits are nginx's (deploy/systemd/liveroom.env).
            "LIVEROOM_MAX_CONNECTIONS_PER_ADDRESS": "10000",
            "LIVEROOM_WS_PER_ADDRESS": "10000",
        }
        fleet = Fleet(database, env, PROCESSES)
        try:
            for index in range(PROCESSES):
                fleet.start(index)
            with nginx_server(fleet.ports) as url:
                asyncio.run(_seed(url))
                yield Topology(url, fleet)
        finally:
            fleet.close()
