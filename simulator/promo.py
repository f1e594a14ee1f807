"""The promo night after the pulse (issue 13), played through the public API ("After the pulse" in API.md):

- the carriers get a daily capacity, a cost per parcel and the provinces they cover best; one of them (the 60%
  express carrier) only just enough for the session to fill it mid-pulse, the others plenty;
- while the session plays, their use today is read back (`GET /api/v1/carriers`) for the progress screen, and
  the moment the tight one runs out is noted;
- when a warehouse goes down ops posts a delay notice for it, and withdraws it when the warehouse is back.

An endpoint that answers 404 (not deployed yet) is counted per feature, not an error; after a few with none
answered, the feature is left alone for the rest of the session.
"""

from __future__ import annotations

import asyncio
from typing import Any

from simulator.client import Api, answer_of
from simulator.config import SimConfig
from simulator.growth import Features
from simulator.plan import Rhythm
from simulator.promo_plan import carrier_bodies, outage_notice
from simulator.stats import Stats
from simulator.timeline import Timeline

# The features this module counts 404s against (and the room fields a server may refuse with a 422).
AFTER_THE_PULSE_FEATURES = frozenset(
    {"carriers", "carrier_capacity", "notices", "room.forecast", "room.ship_promise"}
)
WATCH_EVERY_S = 2.0  # wall seconds between two reads of the carriers' use


def carrier_rows(answer: Any) -> list[dict[str, Any]]:
    """The carriers of a `GET /api/v1/carriers` answer: a list, or an object carrying one under `carriers`."""
    if isinstance(answer, dict):
        answer = answer.get("carriers")
    return [row for row in answer or [] if isinstance(row, dict) and row.get("carrier")]


def used_today(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {str(row["carrier"]): int(row.get("used_today") or 0) for row in rows}


class AfterThePulse:
    def __init__(self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, rhythm: Rhythm) -> None:
        self.cfg, self.api, self.stats, self.clock, self.rhythm = cfg, api, stats, clock, rhythm
        self.features = Features(stats)
        self.notices: dict[str, str] = {}  # warehouse → the notice posted for its outage

    # --- carriers ------------------------------------------------------------------------------------------

    async def _read_carriers(self) -> list[dict[str, Any]] | None:
        if not self.features.on("carriers"):
            return None
        response = await self.api.get("/api/v1/carriers")
        if response is None or not self.features.answered("carriers", response):
            if response is not None and response.status_code not in (404, 405):
                self.stats.error(f"carriers: {response.status_code} {response.text[:160]}")
            return None
        try:
            return carrier_rows(response.json())
        except ValueError:
            return None

    async def setup_carriers(self) -> bool:
        """Each carrier's capacity, cost and provinces, on top of what today has already used of it. True when
        done (whatever the server took)."""
        rows = await self._read_carriers()
        used = used_today(rows or [])
        for carrier, body in carrier_bodies(self.rhythm, self.cfg.orders, used).items():
            if not self.features.on("carrier_capacity"):
                break
            response = await self.api.put(f"/api/v1/carriers/{carrier}", body)
            if response is None:
                break
            if self.features.answered("carrier_capacity", response):
                self.stats.carriers_configured += 1
                self.stats.carrier_use[carrier] = (used.get(carrier, 0), int(body["daily_capacity"]))
            elif response.status_code not in (404, 405):
                self.stats.error(f"carrier {carrier}: {response.status_code} {response.text[:160]}")
        return True

    async def watch_carriers(self) -> None:
        """Read the carriers' use now and then, for the screen; note when a carrier runs out."""
        while self.features.on("carriers"):
            rows = await self._read_carriers()
            for row in rows or []:
                carrier = str(row["carrier"])
                capacity = row.get("daily_capacity")
                used = int(row.get("used_today") or 0)
                self.stats.carrier_use[carrier] = (used, int(capacity) if capacity is not None else None)
                if capacity is not None and used >= int(capacity) and carrier not in self.stats.capacity_full:
                    self.stats.capacity_full[carrier] = self.stats.phase
            await asyncio.sleep(WATCH_EVERY_S)

    # --- delay notices ---------------------------------------------------------------------------------------

    async def post_outage_notice(self, warehouse: str, name: str) -> None:
        """The warehouse went down: ops tells the buyers of the orders it concerns."""
        if warehouse in self.notices or not self.features.on("notices"):
            return
        response = await self.api.post("/api/v1/notices", outage_notice(self.cfg.room, warehouse, name))
        if response is None:
            return
        if not self.features.answered("notices", response):
            if response.status_code not in (404, 405):
                self.stats.error(f"notice {warehouse}: {response.status_code} {response.text[:160]}")
            return
        answer = answer_of(response)
        notice = str(answer.get("notice") or "")
        if notice:
            self.notices[warehouse] = notice
        self.stats.notices_posted += 1
        self.stats.notice_orders += int(answer.get("orders") or 0)

    async def withdraw_outage_notice(self, warehouse: str) -> None:
        """The warehouse is back: its notice comes down."""
        notice = self.notices.pop(warehouse, None)
        if notice is None:
            return
        response = await self.api.delete(f"/api/v1/notices/{notice}")
        if response is None:
            return
        if self.features.answered("notices", response):
            self.stats.notices_withdrawn += 1
        elif response.status_code not in (404, 405):
            self.stats.error(f"withdraw notice {notice}: {response.status_code} {response.text[:160]}")
