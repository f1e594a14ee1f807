"""The carrier scorecard of the post-live review (issue 13): five components, each normalised to 0–100, and a
weighted total that ranks the carriers. Pure: standard library only.

Over the parcels of the room's live orders, by the carrier each parcel finally went with:
- response (30%): the carrier's median (nearest-rank p50) seconds from payment to collection; the fastest carrier
  scores 100, another 100 × fastest / its own; a carrier that collected nothing scores 0.
- peak (25%), peak capacity held: the night's peak hour is the China clock hour in which most parcels were planned
  (the earliest on a tie); of the carrier's parcels planned in that hour, the share collected within 24 hours of
  payment × 100. A carrier with no parcel in the peak hour is measured on all its parcels.
- coverage (20%), next-day coverage: of its collected parcels, the share signed by the end of the China calendar day
  after the day of collection × 100.
- exceptions (15%): 100 × (1 − the share of its parcels that had a problem report, a stuck alarm, or a return).
- cost (10%): from the carriers' configured cost per parcel: the cheapest scores 100, another 100 × cheapest / its
  own; a carrier whose cost is unknown scores 100 (no penalty without a figure).
score = 0.30 × response + 0.25 × peak + 0.20 × coverage + 0.15 × exceptions + 0.10 × cost, from the unrounded
components; everything is shown rounded to one decimal, ranked by score (then carrier code).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from domain.china_time import CHINA

if TYPE_CHECKING:
    from domain.review import Night, Parcel

WEIGHTS = {"response": 0.30, "peak": 0.25, "coverage": 0.20, "exceptions": 0.15, "cost": 0.10}
PEAK_HOLD = timedelta(hours=24)


def _hour(at: datetime) -> datetime:
    return at.astimezone(CHINA).replace(minute=0, second=0, microsecond=0)


def _next_day_end(at: datetime) -> datetime:
    local = at.astimezone(CHINA)
    return local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=2)


def _median(values: list[int]) -> int | None:
    ordered = sorted(values)
    return ordered[math.ceil(0.5 * len(ordered)) - 1] if ordered else None


def _relative(best: float | None, own: float | None) -> float:
    """Lower is better: the best scores 100, another 100 × best / own."""
    if own is None or best is None:
        return 0.0
    return 100.0 if own <= 0 else 100.0 * best / own


def score(night: Night) -> list[dict[str, Any]]:
    parcels = night.live_parcels()
    if not parcels:
        return []
    hours = Counter(_hour(p.planned_at) for p in parcels)
    peak_hour = min(hours, key=lambda h: (-hours[h], h))
    by_carrier: dict[str, list[Parcel]] = defaultdict(list)
    for parcel in parcels:
        by_carrier[parcel.carrier].append(parcel)
    raw: dict[str, dict[str, Any]] = {}
    for carrier, own in by_carrier.items():
        paid = {p.shipment: night.orders[p.order].paid_at for p in own}
        collected = [p for p in own if p.collected_at is not None]
        response = _median(
            [
                int((p.collected_at - paid[p.shipment]).total_seconds())
                for p in collected
                if p.collected_at is not None
            ]
        )
        at_peak = [p for p in own if _hour(p.planned_at) == peak_hour] or own
        held = sum(
            1
            for p in at_peak
            if p.collected_at is not None and p.collected_at - paid[p.shipment] <= PEAK_HOLD
        )
        covered = sum(
            1
            for p in collected
            if p.signed_at is not None
            and p.collected_at is not None
            and p.signed_at < _next_day_end(p.collected_at)
        )
        troubled = sum(1 for p in own if p.incidents)
        terms = night.config.carriers.get(carrier)
        raw[carrier] = {
            "parcels": len(own),
            "response_p50_s": response,
            "peak_parcels": len(at_peak),
            "peak_held": held,
            "collected": len(collected),
            "next_day_signed": covered,
            "exception_parcels": troubled,
            "cost_cents": None if terms is None else terms.cost_cents,
            "daily_capacity": None if terms is None else terms.daily_capacity,
        }
    responses = [r["response_p50_s"] for r in raw.values() if r["response_p50_s"] is not None]
    costs = [r["cost_cents"] for r in raw.values() if r["cost_cents"] is not None]
    fastest, cheapest = (min(responses) if responses else None), (min(costs) if costs else None)
    rows = []
    for carrier, r in raw.items():
        components = {
            "response": _relative(fastest, r["response_p50_s"]),
            "peak": 100.0 * r["peak_held"] / r["peak_parcels"],
            "coverage": 100.0 * r["next_day_signed"] / r["collected"] if r["collected"] else 0.0,
            "exceptions": 100.0 * (1 - r["exception_parcels"] / r["parcels"]),
            "cost": 100.0 if r["cost_cents"] is None else _relative(cheapest, r["cost_cents"]),
        }
        total = sum(WEIGHTS[name] * value for name, value in components.items())
        rows.append(
            {
                "carrier": carrier,
                "score": round(total, 1),
                **{name: round(value, 1) for name, value in components.items()},
                **r,
                "_total": total,
            }
        )
    rows.sort(key=lambda row: (-row["_total"], row["carrier"]))
    for rank, row in enumerate(rows, start=1):
        del row["_total"]
        row["rank"] = rank
    return rows
