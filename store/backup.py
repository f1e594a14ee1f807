"""`liveroom backup PATH` and `liveroom restore PATH` for the SQLite database (README, "Data that lasts").

Backup: SQLite's online backup API (sqlite3 Connection.backup), a few hundred pages per step with a short sleep
between steps so the server's writer is never starved. The source connection holds one read transaction for the
whole copy: in WAL mode it does not block writers, and the copy is the database exactly as it was when the backup
started (every order acknowledged before then, nothing half-written after), instead of restarting at every commit.
The copy is written beside PATH and renamed onto it once complete and checked.

Restore: refuses while a server runs on the target. Every server process holds a shared lock (flock) on the sidecar
`<db>.lock` for its lifetime (`live_lock`, taken in the app's lifespan); restore takes it exclusively without
waiting and refuses when it cannot. The backup must be a liveroom database at a migration this version knows; the
target's stale -wal/-shm are removed, the backup copied in (through the backup API again), then migrated up.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import time
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from store.engine import is_sqlite

PAGES_PER_STEP = 256  # 1 MiB with 4 KiB pages
PAUSE_S = 0.005  # between steps: the writer takes its turn
PG_DUMP = 'pg_dump -Fc -f liveroom.dump "${LIVEROOM_DATABASE_URL/+asyncpg/}"'
PG_RESTORE = 'pg_restore --clean --if-exists -d "${LIVEROOM_DATABASE_URL/+asyncpg/}" liveroom.dump'
LIVEROOM_TABLES = ("outbox", "orders", "rooms", "alembic_version")


class Refused(Exception):
    """The command will not do it; the message says why (printed as it is, exit status 2)."""


def database_file(url: str) -> Path | None:
    """The SQLite file of `url`; None when `url` is not SQLite. An in-memory database is refused."""
    if not is_sqlite(url):
        return None
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        raise Refused(f"{url} is not a database file")
    return Path(database)


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


# --- the live lock ----------------------------------------------------------------------------------------------

def live_lock(url: str, *, wait_s: float = 30.0) -> IO[bytes] | None:
    """Taken by a running server for its lifetime (a shared lock: every process of the database holds one; closing
    the handle, or the process ending, releases it). Waits up to `wait_s` while a restore holds it exclusively.
    None: nothing to lock (PostgreSQL, an in-memory database)."""
    try:
        db = database_file(url)
    except Refused:
        db = None
    if db is None:
        return None
    handle = open(lock_path(db), "ab")  # noqa: SIM115 (the server closes it when it stops)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return handle
        except BlockingIOError:
            if time.monotonic() > deadline:
                handle.close()
                raise RuntimeError(f"{db} is being restored (its lock {lock_path(db)} is held)") from None
            time.sleep(0.1)


# --- backup -----------------------------------------------------------------------------------------------------

def backup(url: str, target: Path, *, force: bool = False, pages: int = PAGES_PER_STEP,
           pause_s: float = PAUSE_S) -> int:
    """Copy the database of `url` to `target` while it is in use. Returns the number of pages copied."""
    db = database_file(url)
    if db is None:
        raise Refused("liveroom backup copies a SQLite database; back up PostgreSQL with pg_dump:\n  " + PG_DUMP)
    if not db.exists():
        raise Refused(f"no database at {db}")
    target = Path(target)
    if target.exists() and not force:
        raise Refused(f"{target} exists; give --force to overwrite it")
    if target.resolve() == db.resolve():
        raise Refused(f"{target} is the database itself")
    partial = target.with_name(f".{target.name}.partial-{os.getpid()}")
    _remove(partial)
    source = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        source.execute("BEGIN")  # one read transaction for the whole copy: the database as it is now
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            total = [0]

            def step(_status: int, remaining: int, count: int) -> None:
                total[0] = count
                if remaining:
                    time.sleep(pause_s)

            source.backup(copy, pages=pages, progress=step)
            _check(copy, partial)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            copy.close()
        source.execute("COMMIT")
    except BaseException:
        _remove(partial)
        raise
    finally:
        source.close()
    for stale in _sidecars(target):
        _remove(stale)
    os.replace(partial, target)
    return total[0]


# --- restore ----------------------------------------------------------------------------------------------------

def restore(url: str, source: Path, known_revisions: set[str]) -> str:
    """Put the backup `source` in place of the database of `url`; returns the backup's migration revision. The
    caller migrates the restored database up (store/migrate.py)."""
    db = database_file(url)
    if db is None:
        raise Refused("liveroom restore writes a SQLite database; restore PostgreSQL with pg_restore:\n  "
                      + PG_RESTORE)
    source = Path(source)
    if not source.is_file():
        raise Refused(f"no backup at {source}")
    if source.resolve() == db.resolve():
        raise Refused(f"{source} is the database itself")
    revision = backup_revision(source)
    if revision not in known_revisions:
        raise Refused(f"{source} is at migration {revision!r}, which this liveroom does not know "
                      f"(known: {', '.join(sorted(known_revisions))})")
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path(db), "ab") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Refused(f"a liveroom server is running on {db} (it holds {lock_path(db)}); stop it first") \
                from None
        partial = db.with_name(f".{db.name}.partial-{os.getpid()}")
        _remove(partial)
        try:
            with contextlib.closing(sqlite3.connect(source)) as src, \
                    contextlib.closing(sqlite3.connect(partial, isolation_level=None)) as dst:
                src.backup(dst)
                _check(dst, partial)
                dst.execute("PRAGMA journal_mode=DELETE")
        except BaseException:
            _remove(partial)
            raise
        for stale in (db, *_sidecars(db)):
            _remove(stale)
        os.replace(partial, db)
    return revision


def backup_revision(path: Path) -> str:
    """The alembic revision of a liveroom database file; Refused when it is not one."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in LIVEROOM_TABLES if t not in tables]
            if missing:
                raise Refused(f"{path} is not a liveroom database (no {', '.join(missing)} table)")
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as error:
        raise Refused(f"{path} is not a SQLite database ({error})") from None
    if row is None:
        raise Refused(f"{path} has no migration revision")
    return str(row[0])


def _check(conn: sqlite3.Connection, path: Path) -> None:
    verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise Refused(f"the copy at {path} failed its check: {verdict}")


def _sidecars(db: Path) -> tuple[Path, Path]:
    return db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
