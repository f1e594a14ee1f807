"""The answers of GET /api/v1/rooms/{room}/forecast (the tiered pre-stock forecast); server/api/answers.py
imports them back, so the document names them with the rest."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from server.api.answers import Answer, ForecastSettings

TierName = Literal["core", "new", "long_tail"]


class TierReason(Answer):
    """Why a SKU gets its units: a stable code and the numbers behind it (the screens translate)."""

    model_config = ConfigDict(extra="allow")

    code: Literal["core_peak_x1.5", "core_forecast", "new_first_batch", "long_tail_base", "long_tail_forecast"] = (
        Field(description="core_peak_x1.5: 1.5× the peak (floor_units) binds; core_forecast: the leaders' forecast "
                          "is above it; new_first_batch: audience × conversion_bp / sku_count; long_tail_base: "
                          "the base level (base_units) binds; long_tail_forecast: the forecast is above it"))


class Recommendation(Answer):
    sku: str
    warehouse: str
    units: int
    tier: TierName = Field(description="core: sold at least core_units in one past session; new: never sold in a "
                                       "past session; long_tail: sold, under the threshold")
    reason: TierReason
    follow_up_per_min: float | None = Field(
        description="new products: the first batch's planned sell rate (units/min, all warehouses); selling "
                    "faster means order more now")


class SkuForecast(Answer):
    sku: str
    tier: TierName
    units: int = Field(description="over all warehouses")
    peak_units: int = Field(description="most units sold in one past session (a room ended before this one starts)")
    reason: TierReason
    follow_up_per_min: float | None


class Forecast(Answer):
    room: str
    leaders: int
    safety_factor: float
    audience: int = Field(description="visitors the plan expects")
    audience_source: Literal["leaders", "room"] = Field(
        description="leaders: their history; room: the room's expected_audience (the leaders have none)")
    selling_minutes: int
    settings: ForecastSettings
    recommendations: list[Recommendation]
    skus: list[SkuForecast] = Field(description="each SKU of the room once, its tier and its total")
