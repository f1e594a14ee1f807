"""Routing: which warehouses ship an order, and which carrier takes each parcel.

Warehouse plan (routing issue; DESIGN.md "routing.py"): fewest shipments first, then the least
great-circle distance from the destination, inactive warehouses skipped, a line split across warehouses only
when needed; an outage re-plans the unshipped orders. Carrier choice: same-city courier for instant delivery
inside the warehouse's city, postal carrier for remote regions, next-day carrier for tier-1 destinations and
large orders, otherwise a deterministic weighted share among the express carriers, skipping unavailable or
full carriers.
Carrier codes are Kdniao shipper codes (API.md), plus `LOCAL` for a same-city courier.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from itertools import combinations
from types import MappingProxyType

from domain import geo
from domain.address import Address
from domain.errors import DomainError, SoldOut

# Exact search looks at every subset of the candidate warehouses: 2**12 - 1 = 4095 subsets at most, which is
# cheap per order. Above the bound only the single-warehouse check stays exact and the rest is greedy.
MAX_EXACT_WAREHOUSES = 12

_NO_ASSIGNMENTS: Mapping[str, int] = MappingProxyType({})

Progress = Callable[[tuple[str, ...]], int]


class Delivery(StrEnum):
    EXPRESS = "express"
    PICKUP = "pickup"
    INSTANT = "instant"


def _is_count(value: object, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _require_code(value: object, field: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise DomainError(f"{field} must be a non-empty code, got {value!r}", field=field)


@dataclass(frozen=True, slots=True)
class Warehouse:
    """A warehouse of the brand (API.md: `PUT /api/v1/warehouses/{code}` `{name, province, city, active?}`).

    A warehouse must lie in a known province, or no distance to it could be measured.
    """

    code: str
    name: str
    province: str
    city: str | None
    active: bool = True

    def __post_init__(self) -> None:
        _require_code(self.code, "code")
        if geo.province(self.province) is None:
            raise DomainError(
                f"warehouse {self.code} is in unknown province {self.province!r}",
                field="province",
                code="unknown_province",
            )


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a parcel goes: the buyer's address or a leader's pickup point (city optional)."""

    province: str
    city: str | None = None


