"""A simulated live session played against a running server, through its public API only.

The session loads the catalog, then plays the planned orders at their times (each after its visitor opened a
leader's link), and reacts to the server's answers the way the real world would: carriers push each parcel's
trace on the accelerated clock, leaders fix held orders, buyers cancel or ask for refunds, the brand
replenishes, and a warehouse goes down for a while and comes back. It ends after the last order and a short
drain, or when stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import heapq
import itertools
import random
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live

from server.simulator import carriers, display
from server.simulator.catalog import (
    OUTAGE_WAREHOUSE,
    PRESALE,
    SCARCE,
    SKU_BY_ID,
    SKUS,
    WAREHOUSES,
    Catalog,
    CatalogError,
    load_catalog,
    plan_catalog,
)
from server.simulator.client import Api
from server.simulator.config import SimConfig
from server.simulator.people import place_of
from server.simulator.plan import OrderPlanner, PlannedOrder, Rhythm
from server.simulator.stats import Stats

WAREHOUSE_BY_CODE = {w.code: w for w in WAREHOUSES}
KDNIAO_BATCH = 50  # waybills per Kdniao push
OUTAGE_FROM, OUTAGE_UNTIL = 0.35, 0.60  # of the orders placed
REFUND_REASONS = ("水果有坏果", "外包装破损", "与描述不符", "发错规格", "不想要了")


@dataclass
class OrderState:
    planned: PlannedOrder
    status: str = "placing"
    leader: str | None = None
    total_cents: int = 0
    refund_planned: bool = False
    parcels_started: int = 0


@dataclass
class Summary:
    run: str
    room: str
    ended: str
    elapsed: float
    stats: dict[str, Any]
    orders: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    verified: list[str] = field(default_factory=list)
    outages: list[tuple[str, str]] = field(default_factory=list)  # (warehouse, "down" | "up")
    board: list[dict[str, Any]] = field(default_factory=list)


class Session:
    def __init__(self, config: SimConfig, console: Console | None = None, *, live: bool = True) -> None:
        self.cfg = config
        self.console = console or Console()
        self.show_live = live
        self.stats = Stats(target=config.orders)
        self.api = Api(config.url, config.api_key, config.concurrency, self.stats.error)
        self.rhythm = Rhythm.for_session(config.orders, config.rate, config.pulse_every, config.pulse_seconds)
        self.catalog: Catalog | None = None
        self.planner: OrderPlanner | None = None
        self.ended = "orders"
        self.t0 = 0.0
        self.start = datetime.now(UTC)
        self.started = False
        self.stop_event = asyncio.Event()
        self.heap: list[tuple[float, int, Callable[..., Any], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loops: list[asyncio.Task[Any]] = []
        self.orders: dict[str, OrderState] = {}
        self.parcels: dict[str, carriers.Parcel] = {}  # shipment → its current journey
        self.kdniao_queue: dict[str, tuple[carriers.Parcel, int]] = {}
        self.pushing = 0
        self.down: set[str] = set()
        self.outage_settled: dict[str, asyncio.Event] = {}
        self.parked: list[carriers.Parcel] = []
        self.presale_waiting: dict[str, int] = {}  # order → presale units it waits for
        self.resyncing: set[str] = set()
        self.ordering = 0
        self.outage_log: list[tuple[str, str]] = []
        self.outage_task: asyncio.Task[Any] | None = None
        self.interrupts = 0
        self._loop: asyncio.AbstractEventLoop | None = None

    # --- clocks --------------------------------------------------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def elapsed(self) -> float:
        return self.loop.time() - self.t0 if self.started else 0.0

    def sim_now(self) -> datetime:
        """The carriers' clock: the session's start plus the elapsed wall time times --speed."""
        return self.start + timedelta(seconds=self.elapsed() * self.cfg.speed)

    def wall_at(self, at: datetime) -> float:
        return self.t0 + (at - self.start).total_seconds() / self.cfg.speed

    def reported_at(self, at: datetime) -> datetime:
        """The real time a line planned for `at` (carriers' clock) falls due: what its push reports, since the
        server refuses events dated after their arrival."""
        return self.start + (at - self.start) / self.cfg.speed

    def after_sim_minutes(self, minutes: float) -> float:
        return self.loop.time() + minutes * 60.0 / self.cfg.speed

    # --- the timeline ----------------------------------------------------------------------------------------

    def schedule(self, when: float, action: Callable[..., Any], *args: Any) -> None:
        heapq.heappush(self.heap, (when, next(self.seq), action, args))

    def spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(self._guarded(work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guarded(self, work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception as error:  # one failed action must not end the session
            self.stats.error(f"{type(error).__name__}: {error}")

    async def _timeline(self) -> None:
        while True:
            now = self.loop.time()
            while self.heap and self.heap[0][0] <= now:
                _, _, action, args = heapq.heappop(self.heap)
                result = action(*args)
                if asyncio.iscoroutine(result):
                    self.spawn(result)
            await asyncio.sleep(0.05)

    async def _watchdog(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self.api.unreachable and not self.stop_event.is_set():
                self.ended = "server unreachable"
                self.stop()

    def stop(self) -> None:
        self.stop_event.set()

    def interrupt(self) -> None:
        """Ctrl-C: the first stops the session cleanly (warehouse restored, summary printed)."""
        self.interrupts += 1
        if self.ended == "orders":
            self.ended = "interrupted"
        self.stats.phase = "stopping"
        self.stop()

    async def _sleep_until(self, when: float) -> bool:
        """Sleep until the loop time `when`; False when the session was stopped first."""
        delay = when - self.loop.time()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop_event.wait(), timeout=delay)
        return not self.stop_event.is_set()

    # --- the whole session -----------------------------------------------------------------------------------

    async def run(self) -> Summary:
        """Play the session to its end (or until stopped) and print the summary."""
        self._loop = asyncio.get_running_loop()
        animated = self.show_live and self.console.is_terminal
        live = (
            Live(self._render(), console=self.console, auto_refresh=False, transient=False)
            if animated
            else None
        )
        if live is not None:
            live.start()
        reporter = asyncio.create_task(self._report(live))
        board: list[dict[str, Any]] = []
        try:
            if await self._begin():
                await self._feed()
                await self._drain()
            await self._wind_down()
            board = await self._board()
            self.stats.phase = f"done ({self.ended})"
        finally:
            reporter.cancel()
            for task in self.loops:
                task.cancel()
            await asyncio.gather(reporter, *self.loops, return_exceptions=True)
            if live is not None:
                live.update(self._render(), refresh=True)
                live.stop()
            await self.api.close()
        result = self._summary(board)
        self.console.print(display.summary(self.stats, board, result.elapsed, result.ended, self.cfg.room))
        return result

    def _render(self) -> Any:
        return display.progress(
            self.stats,
            self.cfg.url,
            self.cfg.room,
            self.elapsed(),
            self.sim_now(),
            self.loop.time(),
            self.api.in_flight,
            self.cfg.speed,
        )

    async def _report(self, live: Live | None) -> None:
        """The progress screen, redrawn from the event loop; on a console that is not a terminal, a line every
        ten seconds instead."""
        while True:
            if live is not None:
                live.update(self._render(), refresh=True)
                await asyncio.sleep(0.25)
                continue
            await asyncio.sleep(10)
            if self.show_live:
                self.console.print(display.line(self.stats, self.elapsed(), self.loop.time()), soft_wrap=True)

    async def _begin(self) -> bool:
        self.stats.phase = f"waiting for {self.cfg.url}"
        healthy = await self._unless_stopped(self.api.wait_until_healthy(self.cfg.wait))
        if healthy is None:
            return False
        if not healthy:
            self.ended = "server unreachable"
            self.stats.error(f"{self.cfg.url}/healthz did not answer within {self.cfg.wait:g}s")
            return False
        self.stats.phase = "loading the catalog"
        catalog = plan_catalog(
            random.Random(f"{self.cfg.seed}:catalog"), self.cfg.room, self.cfg.leaders, self.cfg.orders
        )
        now = datetime.now(UTC).replace(microsecond=0)
        expected_hours = self.cfg.orders / (3.25 * self.cfg.rate) / 3600
        try:
            loading = load_catalog(
                self.api, catalog, now - timedelta(minutes=1), max(4.0, 2 * expected_hours)
            )
            if await self._unless_stopped(loading) is None:
                return False
        except CatalogError as error:
            self.ended = "catalog refused"
            self.stats.error(str(error))
            return False
        self.catalog = catalog
        busiest = catalog.by_id[catalog.popularity[0]]
        self.console.print(
            f"room {catalog.room}: {len(SKUS)} SKUs in {len(WAREHOUSES)} warehouses, {len(catalog.leaders)} leaders;"
            f" the busiest leader is {busiest.leader} ({busiest.name}); order ids o-{self.cfg.run}-00001, …",
            soft_wrap=True,
        )
        self.planner = OrderPlanner(catalog, self.rhythm, self.cfg.seed, self.cfg.run)
        self.t0 = self.loop.time()
        self.start = datetime.now(UTC)
        self.started = True
        self.loops = [
            asyncio.create_task(c) for c in (self._timeline(), self._kdniao_flusher(), self._watchdog())
        ]
        return not self.stop_event.is_set()

    async def _unless_stopped(self, work: Coroutine[Any, Any, Any]) -> Any:
        """`work`'s result, or None when the session is stopped first (the work is then cancelled)."""
        task = asyncio.ensure_future(work)
        stopped = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return None
        return task.result()

    async def _feed(self) -> None:
        assert self.planner is not None
        total = self.cfg.orders
        down_at, up_at = max(1, int(total * OUTAGE_FROM)), max(2, int(total * OUTAGE_UNTIL))
        check_every = max(20, total // 20)
        for index in range(total):
            planned = self.planner.next()
            if not await self._sleep_until(self.t0 + planned.at):
                return
            self._announce(planned)
            if index == down_at:
                self.outage_task = asyncio.create_task(self._outage(OUTAGE_WAREHOUSE))
            elif index == up_at and self.outage_task is not None:
                self.spawn(self._restore(OUTAGE_WAREHOUSE))
            if index and index % check_every == 0:
                self.spawn(self._keep_stock(index // check_every))
            self.ordering += 1
            self.spawn(self._visit_and_order(planned))
            for visitor, code in planned.browsers:
                self.spawn(self._visit(visitor, code))
            self.stats.placed += 1
            while self.ordering >= self.cfg.concurrency * 4 and not self.stop_event.is_set():
                await asyncio.sleep(0.01)  # the server is behind: hold the next orders back

    def _announce(self, planned: PlannedOrder) -> None:
        assert self.planner is not None
        pitched = self.planner.pitched(planned.pulse)
        if pitched is None:
            self.stats.phase = "calm baseline"
        else:
            self.stats.pulses = max(self.stats.pulses, (planned.pulse or 0) + 1)
            self.stats.phase = f"the host pitches {SKU_BY_ID[pitched].name} — orders ×10"

    async def _drain(self) -> None:
        if self.stop_event.is_set():
            return
        self.stats.phase = "draining: letting parcels and follow-ups finish"
        if self.presale_waiting:
            warehouse = next((w for w in SKU_BY_ID[PRESALE].warehouses if w not in self.down), "SH")
            self.spawn(self._replenish(PRESALE, warehouse, sum(self.presale_waiting.values()) + 5))
        deadline = self.loop.time() + self.cfg.drain
        while self.loop.time() < deadline and not self.stop_event.is_set():
            if not self.heap and not self.kdniao_queue and not self.tasks and not self.pushing:
                return
            await asyncio.sleep(0.1)

    async def _wind_down(self) -> None:
        self.stop()
        if self.outage_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.outage_task), timeout=10)
        if self.down:
            self.stats.phase = "bringing the warehouse back"
            for code in list(self.down):
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._restore(code), timeout=10)
        for task in self.loops:
            task.cancel()
        if self.tasks:
            _, pending = await asyncio.wait(list(self.tasks), timeout=3)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _board(self) -> list[dict[str, Any]]:
        if not self.started or self.api.unreachable:
            return []
        with contextlib.suppress(Exception):
            response = await asyncio.wait_for(
                self.api.get(f"/api/v1/rooms/{self.cfg.room}/leaderboard?by=gmv&limit=5"), timeout=5
            )
            if response is not None and response.status_code == 200:
                return list(response.json().get("entries", []))
        return []

    def _summary(self, board: list[dict[str, Any]]) -> Summary:
        states = self.orders.values()
        return Summary(
            run=self.cfg.run,
            room=self.cfg.room,
            ended=self.ended,
            elapsed=self.elapsed(),
            stats=self.stats.as_dict(),
            orders=[s.planned.order for s in states],
            accepted=[s.planned.order for s in states if s.status in ("accepted", "verified", "cancelled")],
            held=[s.planned.order for s in states if s.status in ("held", "verified")],
            verified=[s.planned.order for s in states if s.status == "verified"],
            outages=list(self.outage_log),
            board=board,
        )

    # --- buyers ------------------------------------------------------------------------------------------------

    async def _visit(self, visitor: str, code: str) -> None:
        response = await self.api.post("/api/v1/visits", {"visitor": visitor, "code": code})
        if response is None:
            return
        if response.status_code == 200:
            self.stats.visits += 1
            self.stats.bindings[str(response.json().get("binding"))] += 1
        else:
            self.stats.error(f"visit {visitor}: {response.status_code} {response.text[:160]}")

    async def _visit_and_order(self, planned: PlannedOrder) -> None:
        state = OrderState(planned)
        self.orders[planned.order] = state
        try:
            if planned.code:
                await self._visit(planned.visitor, planned.code)
            response = await self.api.post("/api/v1/orders", planned.body(self.cfg.room))
            instead = self._substitute(planned, response)
            if instead is not None:
                # Sold out on air: most buyers take something else from the same shelf instead.
                self.stats.sold_out += 1
                self.stats.substituted += 1
                del self.orders[planned.order]
                state.planned = instead
                self.orders[instead.order] = state
                response = await self.api.post("/api/v1/orders", instead.body(self.cfg.room))
        finally:
            self.ordering -= 1
        await self._placed(state, response)

    def _substitute(self, planned: PlannedOrder, response: httpx.Response | None) -> PlannedOrder | None:
        """The order again with the sold-out line swapped for another SKU of its category (or None)."""
        if response is None or response.status_code != 409 or _error_code(response) != "sold_out":
            return None
        rng = random.Random(f"{self.cfg.seed}:{planned.order}:substitute")
        if rng.random() >= 0.6:
            return None
        field_name = str(_json(response).get("field") or "")
        gone = {sku for i, (sku, _) in enumerate(planned.items) if field_name == f"items[{i}].sku"}
        gone = gone or {sku for sku, _ in planned.items if sku == SCARCE}
        taken = {sku for sku, _ in planned.items}
        items = []
        for sku, qty in planned.items:
            if sku in gone:
                shelf = [s.sku for s in SKUS if s.category == SKU_BY_ID[sku].category and s.sku not in taken]
                shelf = [s for s in shelf if s != SCARCE]
                if not shelf:
                    continue
                sku = rng.choice(shelf)
                taken.add(sku)
            items.append((sku, qty))
        if not items:
            return None
        return dataclasses.replace(planned, order=f"{planned.order}b", items=tuple(items))

    async def _placed(self, state: OrderState, response: httpx.Response | None) -> None:
        planned = state.planned
        if response is None:
            state.status = "failed"
            return
        if response.status_code == 409 and _error_code(response) == "sold_out":
            state.status = "sold_out"
            self.stats.sold_out += 1
            self.stats.recent.append(self.loop.time())
            return
        if response.status_code not in (200, 201):
            state.status = "failed"
            self.stats.error(f"order {planned.order}: {response.status_code} {response.text[:160]}")
            return
        body = response.json()
        self.stats.recent.append(self.loop.time())
        state.leader, state.total_cents = body.get("leader"), int(body.get("total_cents", 0))
        self.stats.gmv_cents += state.total_cents
        if body.get("status") == "held":
            state.status = "held"
            self.stats.held += 1
            if planned.fate.verify:
                self.schedule(
                    self.after_sim_minutes(_uniform(planned.order, "verify", 10, 60)), self._verify, state
                )
            return
        state.status = "accepted"
        self.stats.accepted += 1
        waiting = sum(int(line.get("qty", 0)) for line in body.get("presale") or [])
        if waiting:
            self.stats.presale += 1
            self.presale_waiting[planned.order] = waiting
        if planned.fate.cancel:
            self.schedule(
                self.after_sim_minutes(_uniform(planned.order, "cancel", 1, 4)), self._cancel, state
            )
            return
        await self._ship(state, body.get("shipments") or [])

    async def _ship(self, state: OrderState, shipments: list[dict[str, Any]]) -> None:
        """Start a journey per booked parcel. A parcel answered from a warehouse that is going down was
        re-routed by the outage (new warehouse, new waybill): read the order again once the outage is in."""
        downs = {s.get("warehouse") for s in shipments} & self.down
        if downs:
            for code in downs:
                settled = self.outage_settled.get(str(code))
                if settled is not None:
                    await settled.wait()
            await self._resync(state.planned.order)
            return
        for shipment in shipments:
            if shipment.get("waybill") and shipment.get("state") != "cancelled":
                self._start_parcel(state, shipment)

    async def _verify(self, state: OrderState) -> None:
        planned = state.planned
        assert planned.flaw is not None
        response = await self.api.post(
            f"/api/v1/orders/{planned.order}/verify", {planned.flaw.field: planned.flaw.fix}
        )
        if response is None:
            return
        if response.status_code != 200:
            self.stats.error(f"verify {planned.order}: {response.status_code} {response.text[:160]}")
            return
        state.status = "verified"
        self.stats.verified += 1
        await self._ship(state, response.json().get("shipments") or [])

    async def _cancel(self, state: OrderState) -> None:
        response = await self.api.post(f"/api/v1/orders/{state.planned.order}/cancel")
        if response is None:
            return
        if response.status_code == 200:
            state.status = "cancelled"
            self.stats.cancelled += 1
            self.presale_waiting.pop(state.planned.order, None)
        else:
            self.stats.error(f"cancel {state.planned.order}: {response.status_code} {response.text[:160]}")

    async def _open_refund(self, state: OrderState) -> None:
        order = state.planned.order
        rng = random.Random(f"{self.cfg.seed}:{order}:refund")
        amount = (
            state.total_cents
            if rng.random() < 0.6
            else max(1, state.total_cents * rng.randint(20, 50) // 100)
        )
        body = {"kind": "refund", "amount_cents": amount, "reason": rng.choice(REFUND_REASONS)}
        response = await self.api.post(f"/api/v1/orders/{order}/after-sales", body)
        if response is None:
            return
        if response.status_code not in (200, 201):
            self.stats.error(f"refund {order}: {response.status_code} {response.text[:160]}")
            return
        self.stats.refunds_opened += 1
        after_sale = str(response.json()["after_sale"])
        self.schedule(self.after_sim_minutes(rng.uniform(10, 60)), self._resolve_refund, state, after_sale)

    async def _resolve_refund(self, state: OrderState, after_sale: str) -> None:
        approved = state.planned.fate.approve
        response = await self.api.post(f"/api/v1/after-sales/{after_sale}/resolve", {"approved": approved})
        if response is None:
            return
        if response.status_code != 200:
            self.stats.error(f"resolve {after_sale}: {response.status_code} {response.text[:160]}")
            return
        if approved:
            self.stats.refunds_approved += 1
        else:
            self.stats.refunds_rejected += 1

    # --- parcels -------------------------------------------------------------------------------------------

    def _route(self, state: OrderState, shipment: dict[str, Any]) -> carriers.Route:
        planned = state.planned
        origin = WAREHOUSE_BY_CODE.get(str(shipment.get("warehouse")))
        origin_city = origin.city.removesuffix("市") if origin else str(shipment.get("warehouse"))
        city, district = planned.buyer.city, planned.buyer.district
        pickup = None
        if planned.delivery == "pickup" and self.catalog is not None:
            leader = self.catalog.by_id.get(state.leader or planned.leader)
            if leader is not None and leader.pickup_point:
                pickup = leader.pickup_point["name"]
                city, district = leader.pickup_point["city"], leader.pickup_point["district"]
        with contextlib.suppress(KeyError):
            city = place_of(city).city
        return carriers.Route(
            str(shipment.get("carrier")), origin_city, city.removesuffix("市") or city, district, pickup
        )

    def _start_parcel(self, state: OrderState, shipment: dict[str, Any], kind: str | None = None) -> None:
        waybill, carrier = str(shipment["waybill"]), str(shipment.get("carrier"))
        rng = random.Random(f"{self.cfg.seed}:{shipment['shipment']}:{waybill}")
        if kind is None:
            kind = state.planned.fate.parcel if state.parcels_started == 0 else "normal"
        state.parcels_started += 1
        route = self._route(state, shipment)
        lines = carriers.plan_journey(rng, kind, route, self.sim_now())
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
        self.parcels[parcel.shipment] = parcel
        self.stats.parcel_moved("", "created")
        self.schedule(self.wall_at(lines[0].at), self._line_due, parcel)

    def _line_due(self, parcel: carriers.Parcel) -> None:
        if parcel.done:
            return
        if parcel.sent == 0 and parcel.warehouse in self.down:
            self.parked.append(parcel)  # the warehouse is down: nothing leaves it until it is back
            return
        upto = parcel.sent + 1
        if parcel.channel == "kdniao":
            self.kdniao_queue[parcel.waybill] = (parcel, upto)
        elif parcel.channel == "kuaidi100":
            self.spawn(self._push_kuaidi100(parcel, upto))
        else:
            self.spawn(self._push_normalized(parcel, upto))

    def _advanced(self, parcel: carriers.Parcel, upto: int) -> None:
        if parcel.superseded or upto <= parcel.sent:
            return
        before = parcel.state
        parcel.sent, parcel.retries = upto, 0
        self.stats.parcel_moved(before, parcel.state)
        self.stats.pushed(self.loop.time() - self.wall_at(parcel.lines[upto - 1].at))
        stage = parcel.lines[upto - 1].stage
        if stage is carriers.Stage.SIGNED:
            self._signed(parcel)
        if not parcel.done:
            self.schedule(
                max(self.loop.time(), self.wall_at(parcel.lines[parcel.sent].at)), self._line_due, parcel
            )
        elif parcel.kind == "stuck":
            self.stats.stuck += 1

    def _signed(self, parcel: carriers.Parcel) -> None:
        state = self.orders.get(parcel.order)
        if state is None or not state.planned.fate.refund or state.refund_planned:
            return
        state.refund_planned = True
        self.schedule(
            self.after_sim_minutes(_uniform(parcel.order, "refund", 10, 60)), self._open_refund, state
        )

    def _retry(self, parcel: carriers.Parcel) -> None:
        parcel.retries += 1
        if parcel.retries <= 3:
            self.schedule(self.loop.time() + 2.0, self._line_due, parcel)

    def _refused(self, parcel: carriers.Parcel, status: int, detail: str) -> None:
        if status == 404 or "unknown" in detail:
            self.spawn(self._resync(parcel.order))  # re-routed under us: read the order again
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
        if parcel.sent == 0 and parcel.warehouse in self.down:
            self.parked.append(parcel)
            return False
        return True

    async def _kdniao_flusher(self) -> None:
        while True:
            await asyncio.sleep(0.2)
            while self.kdniao_queue:
                batch = []
                for waybill in list(self.kdniao_queue)[:KDNIAO_BATCH]:
                    parcel, upto = self.kdniao_queue.pop(waybill)
                    if self._ready(parcel):
                        batch.append((parcel, upto))
                if batch:
                    self.spawn(self._push_kdniao(batch))

    async def _push_kdniao(self, batch: list[tuple[carriers.Parcel, int]]) -> None:
        items = [carriers.kdniao_item(parcel, upto, self.reported_at) for parcel, upto in batch]
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
        answer = _json(response)
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
        form = carriers.kuaidi100_form(self.cfg.kuaidi100_salt, parcel, upto, self.reported_at)
        await self._push_one(
            parcel, upto, "kuaidi100", self.api.push("/api/v1/carriers/kuaidi100/push", form)
        )

    async def _push_normalized(self, parcel: carriers.Parcel, upto: int) -> None:
        if not self._ready(parcel):
            return
        body = carriers.tracking_body(parcel, upto, self.reported_at)
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
            answer = _json(response)
            self._refused(
                parcel,
                response.status_code,
                str(answer.get("error") or "") + " " + str(answer.get("detail") or answer.get("message")),
            )

    async def _resync(self, order: str) -> None:
        """Read the order again and follow its parcels as the server has them now (re-routed, new waybills)."""
        if order in self.resyncing:
            self.schedule(self.loop.time() + 1.0, self._resync, order)
            return
        state = self.orders.get(order)
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
            known = self.parcels.get(str(shipment.get("shipment")))
            if shipment.get("state") == "cancelled":
                if known is not None:
                    self._supersede(known)
                continue
            if not shipment.get("waybill") or (known is not None and known.waybill == shipment["waybill"]):
                continue
            kind = None
            if known is not None:
                self._supersede(known)
                kind = known.kind
            self._start_parcel(state, shipment, kind)
            if PRESALE in {item.get("sku") for item in shipment.get("items") or []}:
                self.presale_waiting.pop(order, None)

    # --- the warehouse outage ------------------------------------------------------------------------------

    async def _outage(self, code: str) -> None:
        name = WAREHOUSE_BY_CODE[code].name
        settled = asyncio.Event()
        self.outage_settled[code] = settled
        self.down.add(code)
        self.stats.outage = f"{name} is down"
        self.stats.outages += 1
        try:
            for waybill, (parcel, _upto) in list(self.kdniao_queue.items()):
                if parcel.sent == 0 and parcel.warehouse == code:
                    del self.kdniao_queue[waybill]
                    self.parked.append(parcel)
            deadline = self.loop.time() + 5
            while self.pushing and self.loop.time() < deadline:
                await asyncio.sleep(0.02)  # a first push already on its way lands before the outage
            response = await self.api.post(f"/api/v1/warehouses/{code}/status", {"active": False})
            if response is not None and response.status_code == 200:
                self.stats.rerouted += int(response.json().get("rerouted", 0))
                self.outage_log.append((code, "down"))
            elif response is not None:
                self.stats.error(f"outage {code}: {response.status_code} {response.text[:160]}")
        finally:
            settled.set()
        waiting = {
            p.order for p in self.parcels.values() if p.warehouse == code and p.sent == 0 and not p.done
        }
        for order in sorted(waiting):
            self.spawn(self._resync(order))

    async def _restore(self, code: str) -> None:
        settled = self.outage_settled.get(code)
        if settled is not None:
            await settled.wait()
        if code not in self.down:
            return
        response = await self.api.post(f"/api/v1/warehouses/{code}/status", {"active": True})
        if response is None or response.status_code != 200:
            if response is not None:
                self.stats.error(f"restore {code}: {response.status_code} {response.text[:160]}")
            return
        self.down.discard(code)
        self.outage_log.append((code, "up"))
        self.stats.outage = ""
        parked, self.parked = self.parked, []
        now = self.sim_now()
        for parcel in parked:
            if parcel.done:
                continue
            parcel.shift(now)
            self.schedule(self.wall_at(parcel.lines[parcel.sent].at), self._line_due, parcel)

    # --- stock ---------------------------------------------------------------------------------------------

    async def _replenish(self, sku: str, warehouse: str, units: int) -> None:
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
            for order in sorted(self.presale_waiting):
                self.spawn(self._resync(order))

    async def _keep_stock(self, check: int) -> None:
        """Now and then the brand looks at its stock: presale orders waiting get their units, SKUs running
        low get more. The scarce SKU gets none: it stays sold out."""
        assert self.catalog is not None
        rng = random.Random(f"{self.cfg.seed}:stock:{check}")
        if self.presale_waiting and rng.random() < 0.5:
            warehouse = rng.choice([w for w in SKU_BY_ID[PRESALE].warehouses if w not in self.down] or ["SH"])
            await self._replenish(PRESALE, warehouse, sum(self.presale_waiting.values()) + rng.randint(5, 20))
        candidates = [s for s in SKUS if s.sku not in (SCARCE, PRESALE)]
        for sku in rng.sample(candidates, k=min(3, len(candidates))):
            response = await self.api.get(f"/api/v1/skus/{sku.sku}/stock")
            if response is None or response.status_code != 200:
                continue
            for row in response.json().get("warehouses", []):
                initial = self.catalog.stock.get((sku.sku, row["warehouse"]), 0)
                if row.get("active", True) and initial and row["available"] < max(10, initial * 0.2):
                    await self._replenish(sku.sku, row["warehouse"], max(20, initial // 2))


def _uniform(order: str, what: str, low: float, high: float) -> float:
    return random.Random(f"{order}:{what}").uniform(low, high)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _error_code(response: httpx.Response) -> str:
    return str(_json(response).get("error") or "")


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
