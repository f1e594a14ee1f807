"""A stand-in carrier gateway for the waybill worker's tests: an external system (Kdniao's behaviour as documented:
one waybill per OrderCode, refusals, failures) implementing server/gateways' Gateway protocol in memory. The
HTTP test gateway (simulator/gateway.py) covers the wire; this one lets a test steer every answer.

Also the `gw` fixture's parts: the real app in kdniao mode with this gateway, its worker run by hand."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT, SECRET, START, WAREHOUSES, seed_catalog
from sqlalchemy import select

from liveroom.app import create_app
from server.clock import ManualClock
from server.gateways import Outcome, Party, WaybillOrder
from server.services.waybill_worker import WaybillWorker
from server.settings import Settings
from store import models
from store.migrate import upgrade

SENDERS = {
    "SH": {"contact": "周仓管", "mobile": "13900000001", "district": "浦东新区", "address": "张江路100号"},
    "GZ": {"contact": "林仓管", "mobile": "13900000002", "district": "白云区", "address": "机场路88号"},
    "BJ": {"contact": "赵仓管", "mobile": "13900000003", "district": "朝阳区", "address": "望京街9号"},
}


@dataclass
class StandInGateway:
    name: str = "kdniao"
    issues_waybills: bool = True
    failing: set[str] = field(default_factory=set)  # carriers whose calls fail (a 5xx): retry
    refusing: dict[str, str] = field(default_factory=dict)  # carrier → its reason ("*": every carrier)
    lose_answer: set[str] = field(default_factory=set)  # shipments whose next answer is lost after issuing
    issued: dict[tuple[str, str], str] = field(default_factory=dict)  # (OrderCode, carrier) → waybill
    retired: list[str] = field(default_factory=list)  # waybills cancelled
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, shipment, carrier)
    subscribed: list[tuple[str, str]] = field(default_factory=list)
    cancelled: list[tuple[str, str]] = field(default_factory=list)
    closed: bool = False

    async def issue(self, order: WaybillOrder) -> Outcome:
        self.calls.append(("issue", order.shipment, order.carrier))
        assert order.sender.mobile and order.receiver.mobile and order.commodities
        if order.carrier in self.failing:
            return Outcome("retry", reason="HTTP 503 from the gateway")
        reason = self.refusing.get(order.carrier) or self.refusing.get("*")
        if reason:
            return Outcome("refused", reason=reason)
        key = (order.shipment, order.carrier)  # Kdniao: a repeated OrderCode gets the waybill already issued
        if key not in self.issued:
            self.issued[key] = f"{order.carrier}{7_000_000 + len(self.issued) + len(self.retired)}"
        if order.shipment in self.lose_answer:
            self.lose_answer.discard(order.shipment)
            return Outcome("retry", reason="read timeout")
        return Outcome("ok", waybill=self.issued[key])

    async def subscribe(self, carrier: str, waybill: str, shipment: str, receiver: Party) -> Outcome:
        self.calls.append(("subscribe", shipment, carrier))
        self.subscribed.append((carrier, waybill))
        return Outcome("ok")

    async def cancel(self, carrier: str, waybill: str, shipment: str) -> Outcome:
        self.calls.append(("cancel", shipment, carrier))
        self.cancelled.append((carrier, waybill))
        if self.issued.get((shipment, carrier)) == waybill:  # the order code is free again: a new waybill next
            self.retired.append(self.issued.pop((shipment, carrier)))
        return Outcome("ok")

    async def aclose(self) -> None:
        self.closed = True

    def issue_calls(self, shipment: str) -> list[str]:
        return [carrier for kind, s, carrier in self.calls if kind == "issue" and s == shipment]


@dataclass
class Gw:
    client: httpx.AsyncClient
    ctx: Any
    clock: ManualClock
    gateway: StandInGateway
    worker: WaybillWorker
    app: Any

    async def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return await self.client.put(path, json=body)

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.client.post(path, json=body)

    async def rows(self, table: Any, *where: Any) -> list[Any]:
        async with self.ctx.engine.connect() as conn:
            return list(await conn.execute(select(table).where(*where)))

    async def requests(self, shipment: str | None = None) -> list[Any]:
        w = models.waybill_requests
        return await self.rows(w, *([w.c.shipment == shipment] if shipment else []))

    async def kinds(self) -> list[str]:
        o = models.outbox
        async with self.ctx.engine.connect() as conn:
            return [r.kind for r in await conn.execute(select(o.c.kind).order_by(o.c.seq))]

    async def events(self, kind: str) -> list[dict[str, Any]]:
        o = models.outbox
        async with self.ctx.engine.connect() as conn:
            return [r.payload for r in await conn.execute(select(o.c.payload).where(o.c.kind == kind)
                                                          .order_by(o.c.seq))]


@asynccontextmanager
async def gateway_app(database_url: str, *, mode: str = "kdniao", senders: bool = True, run_worker: bool = False,
                      gateway: StandInGateway | None = None,
                      settings_hook: Callable[[Any], Any] | None = None) -> AsyncIterator[Gw]:
    """The real app in a gateway mode, against the stand-in gateway, the catalog seeded (with senders)."""
    upgrade(database_url)
    clock = ManualClock(START)
    settings = Settings(database_url=database_url, api_key=API_KEY, secret=SECRET, kdniao_appkey=KDNIAO_APPKEY,
                        kuaidi100_salt=KUAIDI100_SALT, public_url="http://liveroom.test", carrier_gateway=mode,
                        kdniao_business_id="1234567", kuaidi100_key="kuaidi100-test-key")
    if settings_hook is not None:
        settings = settings_hook(settings)
    gateway = gateway or StandInGateway(issues_waybills=mode == "kdniao",
                                        name="kdniao" if mode == "kdniao" else "kuaidi100")
    app = create_app(settings, clock=clock, run_scheduler=False, gateway=gateway, run_waybill_worker=run_worker)
    async with (app.router.lifespan_context(app),
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://liveroom.test",
                                  headers={"Authorization": f"Bearer {API_KEY}"}) as client):
        gw = Gw(client, app.state.ctx, clock, gateway, app.state.waybill_worker, app)
        gw.worker.rng = random.Random(14)
        await seed_catalog(gw)
        if senders:
            for code, sender in SENDERS.items():
                answer = await gw.put(f"/api/v1/warehouses/{code}", {**WAREHOUSES[code], **sender})
                assert answer.status_code == 200, answer.text
        yield gw
