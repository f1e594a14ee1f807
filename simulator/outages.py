"""The warehouse outage: a warehouse goes down for a while (the server re-routes its open parcels) and comes
back; first pushes from it wait meanwhile, and their journeys resume from the moment it is back."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING

from simulator.client import Api
from simulator.pushes import CarrierPushes
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.world import WAREHOUSE_BY_CODE, World

if TYPE_CHECKING:
    from simulator.promo import AfterThePulse


class Outages:
    def __init__(self, api: Api, stats: Stats, clock: Timeline, world: World, pushes: CarrierPushes) -> None:
        self.api, self.stats, self.clock, self.world, self.pushes = api, stats, clock, world, pushes
        self.log: list[tuple[str, str]] = []  # (warehouse, "down" | "up")
        self.task: asyncio.Task[None] | None = None
        self._restoring = asyncio.Lock()  # the restore at its planned time and the one at wind-down: one posts
        self.ops: AfterThePulse | None = None  # posts and withdraws the delay notice (set by the session)

    def begin(self, code: str) -> None:
        self.task = asyncio.create_task(self._outage(code))

    def end(self, code: str) -> None:
        if self.task is not None:
            self.clock.spawn(self.restore(code))

    async def _outage(self, code: str) -> None:
        world = self.world
        name = WAREHOUSE_BY_CODE[code].name
        settled = asyncio.Event()
        world.outage_settled[code] = settled
        world.down.add(code)
        self.stats.outage = f"{name} is down"
        self.stats.outages += 1
        try:
            self.pushes.park_first_pushes_from(code)
            deadline = self.clock.now() + 5
            while self.pushes.pushing and self.clock.now() < deadline:
                await asyncio.sleep(0.02)  # a first push already on its way lands before the outage
            response = await self.api.post(f"/api/v1/warehouses/{code}/status", {"active": False})
            if response is not None and response.status_code == 200:
                self.stats.rerouted += int(response.json().get("rerouted", 0))
                self.log.append((code, "down"))
            elif response is not None:
                self.stats.error(f"outage {code}: {response.status_code} {response.text[:160]}")
        finally:
            settled.set()
        if self.ops is not None and self.log[-1:] == [(code, "down")]:
            await self.ops.post_outage_notice(code, name)  # ops tells the buyers why their parcel is late
        waiting = {
            p.order for p in world.parcels.values() if p.warehouse == code and p.sent == 0 and not p.done
        }
        for order in sorted(waiting):
            self.clock.spawn(self.pushes.resync(order))

    async def restore(self, code: str) -> None:
        async with self._restoring:
            await self._restore(code)

    async def _restore(self, code: str) -> None:
        world = self.world
        await world.outage_in({code})
        if code not in world.down:
            return
        response = await self.api.post(f"/api/v1/warehouses/{code}/status", {"active": True})
        if response is None or response.status_code != 200:
            if response is not None:
                self.stats.error(f"restore {code}: {response.status_code} {response.text[:160]}")
            return
        world.down.discard(code)
        self.log.append((code, "up"))
        if self.ops is not None:
            if self.task is not None and not self.task.done():
                with contextlib.suppress(Exception):  # its notice may still be on its way
                    await asyncio.wait_for(asyncio.shield(self.task), timeout=10)
            await self.ops.withdraw_outage_notice(code)
        self.stats.outage = ""
        parked, world.parked = world.parked, []
        now = self.clock.sim_now()
        for parcel in parked:
            if parcel.done:
                continue
            parcel.shift(now)
            self.clock.schedule(self.clock.wall_at(parcel.lines[parcel.sent].at), self.pushes.line_due, parcel)

    async def wind_down(self) -> None:
        """The session ends: let an outage going down land, then bring every warehouse down back."""
        if self.task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.task), timeout=10)
        if self.world.down:
            self.stats.phase = "bringing the warehouse back"
            for code in list(self.world.down):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.restore(code), timeout=10)
