"""The promo night's plan after the pulse (issue 13), decided up front and pure: which carrier runs out of capacity
and when, what the others are configured with (capacity, cost, provinces), the room's shipping promise and its
forecast setting, the delay notice ops posts when a warehouse goes down, and the refunds that come in the days
after the parcels arrived (their reasons, and when the session sends them on its accelerated clock).

The tight carrier's capacity is sized on the session's rhythm: today's parcels already counted, plus what the
express share of the orders placed by the middle of the first pitch would give it, so that it runs out mid-pulse
and the server sends the overflow to the carriers with room. A long session (the demo's) has its outage within its
first few minutes, so the review has one to show early.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from simulator.plan import PULSE_FACTOR, Rhythm

TIGHT_CARRIER = "ZTO"  # the 60% express carrier: its capacity runs out mid-pulse
# Parcels the tight carrier gets per order placed while it has room (measured: 0.33 to 0.42 — a fifth of the orders
# sell out, some go by SF, EMS or a same-city courier); sized anywhere in that range it still runs out mid-pitch.
TIGHT_PARCELS_PER_ORDER = 0.38


@dataclass(frozen=True)
class CarrierSetup:
    carrier: str
    cost_cents: int
    provinces: tuple[str, ...]

    def body(self, daily_capacity: int) -> dict[str, Any]:
        return {
            "daily_capacity": daily_capacity,
            "cost_cents": self.cost_cents,
            "provinces": list(self.provinces),
            "active": True,
        }


CARRIERS: tuple[CarrierSetup, ...] = (
    CarrierSetup(TIGHT_CARRIER, 260, ("浙江省", "江苏省", "上海市", "安徽省")),
    CarrierSetup("YTO", 280, ("浙江省", "江苏省", "山东省", "河南省")),
    CarrierSetup("JTSD", 230, ("广东省", "广西壮族自治区", "福建省", "海南省")),
    CarrierSetup("SF", 1_200, ("北京市", "上海市", "广东省", "天津市")),
    CarrierSetup("EMS", 900, ("新疆维吾尔自治区", "西藏自治区", "青海省", "甘肃省", "内蒙古自治区")),
)


def orders_by(rhythm: Rhythm, t: float) -> float:
    """Orders the rhythm expects in its first `t` seconds (calm rate, then ×PULSE_FACTOR during each pitch)."""
    calm = rhythm.cycle - rhythm.pulse
    per_cycle = rhythm.rate * (calm + PULSE_FACTOR * rhythm.pulse)
    cycles, into = divmod(max(0.0, t), rhythm.cycle)
    return cycles * per_cycle + rhythm.rate * (min(into, calm) + PULSE_FACTOR * max(0.0, into - calm))


def seconds_for(rhythm: Rhythm, orders: int) -> float:
    """When the rhythm expects its `orders`-th order (seconds into the session): the inverse of `orders_by`."""
    low, high = 0.0, rhythm.cycle
    while orders_by(rhythm, high) < orders:
        high *= 2
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if orders_by(rhythm, middle) < orders else (low, middle)
    return high


def tight_capacity(rhythm: Rhythm, orders: int, used_today: int = 0) -> int:
    """The tight carrier's daily capacity: full by the middle of the first pitch (today's earlier parcels
    included), so the screens show the shares as configured in the calm before it, then the overflow."""
    middle = rhythm.cycle - rhythm.pulse / 2
    expected = min(float(orders), orders_by(rhythm, middle))
    return max(0, used_today) + max(3, round(TIGHT_PARCELS_PER_ORDER * expected))


def roomy_capacity(orders: int, used_today: int = 0) -> int:
    """The other carriers have room for the whole session and more."""
    return max(0, used_today) + max(500, 2 * orders)


def carrier_bodies(rhythm: Rhythm, orders: int, used_today: dict[str, int]) -> dict[str, dict[str, Any]]:
    """The `PUT /api/v1/carriers/{carrier}` body of each carrier the session configures."""
    bodies = {}
    for setup in CARRIERS:
        used = used_today.get(setup.carrier, 0)
        capacity = (
            tight_capacity(rhythm, orders, used) if setup.carrier == TIGHT_CARRIER else roomy_capacity(orders, used)
        )
        bodies[setup.carrier] = setup.body(capacity)
    return bodies


# --- the warehouse outage ------------------------------------------------------------------------------------

OUTAGE_FROM, OUTAGE_UNTIL = 0.35, 0.60  # of the orders placed
OUTAGE_DOWN_BY = 600  # ... but a long session (the demo) has it within its first few minutes
OUTAGE_ORDERS_MAX = 900  # and over after at most this many orders


def outage_window(orders: int) -> tuple[int, int]:
    """The order indexes at which the outage warehouse goes down and comes back."""
    down = max(1, min(int(orders * OUTAGE_FROM), OUTAGE_DOWN_BY))
    return down, max(down + 1, min(int(orders * OUTAGE_UNTIL), down + OUTAGE_ORDERS_MAX))


# --- the room ------------------------------------------------------------------------------------------------

# Paid before 20:00 (China time) → ships by tomorrow 18:00; later → the day after, 18:00.
SHIP_PROMISE: tuple[dict[str, Any], ...] = (
    {"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"},
    {"paid_before": "23:59", "ship_by_days": 2, "ship_by_time": "18:00"},
)


def expected_audience(orders: int) -> int:
    """The room's expected audience for the forecast: about one buyer in eight viewers."""
    return max(1_000, 8 * orders)