@dataclass(frozen=True, slots=True)
class PlannedShipment:
    """One parcel of a plan: the warehouse and its `(sku, qty)` lines, sorted by sku."""

    warehouse: str
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class CarrierPolicy:
    """The carriers a brand uses and how it shares them (routing issue: default express weights 60/20/20).

    `capacity` caps the shipments a carrier takes per day; a carrier absent from it is unlimited.
    """

    next_day: str = "SF"
    postal: str = "EMS"
    same_city: str = "LOCAL"
    express_weights: tuple[tuple[str, int], ...] = (("ZTO", 60), ("YTO", 20), ("JTSD", 20))
    next_day_above_cents: int = 50_000
    capacity: tuple[tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        for field in ("next_day", "postal", "same_city"):
            _require_code(getattr(self, field), field)
        weights = _carrier_table(self.express_weights, "express_weights", minimum=1)
        if not weights:
            raise DomainError("express_weights needs at least one carrier", field="express_weights")
        object.__setattr__(self, "express_weights", weights)
        object.__setattr__(self, "capacity", _carrier_table(self.capacity, "capacity", minimum=0))
        if not _is_count(self.next_day_above_cents, 0):
            raise DomainError(
                f"next_day_above_cents must be whole cents >= 0, got {self.next_day_above_cents!r}",
                field="next_day_above_cents",
            )


    def with_capacity(self, capacity: Mapping[str, int | None]) -> CarrierPolicy:
        """This policy with the daily capacities operations set (`PUT /api/v1/carriers/{carrier}`) over the
        configured ones: a number caps the carrier, None takes its cap away (unlimited)."""
        caps = dict(self.capacity)
        for code, cap in capacity.items():
            if cap is None:
                caps.pop(code, None)
            else:
                caps[code] = cap
        table = tuple(sorted(caps.items()))
        return self if table == tuple(sorted(self.capacity)) else replace(self, capacity=table)

    def carriers(self) -> tuple[str, ...]:
        """Every carrier this policy may choose."""
        codes = [self.next_day, self.postal, self.same_city, *(code for code, _ in self.express_weights)]
        return tuple(dict.fromkeys(codes))


def _carrier_table(pairs: Sequence[tuple[str, int]], field: str, minimum: int) -> tuple[tuple[str, int], ...]:
    table = tuple((code, number) for code, number in pairs)
    for code, number in table:
        _require_code(code, field)
        if not _is_count(number, minimum):
            raise DomainError(
                f"{field} of {code} must be a whole number >= {minimum}, got {number!r}", field=field
            )
    codes = [code for code, _ in table]
    if len(codes) != len(set(codes)):
        raise DomainError(f"{field} names a carrier twice: {codes}", field=field)
    return table


# --- places and distances -------------------------------------------------------------------------------


def _locate(dest: Destination, field: str = "buyer.province") -> geo.Point:
    point = geo.locate(dest.province, dest.city)
    if point is None:
        raise DomainError(f"unknown province {dest.province!r}", field=field, code="unknown_province")
    return point


def _warehouse_point(warehouse: Warehouse) -> geo.Point:
    point = geo.locate(warehouse.province, warehouse.city)
    if point is None:  # Warehouse refuses unknown provinces; this guards a province table that shrank.
        raise DomainError(
            f"warehouse {warehouse.code} is in unknown province {warehouse.province!r}",
            field=f"warehouses[{warehouse.code}].province",
            code="unknown_province",
        )
    return point


def _metres(warehouses: Sequence[Warehouse], dest: Destination) -> Mapping[str, int]:
    """Distances in whole metres, so that sums of distances compare exactly and ties are real ties."""
    return _metres_between(tuple(warehouses), dest)


@lru_cache(maxsize=4096)
def _metres_between(warehouses: tuple[Warehouse, ...], dest: Destination) -> Mapping[str, int]:
    # A live room's orders go to a few hundred cities from the same handful of warehouses: each pair is
    # measured once. Warehouses and destinations are frozen values, so the key is exactly the inputs.
    origin = _locate(dest)
    return MappingProxyType(
        {w.code: round(geo.distance_km(origin, _warehouse_point(w)) * 1000) for w in warehouses}
    )


def _active(warehouses: Sequence[Warehouse]) -> tuple[Warehouse, ...]:
    codes = [w.code for w in warehouses]
    if len(codes) != len(set(codes)):
        raise DomainError(f"warehouse codes must be unique, got {codes}", field="warehouses")
    return tuple(w for w in warehouses if w.active)


# --- warehouse plan -------------------------------------------------------------------------------------


def _validated_lines(lines: Mapping[str, int]) -> dict[str, int]:
    if not lines:
        raise DomainError("an order needs at least one line", field="lines")
    for sku, qty in lines.items():
        _require_code(sku, "lines")
        if not _is_count(qty, 1):
            raise DomainError(
                f"quantity of {sku} must be a whole number >= 1, got {qty!r}", field=f"lines[{sku}]"
            )
    return dict(lines)


def _validated_available(available: Mapping[tuple[str, str], int]) -> dict[tuple[str, str], int]:
    for (sku, warehouse), units in available.items():
        if not _is_count(units, 0):
            raise DomainError(
                f"available units of {sku} in {warehouse} must be a whole number >= 0, got {units!r}",
                field="available",
            )
    return dict(available)


def _units(available: Mapping[tuple[str, str], int], sku: str, warehouses: Sequence[str]) -> int:
    return sum(available.get((sku, code), 0) for code in warehouses)


def _require_coverable(
    lines: Mapping[str, int], available: Mapping[tuple[str, str], int], codes: Sequence[str]
) -> None:
    """The first line, in the order's own order, the active warehouses cannot fill together is sold out."""
    for sku, qty in lines.items():
        total = _units(available, sku, codes)
        if total < qty:
            raise SoldOut(sku, field=f"lines[{sku}]", requested=qty, available=total)


def _cost(subset: tuple[str, ...], metres: Mapping[str, int]) -> tuple[int, tuple[str, ...]]:
    return sum(metres[code] for code in subset), tuple(sorted(subset))


def _exact_cover(
    candidates: Sequence[str], progress: Progress, goal: int, metres: Mapping[str, int], max_size: int
) -> tuple[str, ...] | None:
    """The smallest subset reaching `goal`, the least total distance among those, then the lowest codes."""
    for size in range(1, max_size + 1):
        covering = [subset for subset in combinations(candidates, size) if progress(subset) >= goal]
        if covering:
            return min(covering, key=lambda subset: _cost(subset, metres))
    return None


def _greedy_cover(candidates: Sequence[str], progress: Progress, goal: int) -> tuple[str, ...]:
    """Above the exact-search bound: keep adding the warehouse that fills the most; `candidates` are nearest
    first, so `max` (first maximum wins) breaks ties by distance, then code."""
    chosen: tuple[str, ...] = ()
    remaining = list(candidates)
    while progress(chosen) < goal:
        best = max(remaining, key=lambda code: progress((*chosen, code)))
        chosen = (*chosen, best)
        remaining.remove(best)
    return chosen


def _smallest_cover(
    candidates: Sequence[str], progress: Progress, goal: int, metres: Mapping[str, int]
) -> tuple[str, ...]:
    """Fewest warehouses first; exact up to MAX_EXACT_WAREHOUSES candidates, and a single warehouse that can
    serve alone is always found, whatever the number of candidates."""
    max_size = len(candidates) if len(candidates) <= MAX_EXACT_WAREHOUSES else 1
    exact = _exact_cover(candidates, progress, goal, metres, max_size)
    return exact if exact is not None else _greedy_cover(candidates, progress, goal)


def _order_progress(lines: Mapping[str, int], available: Mapping[tuple[str, str], int]) -> Progress:
    return lambda subset: sum(min(qty, _units(available, sku, subset)) for sku, qty in lines.items())


def _split_line(
    sku: str,
    qty: int,
    available: Mapping[tuple[str, str], int],
    chosen: Sequence[str],
    metres: Mapping[str, int],
) -> list[tuple[str, int]]:
    """One line over the chosen warehouses: from as few of them as possible (nearest set on a tie), each
    giving all it has, nearest first, until the line is filled."""
    holders = [code for code in chosen if available.get((sku, code), 0) > 0]
    line_set = _smallest_cover(holders, lambda subset: min(qty, _units(available, sku, subset)), qty, metres)
    parts: list[tuple[str, int]] = []
    remaining = qty
    for code in sorted(line_set, key=lambda c: (metres[c], c)):
        take = min(remaining, available[(sku, code)])
        if take > 0:
            parts.append((code, take))
            remaining -= take
    return parts


def _shipments(
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    chosen: Sequence[str],
    metres: Mapping[str, int],
) -> tuple[PlannedShipment, ...]:
    by_warehouse: dict[str, list[tuple[str, int]]] = {}
    for sku, qty in lines.items():
        for code, take in _split_line(sku, qty, available, chosen, metres):
            by_warehouse.setdefault(code, []).append((sku, take))
    ordered = sorted(by_warehouse, key=lambda code: (metres[code], code))
    return tuple(PlannedShipment(code, tuple(sorted(by_warehouse[code]))) for code in ordered)


def plan_warehouses(
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    warehouses: Sequence[Warehouse],
    dest: Destination,
) -> tuple[PlannedShipment, ...]:
    """Which warehouses ship which units of an order (routing issue, "Warehouse plan").

    Preference, in order: the fewest shipments (one warehouse holding every line beats any split), then the
    least total great-circle distance from the destination (its city when known, else its province capital),
    then the lowest warehouse codes. Inactive warehouses are skipped. A line is split across warehouses only
    when no single chosen warehouse holds all of it, and then over as few as possible. `available` is keyed
    `(sku, warehouse)`; a missing key means none. The search over warehouse subsets is exact for up to
    MAX_EXACT_WAREHOUSES (12) active warehouses holding an ordered SKU; above that a single serving
    warehouse is still always found and larger splits are chosen greedily (most units filled first).
    Shipments come nearest first. Raises `SoldOut` for the first line (in `lines` order) the active
    warehouses cannot fill together, and `unknown_province` (field `buyer.province`) for an unknown
    destination.
    """
    wanted = _validated_lines(lines)
    stock = _validated_available(available)
    active = _active(warehouses)
    metres = _metres(active, dest)
    _require_coverable(wanted, stock, [w.code for w in active])
    candidates = sorted(
        (w.code for w in active if any(stock.get((sku, w.code), 0) > 0 for sku in wanted)),
        key=lambda code: (metres[code], code),
    )
    # The common case, first: the nearest warehouse that holds every line ships it all in one parcel. It is what
    # the exact search picks among single warehouses (least distance, then code), found without the search.
    for code in candidates:
        if all(stock.get((sku, code), 0) >= qty for sku, qty in wanted.items()):
            return (PlannedShipment(code, tuple(sorted(wanted.items()))),)
    chosen = _smallest_cover(candidates, _order_progress(wanted, stock), sum(wanted.values()), metres)
    return _shipments(wanted, stock, chosen, metres)


def replan(
    lines: Mapping[str, int],
    available: Mapping[tuple[str, str], int],
    warehouses: Sequence[Warehouse],
    dest: Destination,
    down: str,
) -> tuple[PlannedShipment, ...]:
    """The plan of an unshipped order after warehouse `down` failed: the same rules as `plan_warehouses` with
    `down` treated as inactive (routing issue: "An outage re-plans unshipped orders"). The service releases
    the old allocation first and passes the availability after release. An unknown `down` is refused.
    """
    if all(w.code != down for w in warehouses):
        raise DomainError(f"warehouse {down!r} is not one of the warehouses", field="down")
    still_up = [w if w.code != down else replace(w, active=False) for w in warehouses]
    return plan_warehouses(lines, available, still_up, dest)


def buyer_destination(buyer: Address) -> Destination:
    """Where an express or instant parcel goes: the buyer's province and city as written."""
    return Destination(buyer.province, buyer.city)


def destination_for(delivery: Delivery, buyer: Destination, pickup_point: Destination | None) -> Destination:
    """Where the parcel goes: `pickup` ships to the leader's pickup point instead of the buyer; `express` and
    `instant` ship to the buyer (routing issue). Pickup with no pickup point is refused (`no_pickup_point`);
    so is a pickup point in an unknown province (field `pickup_point.province`)."""
    if _delivery(delivery) is not Delivery.PICKUP:
        return buyer
    if pickup_point is None:
        raise DomainError(
            "the leader has no pickup point for a pickup order", field="delivery", code="no_pickup_point"
        )
    _locate(pickup_point, field="pickup_point.province")
    return pickup_point


def _delivery(delivery: Delivery | str) -> Delivery:
    try:
        return Delivery(delivery)
    except ValueError:
        raise DomainError(f"unknown delivery {delivery!r}", field="delivery") from None


# --- carrier choice -------------------------------------------------------------------------------------


def _usable(
    policy: CarrierPolicy, unavailable: frozenset[str], assigned: Mapping[str, int]
) -> Callable[[str], bool]:
    caps = dict(policy.capacity)

    def usable(carrier: str) -> bool:
        full = carrier in caps and assigned.get(carrier, 0) >= caps[carrier]
        return carrier not in unavailable and not full

    return usable


def _preferred(
    dest: Destination, warehouse: Warehouse, total_cents: int, delivery: Delivery, policy: CarrierPolicy
) -> tuple[str, ...]:
    """The special carriers to try, best first, before the express share; each fallback is the next rule."""
    preferred: tuple[str, ...] = ()
    if delivery is Delivery.INSTANT and geo.same_city(
        dest.province, dest.city, warehouse.province, warehouse.city
    ):
        preferred = (policy.same_city,)
    if geo.is_remote(dest.province):
        return (*preferred, policy.postal, policy.next_day)
    if geo.is_tier1(dest.province, dest.city) or total_cents > policy.next_day_above_cents:
        return (*preferred, policy.next_day)
    return preferred


def _share_pick(carriers: Sequence[tuple[str, int]], assigned: Mapping[str, int]) -> str:
    """Smooth weighted round-robin: the carrier furthest below its share, i.e. the argmax of
    weight*(n+1)/W - assigned (n, W over `carriers`), compared in integers as weight*(n+1) - assigned*W;
    the first listed wins a tie."""
    total_weight = sum(weight for _, weight in carriers)
    shipped = sum(assigned.get(code, 0) for code, _ in carriers)
    deficit = [weight * (shipped + 1) - assigned.get(code, 0) * total_weight for code, weight in carriers]
    return carriers[deficit.index(max(deficit))][0]


def room_left(policy: CarrierPolicy, carrier: str, assigned: Mapping[str, int]) -> int | None:
    """Parcels `carrier` can still take today: its capacity less what it has; None when it has no capacity."""
    cap = dict(policy.capacity).get(carrier)
    return None if cap is None else max(cap - assigned.get(carrier, 0), 0)


def _most_room(policy: CarrierPolicy, open_: Sequence[tuple[str, int]], assigned: Mapping[str, int]) -> str:
    """Overflow: the carrier with the most room left (no capacity = unlimited room); carriers with equal room
    share by their weights, so two unlimited ones split the overflow as they split everything."""
    def key(code: str) -> tuple[bool, int]:
        room = room_left(policy, code, assigned)
        return (room is None, room or 0)

    best = max(key(code) for code, _ in open_)
    return _share_pick([(code, weight) for code, weight in open_ if key(code) == best], assigned)


def _express(policy: CarrierPolicy, unavailable: frozenset[str], assigned: Mapping[str, int]) -> str:
    """The express carrier of a parcel ("dynamic allocation"): carriers down take nothing and the ones up share by
    weight (default 60/20/20); the share's pick takes the parcel while it has room today (so with room everywhere the
    shares are kept exactly), else it overflows to the carrier with the most room left (`_most_room`), never past a
    carrier's remaining capacity. Nobody up with room → `no_carrier`."""
    up = [(code, weight) for code, weight in policy.express_weights if code not in unavailable]
    open_ = [(code, weight) for code, weight in up if room_left(policy, code, assigned) != 0]
    if not open_:
        raise DomainError("no carrier is available for this parcel", field="carrier", code="no_carrier")
    pick = _share_pick(up, assigned)
    if room_left(policy, pick, assigned) != 0:
        return pick
    return _most_room(policy, open_, assigned)


def _validated_assigned(assigned: Mapping[str, int]) -> Mapping[str, int]:
    for carrier, count in assigned.items():
        if not _is_count(count, 0):
            raise DomainError(f"shipments assigned to {carrier} must be >= 0, got {count!r}", field="assigned")
    return assigned


def choose_carrier(
    dest: Destination,
    warehouse: Warehouse,
    total_cents: int,
    delivery: Delivery,
    policy: CarrierPolicy,
    unavailable: frozenset[str] = frozenset(),
    assigned: Mapping[str, int] = _NO_ASSIGNMENTS,
) -> str:
    """The carrier for a parcel from `warehouse` to `dest` (routing issue, "Carrier choice"). Rules in order:

    1. `instant` delivery with the destination in the warehouse's city → the same-city courier; instant
       outside that city falls back to the rules below.
    2. A remote destination (Xinjiang, Tibet, ...) → the postal carrier, even for a large order.
    3. A tier-1 destination, or `total_cents` strictly above `next_day_above_cents` → the next-day carrier.
    4. Otherwise the express carriers share by weight, deterministically (see `_express`), so that over many
       parcels the split converges to the configured weights (default 60/20/20) while every carrier has room;
       a full carrier's share overflows to the carriers with the most room left.

    A carrier in `unavailable`, or whose `assigned` count today has reached its `capacity`, is skipped:
    same-city → the normal rules; postal → next-day → express; next-day → express; among express the ones
    down take nothing and the full ones overflow (`_express`). `assigned` counts today's shipments per
    carrier. Nothing left → `no_carrier`.
    """
    _locate(dest)
    if not _is_count(total_cents, 0):
        raise DomainError(f"total_cents must be whole cents >= 0, got {total_cents!r}", field="total_cents")
    usable = _usable(policy, unavailable, _validated_assigned(assigned))
    for carrier in _preferred(dest, warehouse, total_cents, _delivery(delivery), policy):
        if usable(carrier):
            return carrier
    return _express(policy, unavailable, assigned)
