"""Rows of the catalog turned into the domain's values (one place that knows both shapes)."""

from __future__ import annotations

from typing import Any

from domain import attribution, commission, routing, stock


def warehouse(row: Any) -> routing.Warehouse:
    return routing.Warehouse(
        code=row.code, name=row.name, province=row.province, city=row.city, active=bool(row.active)
    )


def stock_level(row: Any) -> stock.StockLevel:
    return stock.StockLevel(sku=row.sku, warehouse=row.warehouse, on_hand=row.on_hand, reserved=row.reserved)


def room_rates(row: Any) -> commission.RoomRates:
    return commission.RoomRates(
        base_rate_bp=row.base_rate_bp,
        starts_at=row.starts_at,
        after_sale_days=row.after_sale_days,
        ends_at=row.ends_at,
        live_rate_bp=row.live_rate_bp,
        first_hour_bonus_bp=row.first_hour_bonus_bp,
        team_rate_bp=row.team_rate_bp,
        gmv_tiers=tuple(commission.GmvTier(t["gmv_cents"], t["bonus_bp"]) for t in row.gmv_tiers),
    )


def binding_policy(row: Any) -> attribution.BindingPolicy:
    return attribution.BindingPolicy(attribution.BindingMode(row.binding_mode), row.protection_days)


def binding(row: Any) -> attribution.Binding:
    return attribution.Binding(
        visitor=row.visitor, leader=row.leader, bound_at=row.bound_at, protected_until=row.protected_until
    )


def binding_row(value: attribution.Binding, room: str) -> dict[str, Any]:
    return {
        "visitor": value.visitor,
        "leader": value.leader,
        "room": room,
        "bound_at": value.bound_at,
        "protected_until": value.protected_until,
    }


def pickup_destination(pickup_point: dict[str, Any] | None) -> routing.Destination | None:
    if not pickup_point:
        return None
    return routing.Destination(pickup_point["province"], pickup_point.get("city"))
