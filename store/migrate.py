"""Runs Alembic migrations programmatically: `liveroom migrate` and `liveroom serve` both call `upgrade`."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema to `revision`. Safe to run at every start: a migrated database is left as it is."""
    command.upgrade(alembic_config(database_url), revision)


def known_revisions() -> set[str]:
    """Every migration revision this version of liveroom has (a restored backup must be at one of them)."""
    from alembic.script import ScriptDirectory

    return {script.revision for script in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()}
