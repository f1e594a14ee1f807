"""The ops wall's shipping-promise figures (ops.py): per warehouse, parcels not yet collected whose order's
`ship_by` (domain/promise.py) is less than `at_risk_hours` away — at risk — and those already past it — late.

Folded from events: `order_accepted` and `order_ship_by_changed` say an order's ship_by; `shipment_planned` puts a
parcel in a warehouse; the parcel leaves the figures when it is collected (or goes further) or its order is
cancelled — ops.py tells this module when, as it does for the backlog. Time alone moves parcels from "fine" to "at
risk" to "late": the counts are kept per (warehouse, ship_by) — a promise has few distinct ship_by times — and the
figures are worked out from the clock whenever the wall is drawn (ops is a clock topic, redrawn every second).
On load the same state is read from the tables: open parcels joined to their order's `ship_by`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

from realtime.projections.times import utc


class DueParcels:
    def __init__(self, at_risk_hours: float = 6.0) -> None:
        self.window = timedelta(hours=at_risk_hours)
        self.promised: dict[str, datetime] = {}  # order -> ship_by, while it may still plan parcels
        self.parcels: dict[str, tuple[str, datetime]] = {}  # shipment -> (warehouse, ship_by), not collected
        self.counts: dict[str, Counter[datetime]] = {}  # warehouse -> ship_by -> parcels

    def _add(self, shipment: str, warehouse: str, ship_by: datetime) -> None:
        self.parcels[shipment] = (warehouse, ship_by)
        self.counts.setdefault(warehouse, Counter())[ship_by] += 1

    def gone(self, shipment: str) -> None:
        """The parcel was collected (or went further), or cancelled."""
        entry = self.parcels.pop(shipment, None)
        if entry is not None:
            counts = self.counts[entry[0]]
            counts[entry[1]] -= 1
            if counts[entry[1]] <= 0:
                del counts[entry[1]]

    def promise(self, order: str, ship_by: str | datetime | None, open_parcels: Iterable[str] = ()) -> None:
        """The order's ship_by (accepted, or read again when its presale stock arrived); its parcels follow."""
        if ship_by is None:
            return
        at = utc(ship_by)
        self.promised[order] = at
        for shipment in open_parcels:
            entry = self.parcels.get(shipment)
            if entry is not None:
                self.gone(shipment)
                self._add(shipment, entry[0], at)

    def planned(self, shipment: str, order: str, warehouse: str) -> None:
        """A parcel planned anew, or re-booked (possibly in another warehouse)."""
        entry = self.parcels.get(shipment)
        ship_by = entry[1] if entry is not None else self.promised.get(order)
        if ship_by is None:
            return
        self.gone(shipment)
        self._add(shipment, warehouse, ship_by)

    def order_done(self, order: str) -> None:
        """No parcel of the order waits any more (all left, or the order was cancelled)."""
        self.promised.pop(order, None)

    def figures(self, warehouse: str, now: datetime) -> tuple[int, int]:
        """(at risk, late) for the warehouse at `now`."""
        at_risk = late = 0
        for ship_by, n in self.counts.get(warehouse, {}).items():
            if ship_by <= now:
                late += n
            elif ship_by - now < self.window:
                at_risk += n
        return at_risk, late

    def warehouses(self) -> set[str]:
        return {code for code, counts in self.counts.items() if counts}
