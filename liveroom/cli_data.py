"""`liveroom backup PATH [--force]` and `liveroom restore PATH` (API.md, "Running it"; README, "Data that lasts")."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from server.settings import Settings


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    from store.backup import Refused, backup

    try:
        pages = backup(settings.database_url, Path(args.path), force=args.force)
    except Refused as refused:
        print(f"liveroom backup: {refused}", file=sys.stderr)
        return 2
    print(f"backed up {settings.database_url} to {args.path} ({pages} pages)")
    return 0


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    from store.backup import Refused, restore
    from store.migrate import known_revisions, upgrade

    try:
        revision = restore(settings.database_url, Path(args.path), known_revisions())
    except Refused as refused:
        print(f"liveroom restore: {refused}", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    print(f"restored {args.path} (migration {revision}) into {settings.database_url}, migrated up")
    return 0


def add_parsers(commands: Any) -> None:
    backup = commands.add_parser(
        "backup", help="an online, consistent copy of the SQLite database while the server runs")
    backup.add_argument("path", help="where to write the copy")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.set_defaults(run=cmd_backup)

    restore = commands.add_parser(
        "restore", help="put a backup in place of the SQLite database (refused while a server runs on it)")
    restore.add_argument("path", help="the backup to restore")
    restore.set_defaults(run=cmd_restore)
