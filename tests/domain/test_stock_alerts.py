"""Stock alerts: the sell rate, minutes to sell-out and a SKU's alert level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import stock, stock_alerts
from domain.errors import DomainError
from domain.stock import StockLevel
from domain.stock_alerts import AlertLevel, AlertPolicy, Sale

NOW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
NAIVE = datetime(2026, 11, 23, 20, 0)


# --- sell rate and alert levels


def test_sell_rate_counts_units_in_the_half_open_window() -> None:
    sales = [
        Sale(NOW - timedelta(minutes=5), 100),  # left the window exactly now
        Sale(NOW - timedelta(minutes=4, seconds=59), 6),
        Sale(NOW, 4),
        Sale(NOW + timedelta(seconds=1), 100),  # not yet happened
    ]
    assert stock_alerts.sell_rate(sales, NOW) == pytest.approx((6 + 4) / 5)


def test_sell_rate_over_a_custom_window() -> None:
    sales = [Sale(NOW - timedelta(seconds=30), 3), Sale(NOW - timedelta(minutes=2), 50)]
    assert stock_alerts.sell_rate(sales, NOW, window=timedelta(minutes=1)) == pytest.approx(3.0)


def test_sell_rate_is_zero_without_sales() -> None:
    assert stock_alerts.sell_rate([], NOW) == 0


def test_sell_rate_refuses_a_naive_now() -> None:
    with pytest.raises(ValueError):
        stock_alerts.sell_rate([], NAIVE)


def test_sale_refuses_a_naive_time() -> None:
    with pytest.raises(ValueError):
        Sale(NAIVE, 1)


def test_sell_rate_refuses_an_empty_window() -> None:
    with pytest.raises(ValueError):
        stock_alerts.sell_rate([], NOW, window=timedelta(0))


def test_minutes_to_sellout_is_none_when_nothing_sells() -> None:
    assert stock_alerts.minutes_to_sellout(40, 0.0) is None


def test_minutes_to_sellout_divides_available_by_rate() -> None:
    assert stock_alerts.minutes_to_sellout(30, 4.0) == pytest.approx(7.5)


@pytest.mark.parametrize("rate", [-1.0, float("nan"), float("inf")])
def test_minutes_to_sellout_refuses_a_meaningless_rate(rate: float) -> None:
    with pytest.raises(ValueError):
        stock_alerts.minutes_to_sellout(10, rate)


@pytest.mark.parametrize(
    ("available", "rate", "expected"),
    [
        (500, 0.0, AlertLevel.OK),
        (20, 0.0, AlertLevel.OK),  # exactly low_stock_units is not low
        (19, 0.0, AlertLevel.LOW),
        (100, 10.0, AlertLevel.OK),  # exactly 10 minutes is not low
        (99, 10.0, AlertLevel.LOW),
        (40, 20.0, AlertLevel.LOW),  # exactly 2 minutes is not critical
        (39, 20.0, AlertLevel.CRITICAL),
        (5, 0.0, AlertLevel.LOW),  # few units but nothing selling: low, not critical
        (0, 0.0, AlertLevel.SOLD_OUT),
        (0, 30.0, AlertLevel.SOLD_OUT),
    ],
)
def test_alert_level_follows_units_and_minutes_to_sellout(
    available: int, rate: float, expected: AlertLevel
) -> None:
    assert stock_alerts.alert_level(available, rate, AlertPolicy()) is expected


def test_sold_out_sku_with_presale_on_shows_presale() -> None:
    assert stock_alerts.alert_level(0, 3.0, AlertPolicy(presale_when_sold_out=True)) is AlertLevel.PRESALE
    assert stock_alerts.alert_level(1, 3.0, AlertPolicy(presale_when_sold_out=True)) is AlertLevel.CRITICAL


SEVERITY = {AlertLevel.OK: 0, AlertLevel.LOW: 1, AlertLevel.CRITICAL: 2, AlertLevel.SOLD_OUT: 3}


@given(
    available=st.integers(0, 500),
    fewer=st.integers(0, 500),
    rate=st.floats(0, 100, allow_nan=False),
    faster=st.floats(0, 100, allow_nan=False),
)
def test_alert_never_eases_when_stock_drops_or_sales_speed_up(
    available: int, fewer: int, rate: float, faster: float
) -> None:
    policy = AlertPolicy()
    now = SEVERITY[stock_alerts.alert_level(available, rate, policy)]
    assert SEVERITY[stock_alerts.alert_level(max(available - fewer, 0), rate, policy)] >= now
    assert SEVERITY[stock_alerts.alert_level(available, rate + faster, policy)] >= now


def test_alert_policy_refuses_critical_longer_than_low() -> None:
    with pytest.raises(DomainError) as caught:
        AlertPolicy(low_minutes=2, critical_minutes=5)
    assert caught.value.field == "critical_minutes"


def test_replenishment_clears_the_sold_out_alert() -> None:
    level = StockLevel("a", "GZ", 10, reserved=10)
    assert stock_alerts.alert_level(level.available, 0.0, AlertPolicy()) is AlertLevel.SOLD_OUT
    replenished = stock.adjust(level, 200)
    assert stock_alerts.alert_level(replenished.available, 0.0, AlertPolicy()) is AlertLevel.OK
