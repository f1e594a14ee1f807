"""Stock alerts: the sell rate over a sliding window, minutes to sell-out, and a SKU's alert level on the
host's stock-alert screen (stock issue)."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.stock import InvalidStockInput, require_count
from domain.times import require_aware

DEFAULT_RATE_WINDOW = timedelta(minutes=5)


class AlertLevel(enum.StrEnum):
    OK = "ok"
    LOW = "low"
    CRITICAL = "critical"
    SOLD_OUT = "sold_out"
    PRESALE = "presale"


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """Thresholds of the host's stock-alert screen, per SKU."""

    low_stock_units: int = 20
    low_minutes: int = 10
    critical_minutes: int = 2
    presale_when_sold_out: bool = False

    def __post_init__(self) -> None:
        require_count(self.low_stock_units, "low_stock_units")
        require_count(self.low_minutes, "low_minutes")
        require_count(self.critical_minutes, "critical_minutes")
        if self.critical_minutes > self.low_minutes:
            detail = f"critical_minutes {self.critical_minutes} exceeds low_minutes {self.low_minutes}"
            raise InvalidStockInput(detail, field="critical_minutes")


@dataclass(frozen=True, slots=True)
class Sale:
    """Units of a SKU sold at one moment (feeds the sell rate)."""

    at: datetime
    units: int

    def __post_init__(self) -> None:
        require_aware(self.at, "at")
        require_count(self.units, "units", minimum=1)


def sell_rate(sales: Sequence[Sale], now: datetime, window: timedelta = DEFAULT_RATE_WINDOW) -> float:
    """Units sold per minute over the sliding window (now − window, now] (stock issue: sell rate).

    A sale exactly `window` ago has left the window; a sale after `now` has not happened yet.
    """
    require_aware(now, "now")
    if window <= timedelta(0):
        raise InvalidStockInput(f"window must be positive, got {window}", field="window")
    start = now - window
    units = sum(sale.units for sale in sales if start < sale.at <= now)
    return units / (window / timedelta(minutes=1))


def minutes_to_sellout(available: int, rate_per_min: float) -> float | None:
    """Minutes until the available units are gone at the current rate; None when nothing is selling."""
    require_count(available, "available")
    if not math.isfinite(rate_per_min) or rate_per_min < 0:
        raise InvalidStockInput(
            f"rate_per_min must be a finite non-negative number, got {rate_per_min}", field="rate_per_min"
        )
    if rate_per_min == 0:
        return None
    return available / rate_per_min


def _under(minutes: float | None, limit: int) -> bool:
    return minutes is not None and minutes < limit


def alert_level(available: int, rate_per_min: float, policy: AlertPolicy) -> AlertLevel:
    """Alert level of a SKU (stock issue).

    `sold_out` at zero available, or `presale` when the SKU takes presale orders; `critical` under
    `critical_minutes` to sell-out; `low` below `low_stock_units` or under `low_minutes` to sell-out;
    otherwise `ok`. Thresholds are strict: exactly 10 minutes or exactly 20 units left is not low.
    """
    minutes = minutes_to_sellout(available, rate_per_min)
    if available == 0:
        return AlertLevel.PRESALE if policy.presale_when_sold_out else AlertLevel.SOLD_OUT
    if _under(minutes, policy.critical_minutes):
        return AlertLevel.CRITICAL
    if available < policy.low_stock_units or _under(minutes, policy.low_minutes):
        return AlertLevel.LOW
    return AlertLevel.OK
