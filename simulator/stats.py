"""What the session has done so far: the counters the progress screen and the closing summary show."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

PARCEL_STATES = ("created", "collected", "in_transit", "out_for_delivery", "problem", "signed", "returned")


@dataclass
class Stats:
    target: int
    phase: str = "starting"
    placed: int = 0  # orders sent
    accepted: int = 0  # answered accepted (201)
    held: int = 0  # answered held for verification
    verified: int = 0
    sold_out: int = 0  # refused with 409 sold_out
    substituted: int = 0  # ... and the buyer took another SKU instead
    presale: int = 0  # accepted with a presale line
    backorders_filled: int = 0
    cancelled: int = 0
    refunds_opened: int = 0
    refunds_approved: int = 0
    refunds_rejected: int = 0
    gmv_cents: int = 0
    visits: int = 0
    bindings: Counter[str] = field(default_factory=Counter)
    pushes: Counter[str] = field(default_factory=Counter)  # per channel: kdniao, kuaidi100, api
    push_lines: int = 0  # parcel updates carried by those pushes
    push_lag: float = 0.0  # wall seconds from a trace line's time to the server accepting it (moving average)
    parcels: Counter[str] = field(default_factory=Counter)  # parcels per state, as the server accepted them
    stuck: int = 0  # parcels whose carrier went silent on purpose
    awaiting_waybill: int = 0  # shipments answered without a waybill, waiting for the carrier gateway (now)
    gateway_waybills: int = 0  # waybills the test carrier gateway booked (--gateway test)
    gateway_outages: int = 0  # times the troubled carrier's system went down behind the test gateway
    replenishments: int = 0
    outage: str = ""
    outages: int = 0
    rerouted: int = 0
    errors: int = 0
    last_error: str = ""
    pulses: int = 0
    # growth: viewers, their heartbeats, leaders' work, coupons
    viewers: int = 0
    left_early: int = 0  # viewers planned to leave before the watched mark
    heartbeats: int = 0  # answered 2xx
    watched: int = 0  # viewers the server counts as watched
    recruits: int = 0
    prospects_tagged: int = 0
    questions: int = 0
    answered_questions: int = 0
    coupon_uses: int = 0  # orders accepted with a discount
    coupon_refusals: int = 0  # refused for the coupon (422/409), then placed without it
    upcoming_clicks: int = 0  # visits through the upcoming room's links, before it starts
    upcoming_entered: int = 0  # of those, visitors who came in after the start
    unavailable: Counter[str] = field(default_factory=Counter)  # feature → 404s (endpoint not deployed)
    # after the pulse: carriers' capacity, delay notices, refunds in the days after
    carriers_configured: int = 0  # carriers PUT with a daily capacity
    carrier_use: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # carrier → (used today, capacity)
    capacity_full: dict[str, str] = field(default_factory=dict)  # carrier → the phase when its capacity ran out
    notices_posted: int = 0
    notices_withdrawn: int = 0
    notice_orders: int = 0  # orders the posted notices reached (as the server answered)
    refunds_late: int = 0  # refunds asked for days after the parcel (on the accelerated clock)
    refund_reasons: Counter[str] = field(default_factory=Counter)
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=4096))  # wall times of answers

    def error(self, text: str) -> None:
        self.errors += 1
        self.last_error = text[:240]

    def answered(self, feature: str, response: Any) -> bool:
        """True for a 2xx; a 404 (or 405) is counted against the feature (its endpoint may not be deployed), not
        as an error, and the session goes on without it."""
        if 200 <= response.status_code < 300:
            return True
        if response.status_code in (404, 405):
            self.unavailable[feature] += 1
        return False

    def parcel_moved(self, before: str, after: str) -> None:
        if before == after:
            return
        if before:
            self.parcels[before] -= 1
        self.parcels[after] += 1

    def pushed(self, lag: float) -> None:
        self.push_lines += 1
        self.push_lag = lag if self.push_lines == 1 else 0.95 * self.push_lag + 0.05 * lag

    def per_minute(self, now: float, window: float = 10.0) -> float:
        """Orders answered per minute over the last `window` seconds of wall time."""
        while self.recent and self.recent[0] < now - window:
            self.recent.popleft()
        return len(self.recent) * 60.0 / window

    def as_dict(self) -> dict[str, Any]:
        return {
            "placed": self.placed,
            "accepted": self.accepted,
            "held": self.held,
            "verified": self.verified,
            "sold_out": self.sold_out,
            "substituted": self.substituted,
            "presale": self.presale,
            "backorders_filled": self.backorders_filled,
            "cancelled": self.cancelled,
            "refunds_opened": self.refunds_opened,
            "refunds_approved": self.refunds_approved,
            "refunds_rejected": self.refunds_rejected,
            "gmv_cents": self.gmv_cents,
            "visits": self.visits,
            "bindings": dict(self.bindings),
            "pushes": dict(self.pushes),
            "push_lines": self.push_lines,
            "push_lag_s": round(self.push_lag, 3),
            "parcels": {state: self.parcels[state] for state in PARCEL_STATES},
            "stuck": self.stuck,
            "replenishments": self.replenishments,
            "outages": self.outages,
            "rerouted": self.rerouted,
            "pulses": self.pulses,
            "viewers": self.viewers,
            "left_early": self.left_early,
            "heartbeats": self.heartbeats,
            "watched": self.watched,
            "recruits": self.recruits,
            "prospects_tagged": self.prospects_tagged,
            "questions": self.questions,
            "answered_questions": self.answered_questions,
            "coupon_uses": self.coupon_uses,
            "coupon_refusals": self.coupon_refusals,
            "upcoming_clicks": self.upcoming_clicks,
            "upcoming_entered": self.upcoming_entered,
            "unavailable": dict(self.unavailable),
            "carriers_configured": self.carriers_configured,
            "carrier_use": {k: list(v) for k, v in self.carrier_use.items()},
            "capacity_full": dict(self.capacity_full),
            "notices_posted": self.notices_posted,
            "notices_withdrawn": self.notices_withdrawn,
            "notice_orders": self.notice_orders,
            "refunds_late": self.refunds_late,
            "refund_reasons": dict(self.refund_reasons),
            "errors": self.errors,
            "last_error": self.last_error,
        }
