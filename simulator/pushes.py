"""The carriers: each booked parcel's journey, pushed line by line when it falls due on the accelerated clock,
through the parcel's channel (Kdniao in batches, Kuaidi100 one by one, or the normalized API). A refused push is
followed up as a carrier would: an unknown waybill means the order was re-routed (read it again), a cancelled
parcel stops."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

import httpx

from simulator import carriers
from simulator.catalog import PRESALE
from simulator.client import Api, answer_of
from simulator.config import SimConfig
from simulator.people import place_of
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.world import WAREHOUSE_BY_CODE, OrderState, World

KDNIAO_BATCH = 50  # waybills per Kdniao push


class CarrierPushes:
    def __init__(self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, world: World) -> None:
        self.cfg, self.api, self.stats, self.clock, self.world = cfg, api, stats, clock, world
        self.kdniao_queue: dict[str, tuple[carriers.Parcel, int]] = {}
        self.pushing = 0
        self.resyncing: set[str] = set()
        self.on_signed: Callable[[OrderState], None] = lambda state: None
        self.on_stuck: Callable[[OrderState], None] = lambda state: None
        # With a carrier gateway (--gateway test) the order's answer carries no waybill: the shipment waits here
        # until the gateway books it; a waybill booked before the answer reached us waits in `booked`.
        self.awaiting: dict[str, tuple[OrderState, dict[str, Any]]] = {}
        self.booked: dict[str, tuple[str, str]] = {}  # shipment → (carrier, waybill)

    def busy(self) -> bool:
        """Pushes queued or on their way."""
        return bool(self.kdniao_queue) or bool(self.pushing)

    # --- journeys ------------------------------------------------------------------------------------------

    def _route(self, state: OrderState, shipment: dict[str, Any]) -> carriers.Route:
        planned = state.planned
        origin = WAREHOUSE_BY_CODE.get(str(shipment.get("warehouse")))
        origin_city = origin.city.removesuffix("市") if origin else str(shipment.get("warehouse"))
        city, district = planned.buyer.city, planned.buyer.district
        pickup = None
        catalog = self.world.catalog
        if planned.delivery == "pickup" and catalog is not None:
            leader = catalog.by_id.get(state.leader or planned.leader)
            if leader is not None and leader.pickup_point:
                pickup = leader.pickup_point["name"]
                city, district = leader.pickup_point["city"], leader.pickup_point["district"]
        with contextlib.suppress(KeyError):
            city = place_of(city).city
        return carriers.Route(
            str(shipment.get("carrier")), origin_city, city.removesuffix("市") or city, district, pickup
        )

    def start(self, state: OrderState, shipment: dict[str, Any], kind: str | None = None) -> None:
        """A booked parcel starts its journey."""
        waybill, carrier = str(shipment["waybill"]), str(shipment.get("carrier"))
        rng = random.Random(f"{self.cfg.seed}:{shipment['shipment']}:{waybill}")
        if kind is None:
            kind = state.planned.fate.parcel if state.parcels_started == 0 else "normal"
        state.parcels_started += 1
        route = self._route(state, shipment)
        lines = carriers.plan_journey(rng, kind, route, self.clock.sim_now())
        channel = carriers.channel_for(carrier, rng) if self.cfg.signs_pushes else "api"
        parcel = carriers.Parcel(
            order=state.planned.order,
            shipment=str(shipment["shipment"]),
            waybill=waybill,
            carrier=carrier,
            warehouse=str(shipment.get("warehouse")),
            channel=channel,
            kind=kind,
            lines=lines,
            kuaidi100_returned=rng.choice(("4", "6")),
        )
        self.world.parcels[parcel.shipment] = parcel
        self.stats.parcel_moved("", "created")
        self.clock.schedule(self.clock.wall_at(lines[0].at), self.line_due, parcel)

    # --- waybills from the carrier gateway -------------------------------------------------------------------

    def await_waybill(self, state: OrderState, shipment: dict[str, Any]) -> None:
        """A shipment the server answered without a waybill (`awaiting_waybill`): its journey starts when the
        carrier gateway books it, or now if it already has."""
        key = str(shipment.get("shipment"))
        booked = self.booked.pop(key, None)
        if booked is not None:
            self._start_booked(state, shipment, *booked)
        elif key not in self.awaiting:
            self.awaiting[key] = (state, shipment)
            self.stats.awaiting_waybill = len(self.awaiting)

    def waybill_issued(self, shipment: str, carrier: str, waybill: str) -> None:
        """The test carrier gateway's on_issued hook: the server booked `waybill` with `carrier` for `shipment`
        (the carrier may differ from the order's answer: a refusal moved it on). The gateway knows the booking by
        its order code: the shipment id, or `{shipment}~n` for a shipment booked anew after a cancelled waybill."""
        shipment = shipment.split("~", 1)[0]
        self.stats.gateway_waybills += 1
        waiting = self.awaiting.pop(shipment, None)
        self.stats.awaiting_waybill = len(self.awaiting)
        if waiting is None:
            self.booked[shipment] = (carrier, waybill)
            return
        self._start_booked(waiting[0], waiting[1], carrier, waybill)

    def _start_booked(self, state: OrderState, shipment: dict[str, Any], carrier: str, waybill: str) -> None:
        known = self.world.parcels.get(str(shipment.get("shipment")))
        if known is not None and known.waybill == waybill:
            return
        kind = None
        if known is not None:
            self._supersede(known)
            kind = known.kind
        self.start(state, {**shipment, "carrier": carrier, "waybill": waybill}, kind)

    def line_due(self, parcel: carriers.Parcel) -> None:
        if parcel.done:
            return
        if parcel.sent == 0 and parcel.warehouse in self.world.down:
            self.world.parked.append(parcel)  # the warehouse is down: nothing leaves it until it is back
            return
        upto = parcel.sent + 1
        if parcel.channel == "kdniao":
            self.kdniao_queue[parcel.waybill] = (parcel, upto)
        elif parcel.channel == "kuaidi100":
            self.clock.spawn(self._push_kuaidi100(parcel, upto))
        else:
            self.clock.spawn(self._push_normalized(parcel, upto))

    def _advanced(self, parcel: carriers.Parcel, upto: int) -> None:
        if parcel.superseded or upto <= parcel.sent:
            return
        before = parcel.state
        parcel.sent, parcel.retries = upto, 0
        self.stats.parcel_moved(before, parcel.state)
        self.stats.pushed(self.clock.now() - self.clock.wall_at(parcel.lines[upto - 1].at))
        stage = parcel.lines[upto - 1].stage
        if stage is carriers.Stage.SIGNED:
            state = self.world.orders.get(parcel.order)
            if state is not None:
                self.on_signed(state)
        if not parcel.done:
            self.clock.schedule(
                max(self.clock.now(), self.clock.wall_at(parcel.lines[parcel.sent].at)), self.line_due, parcel
            )
        elif parcel.kind == "stuck":
            self.stats.stuck += 1
            state = self.world.orders.get(parcel.order)
            if state is not None:
                self.on_stuck(state)

    def _retry(self, parcel: carriers.Parcel) -> None:
        parcel.retries += 1
        if parcel.retries <= 3:
            self.clock.schedule(self.clock.now() + 2.0, self.line_due, parcel)

    def _refused(self, parcel: carriers.Parcel, status: int, detail: str) -> None:
        if status == 404 or "unknown" in detail:
            self.clock.spawn(self.resync(parcel.order))  # re-routed under us: read the order again
        elif "cancelled" in detail:
            self._supersede(parcel)
        else:
            self.stats.error(f"push {parcel.waybill}: {status} {detail[:160]}")

    def _supersede(self, parcel: carriers.Parcel) -> None:
        if not parcel.superseded:
            parcel.superseded = True
            self.stats.parcels[parcel.state] -= 1

    def _ready(self, parcel: carriers.Parcel) -> bool:
        """Whether a push may go now; a first push from a warehouse that went down waits for it instead."""
        if parcel.done:
            return False
        if parcel.sent == 0 and parcel.warehouse in self.world.down:
            self.world.parked.append(parcel)
            return False
        return True

    def park_first_pushes_from(self, warehouse: str) -> None:
        """The warehouse goes down: first pushes queued from it wait until it is back."""
        for waybill, (parcel, _upto) in list(self.kdniao_queue.items()):
            if parcel.sent == 0 and parcel.warehouse == warehouse:
                del self.kdniao_queue[waybill]
                self.world.parked.append(parcel)

    # --- the pushes ----------------------------------------------------------------------------------------

    async def kdniao_flusher(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            while self.kdniao_queue:
                batch = []
                for waybill in list(self.kdniao_queue)[:KDNIAO_BATCH]:
                    parcel, upto = self.kdniao_queue.pop(waybill)
                    if self._ready(parcel):
                        batch.append((parcel, upto))
                if batch:
                    self.clock.spawn(self._push_kdniao(batch))

    async def _push_kdniao(self, batch: list[tuple[carriers.Parcel, int]]) -> None:
        items = [carriers.kdniao_item(parcel, upto, self.clock.reported_at) for parcel, upto in batch]
        form = carriers.kdniao_form(self.cfg.kdniao_appkey, items, datetime.now(UTC))
        self.pushing += 1
        try:
            response = await self.api.push("/api/v1/carriers/kdniao/push", form)
        finally:
            self.pushing -= 1
        if response is None:
            for parcel, _ in batch:
                self._retry(parcel)
            return
        self.stats.pushes["kdniao"] += 1
        answer = answer_of(response)
        if response.status_code == 200 and answer.get("Success"):
            unknown, refused = _kdniao_leftovers(str(answer.get("Reason") or ""))
            for parcel, upto in batch:
                if parcel.waybill in unknown:
                    self._refused(parcel, 404, "unknown waybill")
                elif parcel.waybill in refused:
                    self._refused(parcel, 409, refused[parcel.waybill])
                else:
                    self._advanced(parcel, upto)
            return
        for parcel, _ in batch:
            self._refused(parcel, response.status_code, str(answer.get("Reason") or response.text))

    async def _push_kuaidi100(self, parcel: carriers.Parcel, upto: int) -> None:
        if not self._ready(parcel):
            return
        form = carriers.kuaidi100_form(self.cfg.kuaidi100_salt, parcel, upto, self.clock.reported_at)
        await self._push_one(
            parcel, upto, "kuaidi100", self.api.push("/api/v1/carriers/kuaidi100/push", form)
        )

    async def _push_normalized(self, parcel: carriers.Parcel, upto: int) -> None:
        if not self._ready(parcel):
            return
        body = carriers.tracking_body(parcel, upto, self.clock.reported_at)
        await self._push_one(parcel, upto, "api", self.api.track(body))

    async def _push_one(
        self,
        parcel: carriers.Parcel,
        upto: int,
        channel: str,
        sending: Coroutine[Any, Any, httpx.Response | None],
    ) -> None:
        self.pushing += 1
        try:
            response = await sending
        finally:
            self.pushing -= 1
        if response is None:
            self._retry(parcel)
            return
        self.stats.pushes[channel] += 1
        if response.status_code == 200:
            self._advanced(parcel, upto)
        else:
            answer = answer_of(response)
            self._refused(
                parcel,
                response.status_code,
                str(answer.get("error") or "") + " " + str(answer.get("detail") or answer.get("message")),
            )

    # --- following the server ------------------------------------------------------------------------------

    async def resync(self, order: str) -> None:
        """Read the order again and follow its parcels as the server has them now (re-routed, new waybills)."""
        if order in self.resyncing:
            self.clock.schedule(self.clock.now() + 1.0, self.resync, order)
            return
        state = self.world.orders.get(order)
        if state is None or state.planned.fate.cancel:
            return
        self.resyncing.add(order)
        try:
            response = await self.api.get(f"/api/v1/orders/{order}")
        finally:
            self.resyncing.discard(order)
        if response is None or response.status_code != 200:
            if response is not None:
                self.stats.error(f"read {order}: {response.status_code} {response.text[:160]}")
            return
        for shipment in response.json().get("shipments") or []:
            known = self.world.parcels.get(str(shipment.get("shipment")))
            if shipment.get("state") == "cancelled":
                if known is not None:
                    self._supersede(known)
                continue
            if not shipment.get("waybill"):
                if shipment.get("state") == "awaiting_waybill":
                    self.await_waybill(state, shipment)
                continue
            if known is not None and known.waybill == shipment["waybill"]:
                continue
            kind = None
            if known is not None:
                self._supersede(known)
                kind = known.kind
            self.start(state, shipment, kind)
            if PRESALE in {item.get("sku") for item in shipment.get("items") or []}:
                self.world.presale_waiting.pop(order, None)


def _kdniao_leftovers(reason: str) -> tuple[set[str], dict[str, str]]:
    """What a successful Kdniao answer's Reason names as not applied: unknown waybills, and refused ones."""
    unknown: set[str] = set()
    refused: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in reason.split(";"))):
        if part.startswith("unknown waybills:"):
            unknown |= {w.strip() for w in part.removeprefix("unknown waybills:").split(",") if w.strip()}
        elif ":" in part:
            waybill, detail = part.split(":", 1)
            refused[waybill.strip()] = detail.strip()
    return unknown, refused
