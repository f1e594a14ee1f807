"""The review's sections from a folded night (domain/review.py): stocking, fulfilment, exceptions, after-sales,
carriers (domain/scorecard.py) and distribution fit. Pure: standard library only.

Definitions (also in the page's notes and API.md):
- Percentiles are nearest-rank over whole seconds: p50 of n samples is the ⌈0.5·n⌉-th smallest, p90 the
  ⌈0.9·n⌉-th; null when there is no sample.
- Fulfilment stages per parcel of a live (not cancelled) order: paid → waybill (the waybill the parcel left with;
  a held order's waybill comes once it is verified), waybill → collected (the carrier's first scan on the road),
  collected → signed.
- On-time rate: over parcels whose order carries a `ship_by`, the share collected at or before it; a parcel not
  collected counts as late once its `ship_by` has passed, and is left out until then. Null when none has a ship_by.
- Stocking per SKU × warehouse: stocked = on hand when the room's first order came in + units put in afterwards;
  sold = units of the room's live orders in parcels from that warehouse; unsold = stocked − sold (not below 0);
  oversold = the most units ever reserved beyond what was on hand (must be 0); presale = units ordered as presale
  (not planned into a parcel at payment), on the warehouse that later shipped them, else on a row without one;
  forecast error = forecast − sold (positive: more was recommended than sold).
- After-sales: refund rate = live orders with an approved refund / live orders; return rate = live orders with a
  parcel returned / live orders; the same by SKU (orders containing it) and by leader (null: direct orders).
- Distribution fit per SKU: share order rate = its live orders attributed to a leader (a share code on the order,
  or a visitor bound by a share code) / its live orders; share conversion = visitors bound to a leader by a share
  code in this room who ordered the SKU / all visitors bound by a share code in this room; commission ROI =
  GMV / commission accrued on its live orders (an order's total and commission split over its lines by list price).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Any

from domain import scorecard
from domain.review import Night, Order, Parcel


def percentiles(samples: Iterable[float]) -> dict[str, int | None]:
    values = sorted(samples)
    if not values:
        return {"p50": None, "p90": None}
    return {
        "p50": int(values[math.ceil(0.5 * len(values)) - 1]),
        "p90": int(values[math.ceil(0.9 * len(values)) - 1]),
    }


def rate(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 4)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _seconds(start: Any, end: Any) -> int | None:
    return None if start is None or end is None else int((end - start).total_seconds())


# --- stocking ---------------------------------------------------------------------------------------------------


def stock(night: Night) -> list[dict[str, Any]]:
    config = night.config
    sold: dict[tuple[str, str | None], int] = defaultdict(int)
    presale: dict[tuple[str, str | None], int] = defaultdict(int)
    parcels_by_order: dict[str, list[Parcel]] = defaultdict(list)
    for parcel in night.live_parcels():
        parcels_by_order[parcel.order].append(parcel)
        for sku, qty in parcel.items:
            sold[(sku, parcel.warehouse)] += qty
    for order in night.live_orders():
        for sku, qty in order.items.items():
            waiting = qty - order.planned_at_paid.get(sku, 0)
            if waiting <= 0:
                continue
            later = [
                p.warehouse
                for p in parcels_by_order[order.order]
                if p.planned_at != order.paid_at and any(s == sku for s, _ in p.items)
            ]
            presale[(sku, later[0] if later else None)] += waiting
    skus = set(config.skus) | {sku for sku, _ in sold} | {sku for sku, _ in config.forecast}
    keys: set[tuple[str, str | None]] = {k for k in night.levels if k[0] in skus}
    keys |= set(sold) | set(presale) | set(config.forecast)
    rows = []
    for sku, warehouse in sorted(keys, key=lambda k: (k[0], k[1] or "\uffff")):
        level = night.levels.get((sku, warehouse)) if warehouse is not None else None
        stocked = 0 if level is None else (level.base or 0) + level.added
        sold_units = sold.get((sku, warehouse), 0)
        forecast_units = config.forecast.get((sku, warehouse or ""), 0) if warehouse else 0
        rows.append(
            {
                "sku": sku,
                "warehouse": warehouse,
                "forecast_units": forecast_units,
                "stocked_units": stocked,
                "sold_units": sold_units,
                "unsold_units": max(0, stocked - sold_units),
                "oversold_units": 0 if level is None else max(0, level.oversold),
                "presale_units": presale.get((sku, warehouse), 0),
                "forecast_error_units": forecast_units - sold_units,
                "sold_out_at": None if level is None else _iso(level.sold_out_at),
            }
        )
    return rows


# --- fulfilment -------------------------------------------------------------------------------------------------

STAGES = ("paid_to_waybill_s", "waybill_to_collected_s", "collected_to_signed_s")


def _stages(parcel: Parcel, order: Order) -> dict[str, int | None]:
    return {
        "paid_to_waybill_s": _seconds(order.paid_at, parcel.waybill_at),
        "waybill_to_collected_s": _seconds(parcel.waybill_at, parcel.collected_at),
        "collected_to_signed_s": _seconds(parcel.collected_at, parcel.signed_at),
    }


def _on_time(night: Night, parcels: Sequence[Parcel]) -> tuple[int, int]:
    on_time = late = 0
    for parcel in parcels:
        ship_by = night.orders[parcel.order].ship_by
        if ship_by is None:
            continue
        if parcel.collected_at is not None:
            on_time, late = (on_time + 1, late) if parcel.collected_at <= ship_by else (on_time, late + 1)
        elif night.config.as_of > ship_by:
            late += 1
    return on_time, late


def _fulfilment_of(night: Night, parcels: Sequence[Parcel]) -> dict[str, Any]:
    samples: dict[str, list[int]] = {stage: [] for stage in STAGES}
    for parcel in parcels:
        for stage, value in _stages(parcel, night.orders[parcel.order]).items():
            if value is not None:
                samples[stage].append(value)
    on_time, late = _on_time(night, parcels)
    return {
        "parcels": len(parcels),
        "collected": sum(1 for p in parcels if p.collected_at is not None),
        "signed": sum(1 for p in parcels if p.signed_at is not None),
        **{stage: percentiles(values) for stage, values in samples.items()},
        "on_time_rate": rate(on_time, on_time + late),
        "on_time": on_time,
        "late": late,
    }


def fulfilment(night: Night) -> dict[str, Any]:
    parcels = sorted(night.live_parcels(), key=lambda p: p.shipment)
    by: dict[str, dict[str, list[Parcel]]] = {"warehouse": defaultdict(list), "carrier": defaultdict(list)}
    for parcel in parcels:
        by["warehouse"][parcel.warehouse].append(parcel)
        by["carrier"][parcel.carrier].append(parcel)
    return {
        **_fulfilment_of(night, parcels),
        "by_warehouse": [
            {"warehouse": k, **_fulfilment_of(night, v)} for k, v in sorted(by["warehouse"].items())
        ],
        "by_carrier": [{"carrier": k, **_fulfilment_of(night, v)} for k, v in sorted(by["carrier"].items())],
    }


# --- exceptions -------------------------------------------------------------------------------------------------


def exceptions(night: Night) -> dict[str, Any]:
    held = [o for o in night.orders.values() if o.held_at is not None]
    fixes = [s for o in held if (s := _seconds(o.held_at, o.verified_at)) is not None]
    incidents = [(p, i) for p in night.live_parcels() for i in p.incidents if i.kind in ("problem", "stuck")]
    recoveries = [s for _, i in incidents if (s := _seconds(i.at, i.moved_at)) is not None]
    return {
        "held": {
            "orders": len(held),
            "fixed": len(fixes),
            "open": sum(1 for o in held if o.verified_at is None and not o.cancelled),
            "fix_s": percentiles(fixes),
            "list": [
                {
                    "order": o.order,
                    "leader": o.leader,
                    "flags": list(o.flags),
                    "held_at": _iso(o.held_at),
                    "verified_at": _iso(o.verified_at),
                    "fix_s": _seconds(o.held_at, o.verified_at),
                }
                for o in sorted(held, key=lambda o: o.order)
            ],
        },
        "parcels": {
            "problem": sum(1 for _, i in incidents if i.kind == "problem"),
            "stuck": sum(1 for _, i in incidents if i.kind == "stuck"),
            "moved_again": len(recoveries),
            "open": len(incidents) - len(recoveries),
            "recover_s": percentiles(recoveries),
            "list": [
                {
                    "shipment": p.shipment,
                    "order": p.order,
                    "carrier": p.carrier,
                    "warehouse": p.warehouse,
                    "kind": i.kind,
                    "at": _iso(i.at),
                    "moved_at": _iso(i.moved_at),
                    "recover_s": _seconds(i.at, i.moved_at),
                }
                for p, i in sorted(incidents, key=lambda pi: (pi[1].raised_at, pi[0].shipment))
            ],
        },
        "outages": {
            "count": len(night.outages),
            "rerouted_orders": len({o for outage in night.outages for o in outage.rerouted}),
            "list": [
                {
                    "warehouse": o.warehouse,
                    "down_at": _iso(o.down_at),
                    "up_at": _iso(o.up_at),
                    "down_s": _seconds(o.down_at, o.up_at),
                    "rerouted_orders": len(o.rerouted),
                    "rerouted_orders_all_rooms": o.rerouted_all,
                }
                for o in night.outages
            ],
        },
    }


# --- after-sales ------------------------------------------------------------------------------------------------


def _rates(orders: Sequence[Order], refunded: set[str]) -> dict[str, Any]:
    refunds = sum(1 for o in orders if o.order in refunded)
    returns = sum(1 for o in orders if o.returned)
    return {
        "orders": len(orders),
        "refunded": refunds,
        "returned": returns,
        "refund_rate": rate(refunds, len(orders)),
        "return_rate": rate(returns, len(orders)),
    }


def after_sales(night: Night) -> dict[str, Any]:
    live = night.live_orders()
    refunded = {a.order for a in night.after_sales.values() if a.approved}
    by_sku: dict[str, list[Order]] = defaultdict(list)
    by_leader: dict[str | None, list[Order]] = defaultdict(list)
    for order in live:
        by_leader[order.leader].append(order)
        for sku in order.items:
            by_sku[sku].append(order)
    reasons: dict[str, dict[str, int]] = {}
    for request in sorted(night.after_sales.values(), key=lambda a: a.after_sale):
        entry = reasons.setdefault(request.reason, {"requests": 0, "approved": 0, "refunded_cents": 0})
        entry["requests"] += 1
        if request.approved:
            entry["approved"] += 1
            entry["refunded_cents"] += request.amount_cents
    return {
        **_rates(live, refunded),
        "by_reason": reasons,
        "by_sku": [{"sku": k, **_rates(v, refunded)} for k, v in sorted(by_sku.items())],
        "by_leader": [
            {"leader": k, **_rates(v, refunded)}
            for k, v in sorted(by_leader.items(), key=lambda kv: kv[0] or "")
        ],
    }


# --- distribution fit -------------------------------------------------------------------------------------------


def _split(order: Order, prices: dict[str, int]) -> dict[str, Fraction]:
    """Each SKU's share of the order, by list price × quantity (by quantity when a price is unknown)."""
    weights = {sku: qty * prices.get(sku, 1) for sku, qty in order.items.items()}
    total = sum(weights.values())
    if total <= 0:
        return {sku: Fraction(1, len(weights)) for sku in weights} if weights else {}
    return {sku: Fraction(w, total) for sku, w in weights.items()}


