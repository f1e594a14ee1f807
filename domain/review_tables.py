"""The post-live review as flat tables (the CSV of each table, one spreadsheet sheet per table): a header row and
value rows, plain strings and numbers. Pure: standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TABLES = ("stock", "fulfilment", "exceptions", "after_sales", "carriers", "skus")

_STAGES = ("paid_to_waybill_s", "waybill_to_collected_s", "collected_to_signed_s")
_STOCK = (
    "sku",
    "warehouse",
    "forecast_units",
    "stocked_units",
    "sold_units",
    "unsold_units",
    "oversold_units",
    "presale_units",
    "forecast_error_units",
    "sold_out_at",
)
_FULFILMENT = (
    "scope",
    "key",
    "parcels",
    "collected",
    "signed",
    *(f"{stage}_{p}" for stage in _STAGES for p in ("p50", "p90")),
    "on_time_rate",
    "on_time",
    "late",
)
_EXCEPTIONS = ("kind", "subject", "detail", "started_at", "ended_at", "duration_s", "count")
_AFTER_SALES = (
    "by",
    "key",
    "orders",
    "refunded",
    "returned",
    "refund_rate",
    "return_rate",
    "requests",
    "approved",
    "refunded_cents",
)
_CARRIERS = (
    "rank",
    "carrier",
    "score",
    "response",
    "peak",
    "coverage",
    "exceptions",
    "cost",
    "parcels",
    "response_p50_s",
    "peak_parcels",
    "peak_held",
    "collected",
    "next_day_signed",
    "exception_parcels",
    "cost_cents",
    "daily_capacity",
)
_SKUS = (
    "sku",
    "orders",
    "share_orders",
    "share_order_rate",
    "share_visitors",
    "share_buyers",
    "share_conversion",
    "gmv_cents",
    "commission_cents",
    "commission_roi",
)


def _fulfilment_row(scope: str, key: str, f: Mapping[str, Any]) -> list[Any]:
    stages = [f[stage][p] for stage in _STAGES for p in ("p50", "p90")]
    return [
        scope,
        key,
        f["parcels"],
        f["collected"],
        f["signed"],
        *stages,
        f["on_time_rate"],
        f["on_time"],
        f["late"],
    ]


def _exception_rows(e: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for h in e["held"]["list"]:
        rows.append(["held", h["order"], ",".join(h["flags"]), h["held_at"], h["verified_at"], h["fix_s"], 1])
    for p in e["parcels"]["list"]:
        rows.append(
            [
                p["kind"],
                p["shipment"],
                f"{p['carrier']}/{p['warehouse']}",
                p["at"],
                p["moved_at"],
                p["recover_s"],
                1,
            ]
        )
    for o in e["outages"]["list"]:
        rows.append(
            ["outage", o["warehouse"], "", o["down_at"], o["up_at"], o["down_s"], o["rerouted_orders"]]
        )
    return rows


def _after_sale_rows(a: Mapping[str, Any]) -> list[list[Any]]:
    rates = ("orders", "refunded", "returned", "refund_rate", "return_rate")
    rows: list[list[Any]] = [["all", "", *(a[k] for k in rates), None, None, None]]
    rows += [["sku", r["sku"], *(r[k] for k in rates), None, None, None] for r in a["by_sku"]]
    rows += [["leader", r["leader"] or "", *(r[k] for k in rates), None, None, None] for r in a["by_leader"]]
    rows += [
        ["reason", reason, None, None, None, None, None, r["requests"], r["approved"], r["refunded_cents"]]
        for reason, r in a["by_reason"].items()
    ]
    return rows


def table(review: Mapping[str, Any], name: str) -> tuple[tuple[str, ...], list[list[Any]]]:
    """One table of the review: its header and rows. `name` is one of TABLES."""
    if name == "stock":
        return _STOCK, [[r[k] for k in _STOCK] for r in review["stock"]]
    if name == "fulfilment":
        f = review["fulfilment"]
        rows = [_fulfilment_row("all", "", f)]
        rows += [_fulfilment_row("warehouse", w["warehouse"], w) for w in f["by_warehouse"]]
        rows += [_fulfilment_row("carrier", c["carrier"], c) for c in f["by_carrier"]]
        return _FULFILMENT, rows
    if name == "exceptions":
        return _EXCEPTIONS, _exception_rows(review["exceptions"])
    if name == "after_sales":
        return _AFTER_SALES, _after_sale_rows(review["after_sales"])
    if name == "carriers":
        return _CARRIERS, [[r[k] for k in _CARRIERS] for r in review["carriers"]]
    if name == "skus":
        return _SKUS, [[r[k] for k in _SKUS] for r in review["skus"]]
    raise KeyError(name)
