"""Restocking: now and then the brand looks at its stock; presale orders waiting get their units, SKUs running
low get more. The scarce SKU gets none: it stays sold out."""

from __future__ import annotations

import random

from simulator.catalog import PRESALE, SCARCE, SKU_BY_ID, SKUS
from simulator.client import Api
from simulator.config import SimConfig
from simulator.pushes import CarrierPushes
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.world import World


class Restocking:
    def __init__(
        self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, world: World, pushes: CarrierPushes
    ) -> None:
        self.cfg, self.api, self.stats, self.clock, self.world = cfg, api, stats, clock, world
        self.pushes = pushes

    async def replenish(self, sku: str, warehouse: str, units: int) -> None:
        body = {"delta": units, "reason": "补货到仓"}
        response = await self.api.post(f"/api/v1/skus/{sku}/stock/{warehouse}/adjust", body)
        if response is None:
            return
        if response.status_code not in (200, 201):
            self.stats.error(f"replenish {sku}@{warehouse}: {response.status_code} {response.text[:160]}")
            return
        self.stats.replenishments += 1
        filled = int(response.json().get("backorders_filled", 0))
        self.stats.backorders_filled += filled
        if filled:
            for order in sorted(self.world.presale_waiting):
                self.clock.spawn(self.pushes.resync(order))

    def fill_presale(self) -> None:
        """The session drains: the presale orders still waiting get their units (and a few more)."""
        world = self.world
        if world.presale_waiting:
            warehouse = next((w for w in SKU_BY_ID[PRESALE].warehouses if w not in world.down), "SH")
            self.clock.spawn(self.replenish(PRESALE, warehouse, sum(world.presale_waiting.values()) + 5))

    async def keep_stock(self, check: int) -> None:
        """The brand's look at its stock, the `check`-th of the session."""
        world = self.world
        assert world.catalog is not None
        rng = random.Random(f"{self.cfg.seed}:stock:{check}")
        if world.presale_waiting and rng.random() < 0.5:
            warehouse = rng.choice([w for w in SKU_BY_ID[PRESALE].warehouses if w not in world.down] or ["SH"])
            await self.replenish(PRESALE, warehouse, sum(world.presale_waiting.values()) + rng.randint(5, 20))
        candidates = [s for s in SKUS if s.sku not in (SCARCE, PRESALE)]
        for sku in rng.sample(candidates, k=min(3, len(candidates))):
            response = await self.api.get(f"/api/v1/skus/{sku.sku}/stock")
            if response is None or response.status_code != 200:
                continue
            for row in response.json().get("warehouses", []):
                initial = world.catalog.stock.get((sku.sku, row["warehouse"]), 0)
                if row.get("active", True) and initial and row["available"] < max(10, initial * 0.2):
                    await self.replenish(sku.sku, row["warehouse"], max(20, initial // 2))
