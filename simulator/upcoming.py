"""The upcoming room, 明晚预告场: created when the session starts, to begin `STARTS_IN_S` real seconds later with the
live room's SKUs. The busiest leaders share a link to it, and during the first `CLICKS_WITHIN_S` seconds some
visitors click those links (their visits dated when they happen, never ahead). Once the room has started about half
of them come in (heartbeats); the others never do. At the start the server queues a pre-live reminder for each
visitor who clicked before it and had not entered by then (API.md, `GET /api/v1/rooms/{room}/reminders`): the ops
wall and each leader's phone show them under the room's funnel.

Played on its own loop, off the session's timeline: the session's drain never waits for it, and it stops with the
session. A server without these endpoints answers 404: counted, and the upcoming room is left alone.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from simulator.catalog import Catalog, room_body
from simulator.client import Api
from simulator.config import SimConfig
from simulator.growth_catalog import room_growth
from simulator.stats import Stats
from simulator.timeline import Timeline

TITLE = "明晚预告场"
STARTS_IN_S = 40.0  # real seconds from the session's start to the room's
CLICKS_WITHIN_S = 35.0  # every click lands before this, well ahead of the start
HOURS = 2.0
LINKS = 8  # the busiest leaders share a link to it
VISITORS = (20, 40)
BEATS = 3  # heartbeats of a visitor who comes in after the start, ...
BEAT_EVERY_S = 5.0  # ... this far apart (real seconds)
ENTER_WITHIN_S = 10.0  # after the start, those who come in do so within this


def room_id(room: str) -> str:
    return f"{room}-next"


@dataclass(frozen=True)
class Click:
    visitor: str
    leader: str
    after_s: float  # real seconds after the room was created
    enters_after_s: float | None  # real seconds after the start it comes in; None: never


def plan_clicks(seed: int, run: str, leaders: list[str]) -> list[Click]:
    """Who clicks which leader's link and when (oldest first), and which half comes in after the start: the
    busier the leader (first in `leaders`), the more clicks. The same seed plans the same clicks."""
    if not leaders:
        return []
    rng = random.Random(f"{seed}:upcoming")
    count = rng.randint(*VISITORS)
    weights = [1 / (i + 1) for i in range(len(leaders))]
    times = sorted(rng.uniform(1.0, CLICKS_WITHIN_S) for _ in range(count))
    entering = set(rng.sample(range(count), count // 2))
    return [
        Click(
            visitor=f"nx-{run}-{i + 1:03d}",
            leader=rng.choices(leaders, weights=weights)[0],
            after_s=at,
            enters_after_s=rng.uniform(1.0, ENTER_WITHIN_S) if i in entering else None,
        )
        for i, at in enumerate(times)
    ]


class Upcoming:
    def __init__(self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, *, pace: float = 1.0) -> None:
        """`pace`: every real-time span above is multiplied by it (a test plays the same room ten times faster)."""
        self.cfg, self.api, self.stats, self.clock = cfg, api, stats, clock
        self.pace = pace
        self.room = room_id(cfg.room)
        self.codes: dict[str, str] = {}  # leader → share code of the upcoming room
        self.clicks: list[Click] = []
        self.created = 0.0  # loop time the room was created
        self.created_at = datetime.now(UTC)

    async def load(self, catalog: Catalog) -> bool:
        """The room (starting `STARTS_IN_S` from now) and the busiest leaders' links. False: left alone."""
        self.created, self.created_at = self.clock.now(), datetime.now(UTC)
        starts_at = self.created_at + timedelta(seconds=STARTS_IN_S * self.pace)
        body = room_body(starts_at, HOURS) | room_growth(self.cfg.min_watch_s) | {"title": TITLE}
        response = await self.api.put(f"/api/v1/rooms/{self.room}", body)
        if response is None or not self._answered(response, "upcoming room"):
            return False
        for leader in catalog.popularity[:LINKS]:
            response = await self.api.post(f"/api/v1/rooms/{self.room}/links", {"leader": leader, "kind": "live"})
            if response is not None and self._answered(response, f"upcoming link {leader}"):
                self.codes[leader] = str(response.json()["code"])
        self.clicks = plan_clicks(self.cfg.seed, self.cfg.run, [x for x in catalog.popularity if x in self.codes])
        return bool(self.clicks)

    def _answered(self, response: object, what: str) -> bool:
        if self.stats.answered("upcoming", response):
            return True
        if getattr(response, "status_code", 0) != 404:
            self.stats.error(f"{what}: {getattr(response, 'status_code', '')} {getattr(response, 'text', '')[:160]}")
        return False

    async def run(self) -> None:
        """The clicks at their times; after the start, the visitors who come in heartbeat a few times."""
        try:
            await self._play()
        except asyncio.CancelledError:
            raise
        except Exception as error:  # the upcoming room never ends the session
            self.stats.error(f"upcoming room: {type(error).__name__}: {error}")

    async def _play(self) -> None:
        entering: list[tuple[float, Click]] = []
        for click in self.clicks:
            after_s = click.after_s * self.pace
            if not await self.clock.sleep_until(self.created + after_s):
                return
            at = min(self.created_at + timedelta(seconds=after_s), datetime.now(UTC))
            body = {"visitor": click.visitor, "code": self.codes[click.leader], "at": at.isoformat()}
            response = await self.api.post("/api/v1/visits", body)
            if response is not None and self._answered(response, f"upcoming visit {click.visitor}"):
                self.stats.upcoming_clicks += 1
                if click.enters_after_s is not None:
                    entering.append(((STARTS_IN_S + click.enters_after_s) * self.pace, click))
        await asyncio.gather(*(self._enter(after, click) for after, click in entering))

    async def _enter(self, after_s: float, click: Click) -> None:
        for beat in range(BEATS):
            if not await self.clock.sleep_until(self.created + after_s + beat * BEAT_EVERY_S * self.pace):
                return
            response = await self.api.post(f"/api/v1/rooms/{self.room}/presence", {"visitor": click.visitor})
            if response is None or not self._answered(response, f"upcoming presence {click.visitor}"):
                return
            if beat == 0:
                self.stats.upcoming_entered += 1
