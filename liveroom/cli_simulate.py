"""`liveroom simulate --url URL [--leaders N] [--orders N] [--rate R] [--speed X] [--gateway test
[--gateway-port P]]` (API.md, "Running it").

Drives a running server through its public API only. The API key comes from --api-key or LIVEROOM_API_KEY;
carrier pushes are signed with LIVEROOM_KDNIAO_APPKEY and LIVEROOM_KUAIDI100_SALT (the server's own values).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {text}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be above 0: {text}")
    return value


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 0 to 65535: {text}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds: {text}")
    return value


def add_parser(commands: Any) -> None:
    """Register `simulate` on the CLI's subparsers."""
    simulate = commands.add_parser(
        "simulate",
        help="play a simulated live session against a running server (public API only)",
        description="Loads a catalog, then plays a live session against the server at --url: visits, orders in "
        "pulses, held addresses, carrier pushes on an accelerated clock, refunds, a warehouse outage. Ends after "
        "--orders orders or on Ctrl-C.",
    )
    simulate.add_argument(
        "--url",
        default=os.environ.get("LIVEROOM_URL", "http://127.0.0.1:8000"),
        help="the server (default: $LIVEROOM_URL or http://127.0.0.1:8000)",
    )
    simulate.add_argument(
        "--leaders", type=_positive_int, default=300, help="community leaders (default 300)"
    )
    simulate.add_argument(
        "--orders", type=_positive_int, default=5000, help="orders to place before ending (default 5000)"
    )
    simulate.add_argument(
        "--rate",
        type=_positive_float,
        default=4.0,
        help="calm baseline in orders per second; pitches run at ten times it (default 4)",
    )
    simulate.add_argument(
        "--speed",
        type=_positive_float,
        default=60.0,
        help="carriers' clock speed-up: sim seconds per wall second (default 60)",
    )
    simulate.add_argument(
        "--after-speed",
        type=_positive_float,
        default=1440.0,
        help="the days after a parcel arrives (late refunds): sim seconds per wall second (default 1440)",
    )
    simulate.add_argument(
        "--api-key", default=None, help="bearer key for writes (default: $LIVEROOM_API_KEY)"
    )
    simulate.add_argument(
        "--seed", type=int, default=7, help="the same seed plays the same session (default 7)"
    )
    simulate.add_argument("--room", default="live-1", help="the room id to load and sell in (default live-1)")
    simulate.add_argument(
        "--concurrency", type=_positive_int, default=32, help="requests in flight at most (default 32)"
    )
    simulate.add_argument(
        "--pulse-every",
        type=_positive_float,
        default=None,
        metavar="SECONDS",
        help="seconds from one pitch to the next (default: about three pitches per session)",
    )
    simulate.add_argument(
        "--pulse-seconds",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="how long a pitch lasts (default: a quarter of --pulse-every)",
    )
    simulate.add_argument(
        "--drain",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="after the last order, time left for pending carrier events (default 30)",
    )
    simulate.add_argument(
        "--wait",
        type=_seconds,
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for the server's /healthz at start (default 30)",
    )
    simulate.add_argument(
        "--run",
        dest="run_tag",
        default=None,
        metavar="TAG",
        help="tag in order and visitor ids (default: the start time, so reruns add new orders)",
    )
    simulate.add_argument(
        "--gateway",
        choices=("test",),
        default=None,
        help="serve the test carrier gateway (Kdniao and Kuaidi100 as documented) for a server started with "
        "LIVEROOM_CARRIER_GATEWAY=kdniao and LIVEROOM_KDNIAO_API_URL pointing at it; parcels start when their "
        "waybill is booked there",
    )
    simulate.add_argument(
        "--gateway-port",
        type=_port,
        default=0,
        metavar="PORT",
        help="the test carrier gateway's loopback port (default: any free port, printed at start)",
    )
    simulate.add_argument("--quiet", action="store_true", help="no progress screen, only the summary")
    simulate.set_defaults(run=cmd_simulate)


def config_from(args: argparse.Namespace, settings: Any = None, env: dict[str, str] | None = None) -> Any:
    from simulator.config import SimConfig, default_run_tag

    env = dict(os.environ if env is None else env)
    return SimConfig(
        url=args.url.rstrip("/"),
        api_key=args.api_key or getattr(settings, "api_key", "") or env.get("LIVEROOM_API_KEY", ""),
        kdniao_appkey=env.get("LIVEROOM_KDNIAO_APPKEY") or getattr(settings, "kdniao_appkey", "") or "",
        kuaidi100_salt=env.get("LIVEROOM_KUAIDI100_SALT") or getattr(settings, "kuaidi100_salt", "") or "",
        leaders=args.leaders,
        orders=args.orders,
        rate=args.rate,
        speed=args.speed,
        after_speed=args.after_speed,
        seed=args.seed,
        concurrency=args.concurrency,
        room=args.room,
        run=args.run_tag or default_run_tag(),
        pulse_every=args.pulse_every,
        pulse_seconds=args.pulse_seconds,
        drain=args.drain,
        wait=args.wait,
        gateway=getattr(args, "gateway", None),
        gateway_port=getattr(args, "gateway_port", 0),
        kdniao_business_id=env.get("LIVEROOM_KDNIAO_BUSINESS_ID")
        or getattr(settings, "kdniao_business_id", "")
        or "",
        kuaidi100_key=env.get("LIVEROOM_KUAIDI100_KEY") or getattr(settings, "kuaidi100_key", "") or "",
    )


def cmd_simulate(settings: Any, args: argparse.Namespace) -> int:
    from simulator import play

    try:
        config = config_from(args, settings)
    except ValueError as error:
        print(f"liveroom simulate: {error}", file=sys.stderr)
        return 2
    if not config.api_key:
        print(
            "liveroom simulate: no API key: pass --api-key or set LIVEROOM_API_KEY (the server's key)",
            file=sys.stderr,
        )
        return 2
    if config.gateway == "test" and not config.kdniao_appkey:
        print(
            "liveroom simulate: --gateway test needs LIVEROOM_KDNIAO_APPKEY (the server signs its requests with it)",
            file=sys.stderr,
        )
        return 2
    if not config.signs_pushes:
        print(
            "liveroom simulate: LIVEROOM_KDNIAO_APPKEY / LIVEROOM_KUAIDI100_SALT not both set: parcels will "
            "report through POST /api/v1/tracking instead of signed carrier pushes",
            file=sys.stderr,
        )
    return play(config, live=not args.quiet)
