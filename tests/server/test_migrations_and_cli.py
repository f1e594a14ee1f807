"""The schema changes only through migrations, and the CLI does what API.md says."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine

from domain import tokens
from liveroom import cli
from store.migrate import upgrade
from store.models import metadata


def test_migrations_build_exactly_the_schema_the_models_describe(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    upgrade(f"sqlite+aiosqlite:///{tmp_path / 'schema.db'}")
    engine = create_sync_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
    engine.dispose()
    assert diff == []


def test_migrating_twice_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"
    upgrade(url)
    before = (tmp_path / "twice.db").stat().st_size
    upgrade(url)
    assert (tmp_path / "twice.db").stat().st_size == before


def test_token_command_mints_a_token_the_instance_secret_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LIVEROOM_SECRET", "cli-secret")
    assert cli.main(["token", "leader", "lead-a"]) == 0
    token = capsys.readouterr().out.strip()
    claim = tokens.verify("cli-secret", token)
    assert claim is not None and claim.opens("leader", "lead-a")
    assert tokens.verify("another-secret", token) is None


def test_token_command_without_a_configured_secret_uses_one_kept_in_the_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.delenv("LIVEROOM_SECRET", raising=False)
    assert cli.main(["token", "host", "room-1"]) == 0
    assert cli.main(["token", "host", "room-1"]) == 0
    first, second = capsys.readouterr().out.split()
    # the same instance secret both times, so the server accepts what the CLI mints
    secret = asyncio.run(_instance_secret(f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
    assert all(tokens.verify(secret, token) is not None for token in (first, second))


async def _instance_secret(url: str) -> str:
    from server.settings import Settings
    from store.engine import create_engine
    from store.instance import resolve_secrets

    engine = create_engine(url)
    try:
        return (await resolve_secrets(engine, Settings(database_url=url))).secret
    finally:
        await engine.dispose()


def test_ops_token_takes_dash_as_its_subject(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    assert cli.main(["token", "ops", "everyone"]) == 2


def test_serve_refuses_to_start_a_carrier_gateway_without_its_settings_naming_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LIVEROOM_CARRIER_GATEWAY", "kdniao")
    monkeypatch.setenv("LIVEROOM_KDNIAO_APPKEY", "key")
    monkeypatch.delenv("LIVEROOM_KDNIAO_BUSINESS_ID", raising=False)
    assert cli.main(["serve", "--port", "1"]) == 2
    said = capsys.readouterr().err
    assert "LIVEROOM_KDNIAO_BUSINESS_ID" in said and "LIVEROOM_KDNIAO_APPKEY" not in said
    assert not (tmp_path / "cli.db").exists()  # refused before anything was written
    monkeypatch.setenv("LIVEROOM_CARRIER_GATEWAY", "fedex")
    assert cli.main(["serve", "--port", "1"]) == 2
    assert "sandbox, kdniao, kuaidi100" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["serve", "migrate", "token", "settle", "backup", "restore"])
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: liveroom" in capsys.readouterr().out


def test_tokens_open_only_their_own_role_and_subject() -> None:
    token = tokens.mint("s", "order", "o-1")
    assert tokens.verify("s", token)[:2] == ("order", "o-1")  # type: ignore[index]
    forged: Any = token.replace("order.", "leader.", 1)
    assert tokens.verify("s", forged) is None
    assert tokens.verify("s", "garbage") is None
    assert tokens.verify("s", None) is None


def test_token_command_tokens_expire_after_30_days_or_after_ttl_days(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    monkeypatch.setenv("LIVEROOM_SECRET", "cli-secret")
    now = datetime.now(UTC)
    assert cli.main(["token", "host", "room-1"]) == 0
    assert cli.main(["token", "host", "room-1", "--ttl", "2"]) == 0
    default, short = (tokens.read("cli-secret", t) for t in capsys.readouterr().out.split())
    assert default is not None and short is not None
    assert abs(default.expires_s - (now + timedelta(days=30)).timestamp()) < 60
    assert abs(short.expires_s - (now + timedelta(days=2)).timestamp()) < 60
    assert tokens.verify("cli-secret", tokens.mint("cli-secret", "host", "room-1"), now + timedelta(days=29))
    assert (
        tokens.verify("cli-secret", tokens.mint("cli-secret", "host", "room-1"), now + timedelta(days=31))
        is None
    )


@pytest.mark.parametrize("ttl", ["0", "-3", "1.5", "abc", "²", "99999999"])
def test_token_command_refuses_a_ttl_that_is_not_a_positive_whole_number_of_days(
    ttl: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["token", "host", "room-1", "--ttl", ttl])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert "--ttl" in captured.err and "whole number of days" in captured.err and captured.out == ""


def test_a_tokens_times_are_signed_so_its_expiry_cannot_be_stretched() -> None:
    token = tokens.mint("s", "leader", "lead-a", ttl=timedelta(days=1))
    role, subject, issued, expires, signature = token.split(".")
    stretched = ".".join([role, subject, issued, expires + "0", signature])
    earlier = ".".join([role, subject, "1", expires, signature])  # backdated: refused too
    assert tokens.read("s", token) is not None
    assert tokens.read("s", stretched) is None and tokens.read("s", earlier) is None


def test_tokens_minted_a_microsecond_apart_carry_different_issue_times() -> None:
    at = datetime(2026, 12, 1, tzinfo=UTC)
    first = tokens.read("s", tokens.mint("s", "ops", "-", now=at))
    second = tokens.read("s", tokens.mint("s", "ops", "-", now=at + timedelta(microseconds=1)))
    assert first is not None and second is not None and second.issued_us == first.issued_us + 1
