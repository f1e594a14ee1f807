"""Real parts for integration tests: a PostgreSQL server started from the installed binaries in a temp dir, and a
Redis server on a free loopback port — bench/services.py's, the one implementation. Where one cannot start,
`pytest.skip` says exactly why. PostgreSQL runs here without fsync (tests prove rules, not durability timings)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from subprocess import Popen

import pytest

from bench import services
from bench.common import free_port
from bench.services import Postgres

__all__ = ["Postgres", "free_port", "postgres_server", "redis_server", "start_redis"]


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    try:
        with services.postgres_server(durable=False, name_prefix="t", remove_in_background=True) as server:
            yield server
    except services.Unavailable as missing:
        pytest.skip(f"PostgreSQL tests skipped: {missing}")


def start_redis(port: int, workdir: str | Path) -> Popen[bytes] | None:
    """An empty redis-server (no persistence) on `port`; None if it does not accept connections within 10 s."""
    return services.start_redis(port, workdir)


@contextmanager
def redis_server() -> Iterator[str]:
    try:
        with services.redis_server() as url:
            yield f"{url}/0"
    except services.Unavailable as missing:
        pytest.skip(f"Redis tests skipped: {missing}")
