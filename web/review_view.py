"""What the post-live review page (/review/{room}) shows, from the review's answer (domain/review_report.py) and the
names of what it mentions (server/services/review.page_names). The answer's numbers are never recomputed here,
only summed or picked for people to read: a headline strip, the stock rolled up per SKU (its warehouses under it),
the longest-to-fix exceptions and the leaders with the most refunds. The full lists stay in the CSV and xlsx
exports."""

from __future__ import annotations

from datetime import datetime
from typing import Any

TOP = 10  # rows shown per long list; the rest are in the CSV

STOCK_UNITS = ("forecast_units", "stocked_units", "sold_units", "unsold_units", "oversold_units", "presale_units",
               "forecast_error_units")


def _name(names: dict[str, Any], kind: str, key: str | None) -> str | None:
    return None if key is None else names.get(kind, {}).get(key)


def headline(review: dict[str, Any]) -> dict[str, Any]:
    """The strip at the top: what a promo team asks first."""
    e = review["exceptions"]
    return {
        "orders": review["orders"],
        "gmv_cents": sum(s["gmv_cents"] for s in review["skus"]),
        "on_time_rate": review["fulfilment"]["on_time_rate"],
        "refund_rate": review["after_sales"]["refund_rate"],
        "oversold_units": sum(r["oversold_units"] for r in review["stock"]),
        "exceptions": e["held"]["orders"] + e["parcels"]["problem"] + e["parcels"]["stuck"] + e["outages"]["count"],
    }


def _shown(row: dict[str, Any]) -> bool:
    """A warehouse row worth a line: something forecast, stocked, sold, oversold or sold as presale there."""
    return any(row[k] for k in ("forecast_units", "stocked_units", "sold_units", "oversold_units", "presale_units"))


def stock_by_sku(rows: list[dict[str, Any]], names: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per SKU (in the answer's order) with the warehouses' units summed, the first sold-out time and
    the warehouse rows that have anything in them."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        sku = out.setdefault(row["sku"], {"sku": row["sku"], "name": _name(names, "skus", row["sku"]),
                                          **dict.fromkeys(STOCK_UNITS, 0), "sold_out_at": None, "warehouses": []})
        for key in STOCK_UNITS:
            sku[key] += row[key]
        if row["sold_out_at"] and (sku["sold_out_at"] is None
                                   or datetime.fromisoformat(row["sold_out_at"])
                                   < datetime.fromisoformat(sku["sold_out_at"])):
            sku["sold_out_at"] = row["sold_out_at"]
        if _shown(row):
            sku["warehouses"].append({**row, "name": _name(names, "warehouses", row["warehouse"])})
    return list(out.values())


def _longest(items: list[dict[str, Any]], seconds: str) -> list[dict[str, Any]]:
    """Still open first (they have taken longest of all), then the longest to fix; at most TOP."""
    return sorted(items, key=lambda i: (i[seconds] is not None, -(i[seconds] or 0)))[:TOP]


def exceptions(e: dict[str, Any], names: dict[str, Any]) -> list[dict[str, Any]]:
    """Per kind of exception (held orders, problem or stuck parcels, warehouse outages): its longest items and how
    many more there are."""
    kinds = [("held", e["held"]["list"], "fix_s"), ("parcels", e["parcels"]["list"], "recover_s"),
             ("outages", e["outages"]["list"], "down_s")]
    out = []
    for kind, items, seconds in kinds:
        if not items:
            continue
        top = [{**i, "took_s": i[seconds], "leader_name": _name(names, "leaders", i.get("leader")),
                "warehouse_name": _name(names, "warehouses", i.get("warehouse"))} for i in _longest(items, seconds)]
        out.append({"kind": kind, "rows": top, "more": len(items) - len(top)})
    return out


def top_leaders(rows: list[dict[str, Any]], names: dict[str, Any]) -> dict[str, Any]:
    """The leaders with the most refunds (then the most orders); direct orders (no leader) count as one row."""
    ranked = sorted(rows, key=lambda r: (-r["refunded"], -r["orders"], r["leader"] or ""))[:TOP]
    return {"rows": [{**r, "name": _name(names, "leaders", r["leader"])} for r in ranked],
            "more": len(rows) - len(ranked)}


def view(review: dict[str, Any], names: dict[str, Any]) -> dict[str, Any]:
    return {
        "review": review,
        "names": names,
        "title": names.get("room") or review["room"],
        "headline": headline(review),
        "stock": stock_by_sku(review["stock"], names),
        "exceptions": exceptions(review["exceptions"], names),
        "leaders": top_leaders(review["after_sales"]["by_leader"], names),
    }