def room_promo(orders: int) -> dict[str, Any]:
    """What the room PUT carries for the night after the pulse."""
    return {
        "ship_promise": [dict(rule) for rule in SHIP_PROMISE],
        "forecast": {"expected_audience": expected_audience(orders)},
    }


# --- the delay notice ----------------------------------------------------------------------------------------


def outage_notice(room: str, warehouse: str, name: str) -> dict[str, Any]:
    """What ops posts when a warehouse goes down: its buyers' tracking pages say why their parcel is late."""
    return {
        "text": f"{name}临时停运，您的订单已改由其他仓库发货，预计延迟1–2天发出，给您带来不便敬请谅解。",
        "room": room,
        "warehouse": warehouse,
    }


# --- refunds in the days after -------------------------------------------------------------------------------

LATE_REFUND_SHARE = 0.05  # of the signed orders without a refund fate: a refund one to three days later
LATE_REFUND_SHOWCASE = frozenset({5, 9})  # early orders that always do (a short session shows some)
STUCK_REFUND_SHARE = 0.6  # of the orders with a stuck parcel: the buyer gives up two to four days later
LATE_REASONS: tuple[tuple[str, int], ...] = (("尺码不合适", 2), ("质量问题", 3), ("不想要了", 3), ("发货太慢", 2))
SLOW = "发货太慢"
LATE_APPROVED = 0.8


@dataclass(frozen=True)
class LateRefund:
    at: datetime  # on the session's accelerated clock
    reason: str
    approve: bool
    share: float  # of the order's total asked back


def plan_late_refund(
    seed: int, order: str, index: int, since: datetime, *, stuck: bool = False
) -> LateRefund | None:
    """The refund a buyer asks for days after the parcel arrived (`since`: signed), or after it got stuck (the
    reason is then always 发货太慢); None for most orders."""
    rng = random.Random(f"{seed}:{order}:late-refund:{'stuck' if stuck else 'signed'}")
    if stuck:
        if rng.random() >= STUCK_REFUND_SHARE:
            return None
        reason, days = SLOW, rng.uniform(2, 4)
    else:
        if rng.random() >= LATE_REFUND_SHARE and index not in LATE_REFUND_SHOWCASE:
            return None
        reason = rng.choices([r for r, _ in LATE_REASONS], weights=[w for _, w in LATE_REASONS])[0]
        days = rng.uniform(1, 3)
    share = 1.0 if rng.random() < 0.7 else rng.randint(30, 60) / 100
    return LateRefund(since + timedelta(days=days), reason, rng.random() < LATE_APPROVED, share)


def after_wall_s(after: timedelta, after_speed: float) -> float:
    """Wall seconds for `after` in the days after a parcel arrives, on the after-clock (--after-speed sim seconds
    per wall second): at the default 1,440 a day after takes a minute, so a demo a few minutes old has them."""
    return after.total_seconds() / after_speed


def send_at(planned: float, now: float, latest: float, rng: random.Random, spread: float = 5.0) -> float:
    """The loop time a refund dated `planned` (loop time on the accelerated clock) is sent: at its time, or, when
    that falls after the session's `latest` moment, late in the session (spread over the last `spread` seconds
    before `latest`, never before now)."""
    if planned <= latest:
        return max(now, planned)
    return max(now, latest - rng.uniform(0.0, spread))
