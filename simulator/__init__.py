"""`liveroom simulate`: a live session played against a running server through its public API only.

It loads a catalog (five warehouses, a dozen SKUs, the leaders, one room with rates, GMV tiers and community
deals), then plays the session: visitors open leaders' links (a power law), orders arrive in pulses when the
host pitches a SKU, some addresses need verification, carriers push Kdniao and Kuaidi100 events on an
accelerated clock, a few parcels get stuck or returned, a few buyers ask for refunds, and a warehouse goes down
for a while. After the pulse (issue 13): one carrier's daily capacity runs out mid-pitch while the others have
room, the room promises shipping by payment time, ops posts a delay notice while the warehouse is down, and
refunds come in the days after on the accelerated clock. Deterministic with its seed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal

from rich.console import Console

from simulator.catalog import busiest_leader
from simulator.config import SimConfig
from simulator.session import Session, Summary

__all__ = ["Session", "SimConfig", "Summary", "busiest_leader", "play"]


async def _play(session: Session) -> Summary:
    """Run the session; the first Ctrl-C (or SIGTERM) stops it cleanly, a second one stops it at once."""
    loop = asyncio.get_running_loop()
    main = asyncio.current_task()

    def interrupted() -> None:
        if session.interrupts and main is not None:
            main.cancel()
        session.interrupt()

    installed = []
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signum, interrupted)
            installed.append(signum)
    try:
        return await session.run()
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)


def play(config: SimConfig, console: Console | None = None, *, live: bool = True) -> int:
    """Play a session from a synchronous caller (the CLI). 0 when it ended by itself or on Ctrl-C."""
    console = console or Console()
    session = Session(config, console, live=live)
    try:
        summary = asyncio.run(_play(session))
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("[yellow]simulation stopped[/yellow]")
        return 130
    return 0 if summary.ended in ("orders", "interrupted") else 1
