"""`liveroom serve | migrate | token | settle | backup | restore` (API.md, "Running it")."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta

from domain.tokens import SCREEN_TTL
from server.settings import Settings


def _parse_time(text: str) -> datetime:
    """--as-of: ISO-8601 (UTC when no zone is given), in the range every time field is held to."""
    from server.api.times import TimeRefused, read_time

    try:
        return read_time(text, zone=UTC)
    except TimeRefused as refused:
        raise argparse.ArgumentTypeError(str(refused)) from None


def _days(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 36_500:
        raise argparse.ArgumentTypeError(f"--ttl takes a whole number of days from 1 to 36500, not {text!r}")
    return int(text)


def cmd_migrate(settings: Settings, _args: argparse.Namespace) -> int:
    from store.migrate import upgrade

    upgrade(settings.database_url)
    print(f"migrated {settings.database_url}")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    from server.settings import SettingsError
    from store.migrate import upgrade

    if args.workers > 1 and not settings.redis_url:
        print(f"liveroom serve: --workers {args.workers} needs LIVEROOM_REDIS_URL (the event bus that carries every"
              " commit to the other processes' screens); set it, e.g. LIVEROOM_REDIS_URL=redis://127.0.0.1:6379/0",
              file=sys.stderr)
        return 2
    try:
        settings.check_gateway()  # a gateway missing a setting: refused before anything starts, naming it
    except SettingsError as error:
        print(f"liveroom serve: {error}", file=sys.stderr)
        return 2
    if args.worker_of is not None:  # one of a supervisor's workers: it migrated already
        return _serve_worker(settings, args)
    upgrade(settings.database_url)
    if args.workers > 1:
        from liveroom.workers import run_workers

        return run_workers(args.workers, args.host, args.port, args.log_level)
    from liveroom.app import create_app
    from server.serving import serve

    serve(create_app(settings), settings, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _serve_worker(settings: Settings, args: argparse.Namespace) -> int:
    """A `--workers` supervisor's worker (liveroom/workers.py): serve on the inherited socket, and write one byte
    to the supervisor's pipe once listening."""
    import os
    import socket

    from liveroom.app import create_app
    from server.serving import serve

    listen_fd, ready_fd = (int(part) for part in args.worker_of.split(":"))
    sock = socket.socket(fileno=listen_fd)  # family and type read off the descriptor

    def ready() -> None:
        os.write(ready_fd, b"1")
        os.close(ready_fd)

    serve(create_app(settings), settings, host=args.host, port=args.port, log_level=args.log_level,
          sockets=[sock], on_ready=ready)
    return 0


def _workers(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"--workers takes a whole number from 1 to 256, not {text!r}")
    return int(text)


async def _resolved(settings: Settings) -> Settings:
    from store.engine import create_engine
    from store.instance import resolve_secrets

    engine = create_engine(settings.database_url)
    try:
        return await resolve_secrets(engine, settings)
    finally:
        await engine.dispose()


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    from domain import tokens
    from store.migrate import upgrade

    if args.role == "ops" and args.subject != "-":
        print("the ops token's subject is '-'", file=sys.stderr)
        return 2
    upgrade(settings.database_url)
    secret = asyncio.run(_resolved(settings)).secret
    print(tokens.mint(secret, args.role, args.subject, now=datetime.now(UTC), ttl=timedelta(days=args.ttl)))
    return 0


def cmd_settle(settings: Settings, args: argparse.Namespace) -> int:
    from server.services.settlement import settle_once
    from store.migrate import upgrade

    upgrade(settings.database_url)
    as_of = args.as_of or datetime.now(UTC)
    report = asyncio.run(settle_once(settings, as_of))
    print(
        f"settled {report['settled']} commission lines as of {as_of.isoformat()}"
        f" ({report['stuck']} parcels newly stuck)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveroom", description="The realtime back office of a live room.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser(
        "serve", help="migrate, then serve the API, the screens and the WebSocket hub"
    )
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument("--workers", type=_workers, default=1, metavar="N",
                       help="server processes over one database (N > 1 needs LIVEROOM_REDIS_URL; default 1)")
    serve.add_argument("--worker-of", default=None, help=argparse.SUPPRESS)  # LISTEN_FD:READY_FD, workers.py
    serve.set_defaults(run=cmd_serve)

    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.set_defaults(run=cmd_migrate)

    token = commands.add_parser("token", help="mint a screen token: host ROOM | leader LEADER | ops -")
    token.add_argument("role", choices=["host", "leader", "ops"])
    token.add_argument("subject")
    token.add_argument("--ttl", type=_days, default=SCREEN_TTL.days, metavar="DAYS",
                       help="days until the token expires (default %(default)s)")
    token.set_defaults(run=cmd_token)

    settle = commands.add_parser(
        "settle", help="freeze and settle commissions whose after-sale window closed"
    )
    settle.add_argument("--as-of", type=_parse_time, default=None, help="ISO-8601 time (default: now)")
    settle.set_defaults(run=cmd_settle)

    from liveroom.cli_data import add_parsers as add_data
    from liveroom.cli_simulate import add_parser as add_simulate

    add_data(commands)
    add_simulate(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.run(Settings.from_env(), args))


if __name__ == "__main__":
    raise SystemExit(main())
