"""The answer to `POST /api/v1/orders` (API.md, `OrderPlaced`), built from the domain's decision."""

from __future__ import annotations

from typing import Any

from domain import ordering


def placed(decision: ordering.OrderDecision, tracking_url: str) -> dict[str, Any]:
    d = decision
    leader_entry = d.leader_commission
    return {
        "order": d.order,
        "status": d.status,
        "leader": d.leader,
        "assists": list(d.attribution.assists),
        "total_cents": d.total_cents,
        "coupon": d.coupon.coupon if d.coupon else None,
        "discount_cents": d.discount_cents,
        "shipments": [
            {
                "shipment": p.shipment,
                "warehouse": p.warehouse.code,
                "carrier": p.carrier,
                "waybill": p.waybill,
                # A gateway issues the waybill after the commit (issue 14): until then the parcel awaits it.
                "state": "awaiting_waybill" if p.waybill is None and not d.held else "created",
                "items": [{"sku": sku, "qty": qty} for sku, qty in p.lines],
            }
            for p in d.shipments
        ],
        "presale": [{"sku": sku, "qty": qty} for sku, qty in d.presale],
        "commission": {
            "leader": d.leader,
            "amount_cents": leader_entry.amount_cents if leader_entry else 0,
            "state": str(leader_entry.target) if leader_entry else None,
        },
        "flags": list(d.flags),
        "tracking_url": tracking_url,
        "ship_by": d.ship_by.isoformat() if d.ship_by else None,
    }
