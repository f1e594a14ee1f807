"""Real parts for integration tests: a PostgreSQL server started from the installed binaries in a temp dir, and a
Redis server on a free loopback port. Where one cannot start, `pytest.skip` says exactly why."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


class Postgres:
    def __init__(self, port: int, host_dir: str) -> None:
        self.port = port
        self.host_dir = host_dir
        self._counter = 0

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        self._counter += 1
        name = f"t{os.getpid()}_{self._counter}"
        psql = _pg_bin("psql")
        assert psql is not None
        subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-q",
                "-c",
                f"CREATE DATABASE {name}",
            ],
            check=True,
            capture_output=True,
        )
        return self.url(name)


@contextmanager
def postgres_server() -> Iterator[Postgres]:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl or not _pg_bin("psql"):
        pytest.skip(
            "PostgreSQL tests skipped: no initdb/pg_ctl/psql binaries installed (apt-get install postgresql)"
        )
    root = tempfile.mkdtemp(prefix="liveroom-pg-")
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres (or nobody) user
        user = "postgres" if _has_user("postgres") else "nobody"
        shutil.chown(root, user)
        prefix = ["runuser", "-u", user, "--"]
    data, port = str(Path(root) / "data"), free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C"],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                data,
                "-l",
                str(Path(root) / "log"),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError) as failure:
        detail = getattr(failure, "stderr", b"") or b""
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(
            f"PostgreSQL tests skipped: server did not start: {failure} {detail.decode(errors='replace')}"
        )
    try:
        yield Postgres(port, root)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", data, "-m", "immediate", "stop"], capture_output=True)
        # A run leaves hundreds of databases (a new one per test): removing their hundreds of thousands of files
        # took minutes at the end of the session, so it goes on in the background while pytest exits.
        subprocess.Popen(
            ["rm", "-rf", root], start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start_redis(port: int, workdir: str | Path) -> subprocess.Popen[bytes] | None:
    """An empty redis-server (no persistence) on `port`; None if it does not accept connections within 10 s."""
    binary = shutil.which("redis-server")
    assert binary is not None
    Path(workdir).mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.terminate()
    return None


@contextmanager
def redis_server() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        pytest.skip("Redis tests skipped: no redis-server binary installed (apt-get install redis-server)")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="liveroom-redis-")
    process = start_redis(port, workdir)
    if process is None:
        pytest.skip("Redis tests skipped: redis-server did not accept connections within 10 s")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
