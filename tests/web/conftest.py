"""Browser tests: real Chromium (Debian's, never downloaded) driven by Playwright against a real server."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from live import LiveServer, SeedClient, live_server
from seed import seed_catalog

CHROMIUM = os.environ.get("LIVEROOM_CHROMIUM", "/usr/bin/chromium")
# As root on a machine with no network: no sandbox, and none of Chromium's own background calls home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-sync",
    "--disable-background-networking",
    "--disable-component-update",
    "--font-render-hinting=none",
]


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip(f"browser tests skipped: no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'screens.db'}") as server:
        await seed_catalog(SeedClient(server.http))
        yield server
