"""The live room's viewers: visitors who came through a leader's code watch for a while, their player sending a
heartbeat every 30 simulated seconds (viewing.py dates them); some leave early, buyers mostly watch before they
order, and a few viewers who stayed become leaders, get their own share code and bring visitors of their own.

Heartbeats go out from one ticker: due ones are sent each tick, the most overdue first, at most
`MAX_BEATS_PER_TICK` of them, through a gate of `CONCURRENCY` requests. A heartbeat sent late still carries its
planned `at` (always in the past), so lagging behind changes no watch time; no new viewer enters while
`MAX_VIEWERS` are watching, and a viewer whose heartbeat falls a minute behind (the server is slow) leaves.

An endpoint that answers 404 (not deployed yet) is counted, not an error; after a few with none answered, the
feature is left alone for the rest of the session.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.catalog import Catalog
from simulator.client import Api, answer_of
from simulator.config import SimConfig
from simulator.growth_catalog import load_growth
from simulator.people import ESTATES, mobile, person_name, pick_place
from simulator.plan import SHOWCASE, PlannedOrder
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.viewing import Watch, beat_times, clicked_at, gaps_for, plan_watch

TICK_S = 0.25
MAX_BEATS_PER_TICK = 8  # at most 32 heartbeats a second, whatever the speed
CONCURRENCY = 4
OVERDUE_S = 60.0  # wall seconds behind its time: the viewer gives up
MAX_VIEWERS = 120
GIVE_UP_AFTER_404 = 3  # 404s with no success before a feature is left alone
RECRUIT_AFTER_SIM_S = 300  # recruiting starts a bit into the show
RECRUIT_LINKS = 0.05  # of the new buyers, come through a recruit's code once there are recruits
RECRUITS_INVITE = (2, 5)  # visitors each recruit brings of their own

Visit = Callable[[str, str, datetime | None], Awaitable[None]]


@dataclass
class Viewer:
    watch: Watch
    leader: str
    wall: float  # loop time the viewer entered
    beats: list[tuple[float, datetime]]  # (wall seconds after entering, at)
    issued: datetime  # when the code the viewer came through was issued
    next: int = 0
    watched: bool = False

    @property
    def visitor(self) -> str:
        return self.watch.visitor

    def due(self) -> float:
        return self.wall + self.beats[self.next][0]


@dataclass(frozen=True)
class Recruit:
    leader: str
    code: str
    visitor: str


@dataclass
class Features:
    """Which growth endpoints answered; those that only ever answered 404 are left alone."""

    stats: Stats
    ok: Counter[str] = field(default_factory=Counter)

    def on(self, feature: str) -> bool:
        return self.ok[feature] > 0 or self.stats.unavailable[feature] < GIVE_UP_AFTER_404

    def answered(self, feature: str, response: Any) -> bool:
        if self.stats.answered(feature, response):
            self.ok[feature] += 1
            return True
        return False


class Growth:
    def __init__(self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline) -> None:
        self.cfg, self.api, self.stats, self.clock = cfg, api, stats, clock
        self.features = Features(stats)
        self.visit: Visit | None = None  # the buyers' visit (set by the session)
        self.coupons: dict[str, str] = {}  # coupon → its id on the server
        self.leader_of: dict[str, str] = {}  # share code → leader
        self.issued: dict[str, float] = {}  # share code → loop time it was issued
        self.codes_since = 0.0  # loop time the catalog's codes were issued
        self.recruits: list[Recruit] = []
        self.recruiting: set[str] = set()
        self.recruit_numbers = itertools.count(1)
        self.heap: list[tuple[float, int, Viewer]] = []
        self.seq = itertools.count()
        self.watching = 0
        self._gate: asyncio.Semaphore | None = None

    @property
    def gate(self) -> asyncio.Semaphore:
        if self._gate is None:
            self._gate = asyncio.Semaphore(CONCURRENCY)
        return self._gate

    async def load(self, catalog: Catalog, shared: float) -> bool:
        """After the catalog: when its codes were shared (loop time), the tasks and the coupons. True when done."""
        self.codes_since = shared
        self.leader_of = {code: leader for leader, code in catalog.codes.items()}
        cfg = self.cfg
        self.coupons = await load_growth(self.api, self.stats, cfg.room, cfg.run, cfg.orders, cfg.min_watch_s)
        self.features.ok["coupons"] += len(self.coupons)
        return True

    # --- viewers ---------------------------------------------------------------------------------------------

    def enter(self, visitor: str, code: str, leader: str, *, buyer: bool) -> Viewer | None:
        """The visitor's watching, planned and dated (None: this visitor does not watch, or the room is full)."""
        if not code or not self.features.on("presence") or self.watching >= MAX_VIEWERS:
            return None
        watch = plan_watch(
            self.cfg.seed, visitor, buyer=buyer, speed=self.cfg.speed, min_watch_s=self.cfg.min_watch_s
        )
        if watch is None:
            return None
        now = self.clock.now()
        since = now - self.issued.get(code, self.codes_since)
        entered = datetime.now(UTC)
        beats = beat_times(entered, gaps_for(watch.seconds, self.cfg.speed, since), self.cfg.speed)
        self.watching += 1
        self.stats.viewers += 1
        self.stats.left_early += watch.leaves_early
        return Viewer(watch, leader, now, beats, entered - timedelta(seconds=since))

    def clicked(self, viewer: Viewer | None) -> datetime | None:
        """The date of the viewer's visit: just before the first heartbeat (None: the server's time)."""
        return clicked_at(viewer.beats, viewer.issued) if viewer is not None else None

    def start(self, viewer: Viewer) -> None:
        heapq.heappush(self.heap, (viewer.due(), next(self.seq), viewer))

    async def watch_before_order(self, viewer: Viewer) -> None:
        """A buyer starts watching and orders after `before_order` heartbeats."""
        self.start(viewer)
        before = min(viewer.watch.before_order, len(viewer.beats) - 1)
        await self.clock.sleep_until(viewer.wall + viewer.beats[before][0])

    async def browse(self, visitor: str, code: str) -> None:
        """A visitor who does not order: visits, and maybe watches a while (a leader's prospect)."""
        assert self.visit is not None
        viewer = self.enter(visitor, code, self.leader_of.get(code, ""), buyer=False)
        await self.visit(visitor, code, self.clicked(viewer))
        if viewer is not None:
            self.start(viewer)

    def _leave(self, viewer: Viewer) -> None:
        self.watching -= 1

    async def run(self) -> None:
        """The heartbeat ticker."""
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock.now()
            sent = 0
            while self.heap and self.heap[0][0] <= now and sent < MAX_BEATS_PER_TICK:
                due, _, viewer = heapq.heappop(self.heap)
                if now - due > OVERDUE_S or not self.features.on("presence"):
                    self._leave(viewer)
                    continue
                sent += 1
                self.clock.spawn(self._beat(viewer))

    async def _beat(self, viewer: Viewer) -> None:
        at = viewer.beats[viewer.next][1]
        async with self.gate:
            response = await self.api.post(
                f"/api/v1/rooms/{self.cfg.room}/presence", {"visitor": viewer.visitor, "at": at.isoformat()}
            )
        if response is None or not self.features.answered("presence", response):
            if response is not None and response.status_code != 404:
                self.stats.error(f"presence {viewer.visitor}: {response.status_code} {response.text[:160]}")
            self._leave(viewer)
            return
        self.stats.heartbeats += 1
        watched_s = int(answer_of(response).get("watched_s") or 0)
        if not viewer.watched and watched_s >= self.cfg.min_watch_s:
            viewer.watched = True
            self.stats.watched += 1
            if viewer.watch.recruit:
                self.clock.spawn(self._recruit(viewer))
        viewer.next += 1
        if viewer.next < len(viewer.beats):
            heapq.heappush(self.heap, (viewer.due(), next(self.seq), viewer))
        else:
            self._leave(viewer)

    # --- recruits ------------------------------------------------------------------------------------------

    def _may_recruit(self) -> bool:
        cap = 3 + self.cfg.leaders // 20
        return (
            self.clock.elapsed() * self.cfg.speed >= RECRUIT_AFTER_SIM_S
            and len(self.recruits) + len(self.recruiting) < cap
            and self.features.on("recruits")
        )

    async def _recruit(self, viewer: Viewer) -> None:
        """A viewer who watched becomes a leader, gets a share code and brings a few visitors."""
        if not self._may_recruit() or viewer.visitor in self.recruiting:
            return
        self.recruiting.add(viewer.visitor)
        try:
            leader = f"rc-{self.cfg.run}-{next(self.recruit_numbers):03d}"
            rng = random.Random(f"{self.cfg.seed}:{viewer.visitor}:recruit")
            place = pick_place(rng)
            body = {
                "visitor": viewer.visitor,
                "leader": leader,
                "name": f"{person_name(rng)}·{place.city_short}",
                "phone": mobile(rng),
                "community": f"{place.city_short}{rng.choice(place.districts)}{rng.choice(ESTATES)}",
            }
            response = await self.api.post(f"/api/v1/rooms/{self.cfg.room}/leaders", body)
            if response is None:
                return
            if not self.features.answered("recruits", response):
                if response.status_code not in (404, 409):  # 409: already a leader, or the id taken
                    self.stats.error(
                        f"recruit {viewer.visitor}: {response.status_code} {response.text[:160]}"
                    )
                return
            code = str(answer_of(response).get("code") or "")
            recruit = Recruit(leader, code, viewer.visitor)
            self.recruits.append(recruit)
            self.stats.recruits += 1
            if code:
                self.issued[code] = self.clock.now()
                self.leader_of[code] = leader
                for i in range(rng.randint(*RECRUITS_INVITE)):
                    self.clock.schedule(
                        self.clock.after_sim_minutes(rng.uniform(1, 10)),
                        self.browse,
                        f"{leader}-v{i + 1}",
                        code,
                    )
        finally:
            self.recruiting.discard(viewer.visitor)

    def reroute(self, planned: PlannedOrder) -> PlannedOrder:
        """Once there are recruits, a few new buyers come through a recruit's code instead."""
        if not self.recruits or not planned.new_visitor or planned.index in SHOWCASE:
            return planned
        rng = random.Random(f"{self.cfg.seed}:{planned.order}:recruit-link")
        if rng.random() >= RECRUIT_LINKS:
            return planned
        recruit = rng.choice(self.recruits)
        if not recruit.code:
            return planned
        # A recruit runs no pickup point (yet): their buyers have it sent.
        delivery = "express" if planned.delivery == "pickup" else planned.delivery
        return replace(planned, leader=recruit.leader, code=recruit.code, delivery=delivery)
