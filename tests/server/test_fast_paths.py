"""The speed tricks that read a library's internals are fenced in: /healthz says whether each is in force, so an
upgrade that silently turned one off (pyproject.toml pins the versions) fails here instead of only slowing down."""

from __future__ import annotations

from pathlib import Path

import httpx
from live import live_server, serve_process, watch
from seed import SECRET

from domain import tokens


async def test_liveroom_serve_runs_with_every_fast_path_switched_on(tmp_path: Path) -> None:
    database = f"sqlite+aiosqlite:///{tmp_path / 'fast.db'}"
    with serve_process(database) as url:
        screen = await watch(
            url.replace("http://", "ws://") + "/ws", ["ops"], tokens.mint(SECRET, "ops", "-")
        )
        try:
            await screen.wait_for(lambda frame: frame["kind"] == "snapshot")
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                health = (await client.get("/healthz")).json()
        finally:
            await screen.close()
    assert health["fast_paths"] == {
        "direct_writes": True,  # the ops screen above got pre-encoded frames written to uvicorn's transport
        "inline_sqlite": True,
        "precompiled_insert": True,
        "http_parser": "httptools",
        "event_loop": "uvloop",
    }


async def test_healthz_reports_the_fallbacks_a_server_really_runs_on(tmp_path: Path) -> None:
    """The answers come from the live objects, not constants: a server told to use h11, in the tests' own
    asyncio loop, says so; before any screen attached, nobody knows yet whether writes go direct."""
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'slow.db'}", parser="h11") as live:
        paths = (await live.http.get("/healthz")).json()["fast_paths"]
    assert paths["http_parser"] == "h11"
    assert paths["event_loop"] == "asyncio"
    assert paths["direct_writes"] is None
    assert paths["inline_sqlite"] is True
