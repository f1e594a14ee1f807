"""What the session knows of the world while it plays: its orders, the parcels on their way, the warehouses
that are down, the presale units orders wait for. Shared by the session's parts (buyers, carrier pushes, the
warehouse outage, restocking); each part changes only what its own job is about."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from simulator import carriers
from simulator.catalog import WAREHOUSES, Catalog
from simulator.plan import PlannedOrder

WAREHOUSE_BY_CODE = {w.code: w for w in WAREHOUSES}


@dataclass
class OrderState:
    planned: PlannedOrder
    status: str = "placing"
    leader: str | None = None
    total_cents: int = 0
    refund_planned: bool = False
    parcels_started: int = 0


@dataclass
class World:
    catalog: Catalog | None = None
    orders: dict[str, OrderState] = field(default_factory=dict)
    parcels: dict[str, carriers.Parcel] = field(default_factory=dict)  # shipment → its current journey
    down: set[str] = field(default_factory=set)  # warehouses down
    outage_settled: dict[str, asyncio.Event] = field(default_factory=dict)  # warehouse → its outage is in
    parked: list[carriers.Parcel] = field(default_factory=list)  # first pushes waiting for their warehouse
    presale_waiting: dict[str, int] = field(default_factory=dict)  # order → presale units it waits for
    ordering: int = 0  # orders on their way to the server

    async def outage_in(self, warehouses: set[str]) -> None:
        """Wait until the outage of each of `warehouses` that is going down has been applied."""
        for code in warehouses:
            settled = self.outage_settled.get(code)
            if settled is not None:
                await settled.wait()
