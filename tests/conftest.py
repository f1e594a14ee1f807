from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Shared test helpers (seed, realparts, live) are imported by plain name from every test folder. Only their own
# folder goes on the path: tests/ itself holds a `server` folder that must never shadow the real package.
SUPPORT = Path(__file__).resolve().parent / "support"
if str(SUPPORT) not in sys.path:
    sys.path.insert(0, str(SUPPORT))

from realparts import Postgres, postgres_server  # noqa: E402  (after the path above)


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    """One PostgreSQL server for the whole run, started from the installed binaries in a temp dir."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> str:
    """A fresh database: `[sqlite]` a new SQLite file, `[postgresql]` a new database on the shared server."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'liveroom.db'}"
    server: Postgres = request.getfixturevalue("pg")
    return server.create_database()
