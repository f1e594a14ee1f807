"""The ops wall's shipping-promise figures (realtime/projections/promises.py): per warehouse, parcels not collected
that are less than LIVEROOM_AT_RISK_HOURS before their order's ship_by (at risk) or past it (late) — moved by the
clock alone, by collection, by cancel and by a presale order's new ship_by; and a restarted process shows the same.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from seed import ROOM, order_body, seed_catalog

from domain.china_time import CHINA
from domain.events import (
    OrderAccepted,
    OrderCancelled,
    OrderShipByChanged,
    ParcelStateChanged,
    ShipmentPlanned,
)
from realtime.projections import Projections
from tests.realtime.test_projections import accepted, fold

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def planned(order: str, warehouse: str, n: int = 1) -> ShipmentPlanned:
    return ShipmentPlanned(at=NOW, shipment=f"{order}-{n}", order=order, room="r1", leader=None,
                           warehouse=warehouse, carrier="SF", waybill=f"SF{order}{n}", items=(("tea", 1),))


def promised(order: str, ship_by: datetime) -> OrderAccepted:
    return dataclasses.replace(accepted(order, None, 100), ship_by=ship_by)


def risk(views: Projections) -> dict[str, tuple[int, int]]:
    return {w["warehouse"]: (w["at_risk"], w["late"]) for w in views.snapshot("ops")["warehouses"]}


def test_a_parcel_turns_at_risk_then_late_as_the_clock_passes_its_ship_by() -> None:
    clock = Clock(NOW)
    views = Projections(clock, at_risk_hours=6)
    fold(views, promised("o-1", NOW + timedelta(hours=10)), planned("o-1", "SH"))
    assert risk(views) == {"SH": (0, 0)}
    clock.at = NOW + timedelta(hours=4)  # 6 hours before: not yet "less than 6"
    assert risk(views) == {"SH": (0, 0)}
    clock.at = NOW + timedelta(hours=4, minutes=1)
    assert risk(views) == {"SH": (1, 0)}
    clock.at = NOW + timedelta(hours=10)
    assert risk(views) == {"SH": (0, 1)}


def test_the_at_risk_window_is_the_configured_number_of_hours() -> None:
    clock = Clock(NOW)
    views = Projections(clock, at_risk_hours=12)
    fold(views, promised("o-1", NOW + timedelta(hours=10)), planned("o-1", "GZ"))
    assert risk(views) == {"GZ": (1, 0)}
    assert views.snapshot("ops")["at_risk_hours"] == 12


def test_a_collected_or_cancelled_parcel_is_neither_at_risk_nor_late() -> None:
    clock = Clock(NOW + timedelta(days=3))
    views = Projections(clock)
    fold(views, promised("o-1", NOW + timedelta(hours=10)), planned("o-1", "SH"),
         promised("o-2", NOW + timedelta(hours=10)), planned("o-2", "SH"),
         promised("o-3", NOW + timedelta(hours=10)), planned("o-3", "GZ"))
    assert risk(views) == {"SH": (0, 2), "GZ": (0, 1)}
    fold(views, ParcelStateChanged(at=NOW, shipment="o-1-1", order="o-1", room="r1", leader=None, carrier="SF",
                                   waybill="SFo-11", state="collected", previous="created"),
         OrderCancelled(at=NOW, order="o-3", room="r1", leader=None, total_cents=100), start=7)
    assert risk(views).get("GZ", (0, 0)) == (0, 0) and risk(views)["SH"] == (0, 1)


def test_a_parcel_in_trouble_before_collection_still_counts() -> None:
    clock = Clock(NOW + timedelta(days=1))
    views = Projections(clock)
    fold(views, promised("o-1", NOW + timedelta(hours=10)), planned("o-1", "SH"),
         ParcelStateChanged(at=NOW, shipment="o-1-1", order="o-1", room="r1", leader=None, carrier="SF",
                            waybill="SFo-11", state="problem", previous="created"))
    assert risk(views) == {"SH": (0, 1)}


def test_an_order_without_a_promise_is_never_at_risk() -> None:
    views = Projections(Clock(NOW + timedelta(days=30)))
    fold(views, accepted("o-1", None, 100), planned("o-1", "SH"))
    assert risk(views) == {"SH": (0, 0)}


def test_a_presale_orders_new_ship_by_moves_its_parcels_and_the_ones_planned_after() -> None:
    clock = Clock(NOW + timedelta(hours=11))
    views = Projections(clock)
    fold(views, promised("o-1", NOW + timedelta(hours=10)), planned("o-1", "SH"))
    assert risk(views) == {"SH": (0, 1)}
    fold(views, OrderShipByChanged(at=clock.at, order="o-1", room="r1", ship_by=NOW + timedelta(days=2)),
         planned("o-1", "GZ", 2), start=3)
    assert risk(views) == {"SH": (0, 0), "GZ": (0, 0)}  # no longer late: the promise moved
    clock.at = NOW + timedelta(days=2, hours=-1)
    assert risk(views) == {"SH": (1, 0), "GZ": (1, 0)}


async def test_at_risk_figures_follow_real_orders_and_a_restarted_process_shows_the_same(
    recorded_app: Any,
) -> None:
    app = recorded_app
    views = Projections(app.clock, at_risk_hours=6)
    await views.load(app.engine)
    await seed_catalog(app)
    rule = [{"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"}]
    assert (await app.put("/api/v1/rooms/room-1", {**ROOM, "ship_promise": rule})).status_code == 200
    app.clock.set(datetime(2026, 11, 23, 19, 0, tzinfo=CHINA))
    for order in ("o-1", "o-2"):
        placed = await app.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)]))
        assert placed.status_code == 201, placed.text
    await app.follow(views)
    app.clock.set(datetime(2026, 11, 24, 13, 0, tzinfo=CHINA))  # 5 hours before 18:00
    live = risk(views)
    assert sum(at_risk for at_risk, _ in live.values()) == 2
    rebuilt = Projections(app.clock, at_risk_hours=6)
    await rebuilt.load(app.engine)
    assert risk(rebuilt) == live
    app.clock.set(datetime(2026, 11, 24, 18, 0, tzinfo=CHINA))
    assert sum(late for _, late in risk(views).values()) == 2
    assert risk(rebuilt) == risk(views)
