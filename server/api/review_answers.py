"""The post-live review's answer (GET /api/v1/rooms/{room}/review) as pydantic models, for /openapi.json and the
strict answer tests. Definitions of every figure: domain/review_report.py and domain/scorecard.py."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.api.answers import Answer


class Percentiles(Answer):
    p50: int | None = Field(description="nearest-rank median, seconds")
    p90: int | None = Field(description="nearest-rank 90th percentile, seconds")


class StockRow(Answer):
    sku: str
    warehouse: str | None = Field(description="null: presale units not yet planned into a parcel")
    forecast_units: int
    stocked_units: int
    sold_units: int
    unsold_units: int
    oversold_units: int = Field(description="must be 0")
    presale_units: int
    forecast_error_units: int = Field(description="forecast − sold")
    sold_out_at: datetime | None


class FulfilmentFigures(Answer):
    parcels: int
    collected: int
    signed: int
    paid_to_waybill_s: Percentiles
    waybill_to_collected_s: Percentiles
    collected_to_signed_s: Percentiles
    on_time_rate: float | None = Field(description="collected by ship_by / parcels with a ship_by (due)")
    on_time: int
    late: int


class WarehouseFulfilment(FulfilmentFigures):
    warehouse: str


class CarrierFulfilment(FulfilmentFigures):
    carrier: str


class Fulfilment(FulfilmentFigures):
    by_warehouse: list[WarehouseFulfilment]
    by_carrier: list[CarrierFulfilment]


class HeldOrder(Answer):
    order: str
    leader: str | None
    flags: list[str]
    held_at: datetime | None
    verified_at: datetime | None
    fix_s: int | None


class Held(Answer):
    orders: int
    fixed: int
    open: int
    fix_s: Percentiles
    list: list[HeldOrder]


class Incident(Answer):
    shipment: str
    order: str
    carrier: str
    warehouse: str
    kind: str = Field(description="problem | stuck")
    at: datetime | None
    moved_at: datetime | None
    recover_s: int | None


class Incidents(Answer):
    problem: int
    stuck: int
    moved_again: int
    open: int
    recover_s: Percentiles
    list: list[Incident]


class OutageRow(Answer):
    warehouse: str
    down_at: datetime | None
    up_at: datetime | None
    down_s: int | None
    rerouted_orders: int = Field(description="this room's orders moved off the warehouse")
    rerouted_orders_all_rooms: int


class Outages(Answer):
    count: int
    rerouted_orders: int
    list: list[OutageRow]


class Exceptions(Answer):
    held: Held
    parcels: Incidents
    outages: Outages


class Rates(Answer):
    orders: int
    refunded: int
    returned: int
    refund_rate: float | None
    return_rate: float | None


class SkuRates(Rates):
    sku: str


class LeaderRates(Rates):
    leader: str | None


class ReasonRates(Answer):
    requests: int
    approved: int
    refunded_cents: int


class AfterSales(Rates):
    by_reason: dict[str, ReasonRates]
    by_sku: list[SkuRates]
    by_leader: list[LeaderRates]


class CarrierScore(Answer):
    rank: int
    carrier: str
    score: float = Field(description="0.30 response + 0.25 peak + 0.20 coverage + 0.15 exceptions + 0.10 cost")
    response: float
    peak: float
    coverage: float
    exceptions: float
    cost: float
    parcels: int
    response_p50_s: int | None
    peak_parcels: int
    peak_held: int
    collected: int
    next_day_signed: int
    exception_parcels: int
    cost_cents: int | None
    daily_capacity: int | None


class SkuFit(Answer):
    sku: str
    orders: int
    share_orders: int
    share_order_rate: float | None
    share_visitors: int
    share_buyers: int
    share_conversion: float | None
    gmv_cents: int
    commission_cents: int
    commission_roi: float | None = Field(description="GMV / commission")


class Review(Answer):
    room: str
    as_of: datetime
    orders: int
    stock: list[StockRow]
    fulfilment: Fulfilment
    exceptions: Exceptions
    after_sales: AfterSales
    carriers: list[CarrierScore]
    skus: list[SkuFit]
