"""The real parts a multi-process benchmark needs: a PostgreSQL server started from the installed binaries in a temp
dir, and an empty redis-server, both on free loopback ports. Where one cannot start, `Unavailable` says exactly why
(the smoke test turns that into a skip; `make bench` reports it as the benchmark's failure).

The one implementation of both: tests/support/realparts.py adapts it for the tests (an `Unavailable` becomes
pytest's skip, PostgreSQL runs without fsync); the bench never imports the tests.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.common import HOST, cpu_seconds, free_port


class Unavailable(RuntimeError):
    """A real part could not be started on this machine (not installed, or it refused to start)."""


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@dataclass
class Postgres:
    port: int
    data: Path
    name_prefix: str = "bench"
    _made: int = 0

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@{HOST}:{self.port}/{database}"

    def create_database(self) -> str:
        self._made += 1
        name = f"{self.name_prefix}{os.getpid()}_{self._made}"
        psql = _pg_bin("psql")
        assert psql is not None
        subprocess.run([psql, "-h", HOST, "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-q", "-c",
                        f"CREATE DATABASE {name}"], check=True, capture_output=True)
        return self.url(name)

    def pids(self) -> list[int]:
        """The postmaster and every process it started (backends, WAL writer, checkpointer...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        found = [postmaster]
        for stat in glob.glob("/proc/[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int(Path(stat).read_text().rsplit(")", 1)[1].split()[1]) == postmaster:
                    found.append(int(stat.split("/")[2]))
        return found

    def cpu_seconds(self) -> dict[int, float]:
        """CPU used so far by each of its processes (pid → seconds)."""
        used: dict[int, float] = {}
        for pid in self.pids():
            with contextlib.suppress(OSError):
                used[pid] = cpu_seconds(pid)
        return used


@contextlib.contextmanager
def postgres_server(*, durable: bool = True, name_prefix: str = "bench",
                    remove_in_background: bool = False) -> Iterator[Postgres]:
    """A fresh cluster. `durable`: PostgreSQL's defaults (fsync, synchronous commit: a commit waits for its WAL to
    reach the disk, as in production); otherwise fsync and synchronous commit off (fast, for tests).
    `remove_in_background`: its files are removed by a detached `rm` (a test session leaves hundreds of databases,
    whose hundreds of thousands of files took minutes to remove at exit)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not initdb or not pg_ctl or not _pg_bin("psql"):
        raise Unavailable("no initdb/pg_ctl/psql binaries installed (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="liveroom-bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres (or nobody) user
        user = "postgres" if _has_user("postgres") else "nobody"
        shutil.chown(root, user)
        prefix = ["runuser", "-u", user, "--"]
    data, port = root / "data", free_port()
    options = f"-p {port} -k {root} -c listen_addresses={HOST} -c max_connections=200"
    if not durable:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    try:
        subprocess.run([*prefix, initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C"], check=True, capture_output=True)
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-t", "60", "-o", options,
                        "start"], check=True, capture_output=True)
    except (subprocess.CalledProcessError, OSError) as failure:
        detail = (getattr(failure, "stderr", b"") or b"").decode(errors="replace")
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"PostgreSQL did not start: {failure} {detail}") from failure
    try:
        yield Postgres(port, data, name_prefix)
    finally:
        subprocess.run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        if remove_in_background:
            subprocess.Popen(["rm", "-rf", str(root)], start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        else:
            shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def start_redis(port: int, workdir: str | Path) -> subprocess.Popen[bytes] | None:
    """An empty redis-server (no persistence) on `port`; None if it does not accept connections within 10 s."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise Unavailable("no redis-server binary installed (apt-get install redis-server)")
    Path(workdir).mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen([binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                                "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return process
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.terminate()
                return None
            time.sleep(0.05)


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """An empty redis-server without persistence; its URL without the database number (add `/N`)."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="liveroom-redis-")
    process = start_redis(port, workdir)
    if process is None:
        shutil.rmtree(workdir, ignore_errors=True)
        raise Unavailable("redis-server did not accept connections within 10 s")
    try:
        yield f"redis://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)