def skus(night: Night) -> list[dict[str, Any]]:
    prices = dict(night.config.prices)
    stats: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"orders": 0, "share": 0, "gmv": Fraction(0), "commission": Fraction(0), "buyers": set()}
    )
    for order in night.live_orders():
        for sku, part in _split(order, prices).items():
            s = stats[sku]
            s["orders"] += 1
            s["share"] += order.leader is not None
            s["gmv"] += order.total_cents * part
            s["commission"] += order.commission_cents * part
            if order.visitor in night.share_visitors:
                s["buyers"].add(order.visitor)
    for sku in night.config.skus:
        stats[sku]  # a SKU of the room with no order still gets its row (the defaultdict makes it)
    visitors = len(night.share_visitors)
    return [
        {
            "sku": sku,
            "orders": s["orders"],
            "share_orders": s["share"],
            "share_order_rate": rate(s["share"], s["orders"]),
            "share_visitors": visitors,
            "share_buyers": len(s["buyers"]),
            "share_conversion": rate(len(s["buyers"]), visitors),
            "gmv_cents": round(s["gmv"]),
            "commission_cents": round(s["commission"]),
            "commission_roi": None if s["commission"] == 0 else round(float(s["gmv"] / s["commission"]), 2),
        }
        for sku, s in sorted(stats.items())
    ]


def report(night: Night) -> dict[str, Any]:
    """The whole review (GET /api/v1/rooms/{room}/review)."""
    return {
        "room": night.config.room,
        "as_of": night.config.as_of.isoformat(),
        "orders": len(night.live_orders()),
        "stock": stock(night),
        "fulfilment": fulfilment(night),
        "exceptions": exceptions(night),
        "after_sales": after_sales(night),
        "carriers": scorecard.score(night),
        "skus": skus(night),
    }
