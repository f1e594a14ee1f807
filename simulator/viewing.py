"""Who watches the live room, for how long, and when each heartbeat is dated — decided up front, pure.

A viewer's player sends a heartbeat every 30 simulated seconds while the viewer watches. The session runs on an
accelerated clock (--speed), but the server dates what it receives on the real clock and counts watch time from
the heartbeats' `at`: the sum of the gaps of at most 60 s. So a viewer's heartbeats are dated 30 s apart on a
clock of their own that ends at the real time of the last heartbeat: every `at` lies in the past when it is sent
(never in the future, where a server would rightly refuse it), the server counts the simulated watch time, and a
visit is dated just before the first heartbeat. The backdating never reaches before the share code existed.

Some viewers leave before the room's `min_watch_s`; most buyers watch a little before they order; a few viewers
who stayed become leaders themselves.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

HEARTBEAT_S = 30  # what the player sends
MIN_WATCH_S = 120  # the room's "watched" mark in the simulated room: reached within the demo's first minute
MAX_WATCH_S = 600
LEAVE_EARLY = 0.35  # of the viewers, leave before the watched mark
BUYERS_WATCHING = 0.85  # of the new buyers, watch before and after ordering
BROWSERS_WATCHING = 0.3  # of the visitors who do not order, watch for a while (the leaders' prospects)
RECRUITS = 0.04  # of the viewers who stay, become leaders once they have watched
MAX_PRE_ORDER_WALL_S = 2.0  # a buyer's order waits at most this many wall seconds for the watching before it
CLICK_BEFORE_S = 5  # the visit is dated this long before the first heartbeat


@dataclass(frozen=True)
class Watch:
    """One viewer's planned watching: `seconds` of simulated watch time; a buyer orders after `before_order`
    heartbeats; a `recruit` becomes a leader once watched."""

    visitor: str
    seconds: int
    before_order: int
    recruit: bool

    @property
    def leaves_early(self) -> bool:
        return self.seconds < MIN_WATCH_S


def watch_seconds(rng: random.Random, min_watch_s: int = MIN_WATCH_S) -> int:
    """A viewer's watch time: a third leave before the watched mark, the rest stay a while past it."""
    if rng.random() < LEAVE_EARLY and min_watch_s > HEARTBEAT_S:
        return rng.randint(HEARTBEAT_S, max(HEARTBEAT_S, min_watch_s - HEARTBEAT_S))
    return min(MAX_WATCH_S, max(min_watch_s + HEARTBEAT_S, min_watch_s + int(rng.expovariate(1 / 180))))


def plan_watch(
    seed: int, visitor: str, *, buyer: bool, speed: float, min_watch_s: int = MIN_WATCH_S
) -> Watch | None:
    """Whether `visitor` watches, and how: deterministic from the seed and the visitor."""
    rng = random.Random(f"{seed}:{visitor}:watch")
    if rng.random() >= (BUYERS_WATCHING if buyer else BROWSERS_WATCHING):
        return None
    seconds = watch_seconds(rng, min_watch_s)
    before = 0
    if buyer:
        wall_cap = int(MAX_PRE_ORDER_WALL_S * speed / HEARTBEAT_S)
        before = min(rng.randint(1, 4), seconds // HEARTBEAT_S, wall_cap)
    recruit = seconds >= min_watch_s and rng.random() < RECRUITS
    return Watch(visitor, seconds, before, recruit)


def gaps_for(seconds: int, speed: float, since_s: float) -> int:
    """How many 30-s gaps of heartbeats a viewer sends: the planned watch, capped so that the backdated first
    heartbeat (and the visit before it) stays after a moment `since_s` real seconds ago (the code's issue)."""
    drift = HEARTBEAT_S * (1 - 1 / speed)  # how much further back each gap reaches
    wanted = max(0, seconds // HEARTBEAT_S)
    if drift <= 0:
        return wanted
    room = (since_s - CLICK_BEFORE_S - 1) / drift
    return max(0, min(wanted, int(room)))


def beat_times(entered: datetime, gaps: int, speed: float) -> list[tuple[float, datetime]]:
    """(wall seconds after entering, `at`) of each heartbeat: `at`s 30 s apart, the last one dated when it is
    sent, each one dated no later than the moment it is due."""
    wall_gap = HEARTBEAT_S / speed
    first = entered - timedelta(seconds=gaps * HEARTBEAT_S * (1 - 1 / speed))
    return [(k * wall_gap, first + timedelta(seconds=k * HEARTBEAT_S)) for k in range(gaps + 1)]


def clicked_at(beats: list[tuple[float, datetime]], issued: datetime) -> datetime:
    """The visit's date: just before the first heartbeat, and not before the share code was issued."""
    return min(beats[0][1], max(issued, beats[0][1] - timedelta(seconds=CLICK_BEFORE_S)))


def watched_after(min_watch_s: int) -> int:
    """The heartbeat (0-based) whose arrival carries the viewer across the watched mark."""
    return -(-min_watch_s // HEARTBEAT_S)
