"""`liveroom backup` and `liveroom restore` (issue 15, "Data that lasts"): an online, consistent copy of the SQLite
database taken while a real `liveroom serve` takes orders, restored into a fresh file a fresh server then shows.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from live import SeedClient, serve_process, watch
from seed import API_KEY, SECRET, order_body, seed_catalog, share_code

from domain import tokens
from liveroom import cli
from store.migrate import upgrade

TOPICS = ["room:room-1:stock", "room:room-1:board", "room:room-1:feed", "leader:lead-a"]
TIME_BOUND = ("series", "rate_per_min", "minutes_to_sellout", "follow_up")  # move with the clock alone


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def run_cli(database: Path, *args: str) -> tuple[int, str]:
    """`liveroom ARGS` as its own process (as an operator runs it beside the server): exit status, output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liveroom.cli", *args,
        env={**os.environ, "LIVEROOM_DATABASE_URL": sqlite_url(database)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out, _ = await process.communicate()
    return int(process.returncode or 0), out.decode()


async def screens(url: str) -> dict[str, Any]:
    """The first (snapshot) frame of each topic, as a screen opening it now gets it."""
    watcher = await watch(url.replace("http://", "ws://") + "/ws", TOPICS, tokens.mint(SECRET, "ops", "-"))
    views = {}
    for topic in TOPICS:
        frame = await watcher.wait_for(lambda f, t=topic: f["topic"] == t and f["kind"] == "snapshot", timeout=10)
        views[topic] = frame["data"]
    await watcher.close()
    return views


async def every_feed_item(url: str) -> list[dict[str, Any]]:
    """The room's whole feed as a screen reconnecting with since=0 gets it (oldest first)."""
    watcher = await watch(url.replace("http://", "ws://") + "/ws", ["room:room-1:feed"],
                          tokens.mint(SECRET, "host", "room-1"), since=0)
    frame = await watcher.wait_for(lambda f: f["topic"] == "room:room-1:feed", timeout=10)
    await watcher.close()
    assert frame["kind"] == "item", frame["kind"]  # the ring still reaches back to the first order
    return list(frame["data"]["items"])


def steady(view: Any) -> Any:
    """A view without the figures that change with the clock alone (sell rates, sparklines)."""
    if isinstance(view, dict):
        return {k: steady(v) for k, v in view.items() if k not in TIME_BOUND}
    if isinstance(view, list):
        return [steady(v) for v in view]
    return view


def database_facts(path: Path) -> dict[str, Any]:
    with sqlite3.connect(path) as conn:
        orders = {row[0] for row in conn.execute('SELECT "order" FROM orders')}
        newest = conn.execute("SELECT max(seq) FROM outbox").fetchone()[0]
    return {"orders": orders, "newest_seq": newest}


async def test_a_backup_taken_under_load_restores_to_a_server_showing_what_the_original_showed_then(
    tmp_path: Path,
) -> None:
    original, copy, quiet_copy = tmp_path / "live.db", tmp_path / "backup.db", tmp_path / "quiet.db"
    upgrade(sqlite_url(original))
    acknowledged: dict[str, int] = {}  # order -> tea units, once the server answered 201
    with serve_process(sqlite_url(original)) as url:
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
            await seed_catalog(SeedClient(http))
            code = await share_code(SeedClient(http), "lead-a")
            stop = asyncio.Event()

            async def buyer(n: int) -> None:
                i = 0
                while not stop.is_set() and i < 60:
                    order, units = f"b{n}-{i}", 1 + i % 2
                    response = await http.post("/api/v1/orders", json=order_body(
                        order, f"v-{order}", [("tea", units)], code=code if i % 2 else None))
                    assert response.status_code == 201, response.text
                    acknowledged[order] = units
                    i += 1

            buyers = [asyncio.create_task(buyer(n)) for n in range(3)]
            while len(acknowledged) < 40:
                await asyncio.sleep(0.02)
            before_backup = set(acknowledged)
            status, said = await run_cli(original, "backup", str(copy))
            during_backup = set(acknowledged)
            stop.set()
            await asyncio.gather(*buyers)
            assert status == 0, said
            assert len(during_backup) > len(before_backup) or len(acknowledged) > len(before_backup)

            # While the server runs, its database is not overwritten by a restore.
            status, said = await run_cli(original, "restore", str(copy))
            assert status == 2 and "running" in said, said
            # An existing backup file is not overwritten without --force.
            status, said = await run_cli(original, "backup", str(copy))
            assert status == 2 and "--force" in said, said

            # Idle now: a second backup, to compare every screen field by field with the running original.
            status, said = await run_cli(original, "backup", str(quiet_copy))
            assert status == 0, said
            await asyncio.sleep(0.5)
            original_screens = await screens(url)
            original_feed = await every_feed_item(url)

    facts = database_facts(copy)
    # Every order acknowledged before the backup started is in it; none that was never acknowledged is.
    assert before_backup <= facts["orders"] <= set(acknowledged)

    restored = tmp_path / "restored.db"
    status, said = await run_cli(restored, "restore", str(copy))
    assert status == 0, said
    with serve_process(sqlite_url(restored)) as url:
        views = await screens(url)
    # Consistent: the stock reserved is exactly the units of the orders the copy holds, and the feed shows those
    # orders up to the copy's newest event, exactly as the original's feed showed them.
    tea = next(row for row in views["room:room-1:stock"]["skus"] if row["sku"] == "tea")
    reserved = sum(w["reserved"] for w in tea["warehouses"])
    assert reserved == sum(acknowledged[o] for o in facts["orders"])
    assert views["room:room-1:stock"]["orders"] == len(facts["orders"])
    assert views["room:room-1:feed"]["seq"] <= facts["newest_seq"]
    fed = {item["order"] for item in views["room:room-1:feed"]["items"]}
    assert fed <= facts["orders"]
    shown_then = [i for i in original_feed if i["seq"] <= facts["newest_seq"]]
    assert {i["order"] for i in shown_then} == facts["orders"]
    assert views["room:room-1:feed"]["items"] == shown_then[-len(views["room:room-1:feed"]["items"]):]

    quiet = tmp_path / "quiet-restored.db"
    status, said = await run_cli(quiet, "restore", str(quiet_copy))
    assert status == 0, said
    with serve_process(sqlite_url(quiet)) as url:
        assert steady(await screens(url)) == steady(original_screens)


def test_backup_refuses_postgresql_naming_the_pg_dump_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", "postgresql+asyncpg://liveroom:secret@db.internal/liveroom")
    assert cli.main(["backup", "/tmp/never-written.db"]) == 2
    said = capsys.readouterr().err
    assert 'pg_dump -Fc -f liveroom.dump "${LIVEROOM_DATABASE_URL/+asyncpg/}"' in said
    assert "secret" not in said
    assert not Path("/tmp/never-written.db").exists()
    assert cli.main(["restore", "/tmp/never-written.db"]) == 2
    assert "pg_restore" in capsys.readouterr().err


def test_restore_refuses_a_file_that_is_not_a_liveroom_database_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "target.db"
    upgrade(sqlite_url(target))
    before = target.read_bytes()
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", sqlite_url(target))
    stranger = tmp_path / "stranger.db"
    with sqlite3.connect(stranger) as conn:
        conn.execute("CREATE TABLE t (x)")
    assert cli.main(["restore", str(stranger)]) == 2
    assert "not a liveroom database" in capsys.readouterr().err
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all " * 100)
    assert cli.main(["restore", str(text)]) == 2
    assert "not a SQLite database" in capsys.readouterr().err
    future = tmp_path / "future.db"
    upgrade(sqlite_url(future))
    with sqlite3.connect(future) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    assert cli.main(["restore", str(future)]) == 2
    assert "'9999'" in capsys.readouterr().err
    assert target.read_bytes() == before


def test_a_restored_backup_of_an_older_migration_is_migrated_up_and_stale_wal_files_are_gone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    old = tmp_path / "old.db"
    upgrade(sqlite_url(old), "0010")
    target = tmp_path / "target.db"
    for stale in ("target.db-wal", "target.db-shm"):
        (tmp_path / stale).write_bytes(b"left over from a crash")
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", sqlite_url(target))
    assert cli.main(["restore", str(old)]) == 0, capsys.readouterr()
    for stale in ("target.db-wal", "target.db-shm"):  # gone, or SQLite's own: never the crash's leftovers
        assert not (tmp_path / stale).exists() or b"left over" not in (tmp_path / stale).read_bytes()
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchone()[0] == _head()
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _head() -> str:
    """The newest migration this version has (what a restored older backup is migrated up to)."""
    from alembic.script import ScriptDirectory

    from store.migrate import alembic_config

    return str(ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head())
