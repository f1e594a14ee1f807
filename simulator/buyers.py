"""The buyers: visitors open leaders' links and order; a sold-out line is mostly swapped for another SKU of the
same shelf; leaders fix held orders; some buyers cancel, some ask for a refund after their parcel is signed, a
few more in the days after (on the accelerated clock), and many whose parcel got stuck give up on it."""

from __future__ import annotations

import dataclasses
import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from simulator.catalog import SCARCE, SKU_BY_ID, SKUS
from simulator.client import Api, answer_of, error_code
from simulator.config import SimConfig
from simulator.growth_catalog import choose_coupon
from simulator.plan import PlannedOrder
from simulator.promo_plan import LateRefund, after_wall_s, plan_late_refund, send_at
from simulator.pushes import CarrierPushes
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.world import OrderState, World

if TYPE_CHECKING:
    from simulator.growth import Growth

REFUND_REASONS = ("水果有坏果", "外包装破损", "与描述不符", "发错规格", "不想要了")


class Buyers:
    def __init__(
        self, cfg: SimConfig, api: Api, stats: Stats, clock: Timeline, world: World, pushes: CarrierPushes
    ) -> None:
        self.cfg, self.api, self.stats, self.clock, self.world = cfg, api, stats, clock, world
        self.pushes = pushes
        pushes.on_signed = self.signed
        pushes.on_stuck = self.stuck
        self.growth: Growth | None = None  # the viewers and the coupons (set by the session)
        self.latest: float | None = None  # loop time: refunds dated after it are sent just before (the session)

    async def visit(self, visitor: str, code: str, at: datetime | None = None) -> None:
        body = {"visitor": visitor, "code": code} | ({"at": at.isoformat()} if at is not None else {})
        response = await self.api.post("/api/v1/visits", body)
        if response is None:
            return
        if response.status_code == 200:
            self.stats.visits += 1
            self.stats.bindings[str(response.json().get("binding"))] += 1
        else:
            self.stats.error(f"visit {visitor}: {response.status_code} {response.text[:160]}")

    async def visit_and_order(self, planned: PlannedOrder) -> None:
        state = OrderState(planned)
        orders = self.world.orders
        orders[planned.order] = state
        try:
            growth = self.growth
            viewer = None
            if growth is not None and planned.new_visitor:
                viewer = growth.enter(planned.visitor, planned.code, planned.leader, buyer=True)
            if planned.code:
                await self.visit(planned.visitor, planned.code, growth.clicked(viewer) if growth else None)
            if growth is not None and viewer is not None:
                await growth.watch_before_order(viewer)  # most buyers watch a little before they order
            response = await self._order(planned)
            instead = self._substitute(planned, response)
            if instead is not None:
                # Sold out on air: most buyers take something else from the same shelf instead.
                self.stats.sold_out += 1
                self.stats.substituted += 1
                del orders[planned.order]
                state.planned = instead
                orders[instead.order] = state
                response = await self.api.post("/api/v1/orders", instead.body(self.cfg.room))
        finally:
            self.world.ordering -= 1
        await self._placed(state, response)

    async def _order(self, planned: PlannedOrder) -> httpx.Response | None:
        """The order, with a coupon when the buyer tries one; a coupon refused (422 coupon_…, or 409 for an
        exhausted quota) and the buyer pays without it."""
        body = planned.body(self.cfg.room)
        coupons = self.growth.coupons if self.growth is not None else {}
        coupon = choose_coupon(self.cfg.seed, planned.order, planned.items, coupons)
        if coupon is None:
            return await self.api.post("/api/v1/orders", body)
        response = await self.api.post("/api/v1/orders", body | {"coupon": coupon})
        if response is not None and coupon_refused(response):
            self.stats.coupon_refusals += 1
            response = await self.api.post("/api/v1/orders", body)
        return response

    def _substitute(self, planned: PlannedOrder, response: httpx.Response | None) -> PlannedOrder | None:
        """The order again with the sold-out line swapped for another SKU of its category (or None)."""
        if response is None or response.status_code != 409 or error_code(response) != "sold_out":
            return None
        rng = random.Random(f"{self.cfg.seed}:{planned.order}:substitute")
        if rng.random() >= 0.6:
            return None
        field_name = str(answer_of(response).get("field") or "")
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
        if response.status_code == 409 and error_code(response) == "sold_out":
            state.status = "sold_out"
            self.stats.sold_out += 1
            self.stats.recent.append(self.clock.now())
            return
        if response.status_code not in (200, 201):
            state.status = "failed"
            self.stats.error(f"order {planned.order}: {response.status_code} {response.text[:160]}")
            return
        body = response.json()
        self.stats.recent.append(self.clock.now())
        state.leader, state.total_cents = body.get("leader"), int(body.get("total_cents", 0))
        self.stats.gmv_cents += state.total_cents
        if int(body.get("discount_cents") or 0) > 0:
            self.stats.coupon_uses += 1
        if body.get("status") == "held":
            state.status = "held"
            self.stats.held += 1
            if planned.fate.verify:
                self.clock.schedule(
                    self.clock.after_sim_minutes(_uniform(planned.order, "verify", 10, 60)), self._verify, state
                )
            return
        state.status = "accepted"
        self.stats.accepted += 1
        waiting = sum(int(line.get("qty", 0)) for line in body.get("presale") or [])
        if waiting:
            self.stats.presale += 1
            self.world.presale_waiting[planned.order] = waiting
        if planned.fate.cancel:
            self.clock.schedule(
                self.clock.after_sim_minutes(_uniform(planned.order, "cancel", 1, 4)), self._cancel, state
            )
            return
        await self._ship(state, body.get("shipments") or [])

    async def _ship(self, state: OrderState, shipments: list[dict[str, Any]]) -> None:
        """Start a journey per booked parcel. A parcel answered from a warehouse that is going down was
        re-routed by the outage (new warehouse, new waybill): read the order again once the outage is in."""
        downs = {str(s.get("warehouse")) for s in shipments} & self.world.down
        if downs:
            await self.world.outage_in(downs)
            await self.pushes.resync(state.planned.order)
            return
        for shipment in shipments:
            if shipment.get("state") == "cancelled":
                continue
            if shipment.get("waybill"):
                self.pushes.start(state, shipment)
            elif shipment.get("state") == "awaiting_waybill":  # a carrier gateway books it after the answer
                self.pushes.await_waybill(state, shipment)

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
            self.world.presale_waiting.pop(state.planned.order, None)
        else:
            self.stats.error(f"cancel {state.planned.order}: {response.status_code} {response.text[:160]}")

    # --- after the parcel is signed (or stuck) ---------------------------------------------------------------

    def signed(self, state: OrderState) -> None:
        """A parcel of the order was signed: a buyer fated to ask for a refund does so a little later; a few
        others in the days after."""
        if state.refund_planned:
            return
        if not state.planned.fate.refund:
            self._plan_late(state, stuck=False)
            return
        state.refund_planned = True
        order = state.planned.order
        self.clock.schedule(
            self.clock.after_sim_minutes(_uniform(order, "refund", 10, 60)), self._open_refund, state
        )

    def stuck(self, state: OrderState) -> None:
        """A parcel of the order got stuck: many of its buyers give up and ask for their money days later."""
        if not state.refund_planned:
            self._plan_late(state, stuck=True)

    def _plan_late(self, state: OrderState, *, stuck: bool) -> None:
        planned = state.planned
        if state.status == "cancelled" or state.total_cents <= 0:
            return
        since = self.clock.sim_now()
        late = plan_late_refund(self.cfg.seed, planned.order, planned.index, since, stuck=stuck)
        if late is None:
            return
        state.refund_planned = True
        self.clock.schedule(self._when(late.at - since, f"{planned.order}:late-send"), self._late_refund, state, late)

    def _when(self, after: timedelta, key: str) -> float:
        """The loop time something `after` from now in the days after a parcel (on the after-clock, --after-speed)
        is sent: at its time, or late in the session when its time falls after the session's end."""
        planned = self.clock.now() + after_wall_s(after, self.cfg.after_speed)
        latest = self.latest if self.latest is not None else planned
        return send_at(planned, self.clock.now(), latest, random.Random(f"{self.cfg.seed}:{key}"))

    async def _open_refund(self, state: OrderState) -> None:
        order = state.planned.order
        rng = random.Random(f"{self.cfg.seed}:{order}:refund")
        amount = (
            state.total_cents
            if rng.random() < 0.6
            else max(1, state.total_cents * rng.randint(20, 50) // 100)
        )
        body = {"kind": "refund", "amount_cents": amount, "reason": rng.choice(REFUND_REASONS)}
        after_sale = await self._ask_refund(order, body)
        if after_sale is not None:
            self.clock.schedule(
                self.clock.after_sim_minutes(rng.uniform(10, 60)),
                self._resolve_refund,
                after_sale,
                state.planned.fate.approve,
            )

    async def _late_refund(self, state: OrderState, late: LateRefund) -> None:
        """A refund dated days after the parcel arrived (or got stuck), on the accelerated clock."""
        order = state.planned.order
        amount = max(1, min(state.total_cents, round(state.total_cents * late.share)))
        body = {"kind": "refund", "amount_cents": amount, "reason": late.reason}
        after_sale = await self._ask_refund(order, body)
        if after_sale is None:
            return
        self.stats.refunds_late += 1
        minutes = _uniform(order, "late-resolve", 60, 600)
        when = self._when(timedelta(minutes=minutes), f"{order}:late-resolve")
        self.clock.schedule(when, self._resolve_refund, after_sale, late.approve)

    async def _ask_refund(self, order: str, body: dict[str, Any]) -> str | None:
        """Open the refund (the server dates it on receipt). The after-sale's id, or None."""
        response = await self.api.post(f"/api/v1/orders/{order}/after-sales", body)
        if response is None:
            return None
        if response.status_code not in (200, 201):
            self.stats.error(f"refund {order}: {response.status_code} {response.text[:160]}")
            return None
        self.stats.refunds_opened += 1
        self.stats.refund_reasons[str(body["reason"])] += 1
        return str(response.json()["after_sale"])

    async def _resolve_refund(self, after_sale: str, approved: bool) -> None:
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


def coupon_refused(response: httpx.Response) -> bool:
    """The server refused the order for its coupon (not for stock)."""
    if response.status_code not in (409, 422):
        return False
    answer = answer_of(response)
    return answer.get("field") == "coupon" or str(answer.get("error") or "").startswith("coupon")


def _uniform(order: str, what: str, low: float, high: float) -> float:
    return random.Random(f"{order}:{what}").uniform(low, high)
