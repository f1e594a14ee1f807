"""What the session will do, decided up front from the seed: when orders arrive (a calm baseline and pulses of
ten times when the host pitches a SKU), which leader's link each visitor opens (a power law: a few leaders
bring most), what each buyer orders, and what becomes of the order later (held for verification, cancelled,
refunded, a parcel that gets stuck or returned).

Everything here is a pure function of the seed and the settings, so two runs with the same seed play the same
session; only the server's answers (which orders sell out first under concurrency) may differ.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from simulator.catalog import PRESALE, SCARCE, SKUS, WAREHOUSE_CITIES, Catalog, pitch_order
from simulator.people import Buyer, Flaw, Place, buyer_in, flawed, pick_place

# Leader popularity ∝ rank^-1.25: the top tenth of the leaders bring well over half of the orders.
ZIPF_EXPONENT = 1.25
PULSE_FACTOR = 10  # the order rate while the host pitches a SKU, times the calm baseline


def zipf_weights(count: int, exponent: float = ZIPF_EXPONENT) -> list[float]:
    return [rank**-exponent for rank in range(1, count + 1)]


@dataclass(frozen=True)
class Rhythm:
    """Pulses of `pulse` seconds at the end of every `cycle` seconds; `rate` orders per second otherwise."""

    rate: float
    cycle: float
    pulse: float

    @classmethod
    def for_session(
        cls, orders: int, rate: float, every: float | None = None, length: float | None = None
    ) -> Rhythm:
        """About three pitches per session unless told otherwise: a cycle takes 3.25 × rate × cycle orders."""
        cycle = every if every is not None else min(120.0, max(2.0, orders / (9.75 * rate)))
        pulse = length if length is not None else cycle / 4
        return cls(rate, cycle, min(pulse, cycle))

    def pulse_at(self, t: float) -> int | None:
        """The pulse under way at `t` seconds into the session (0, 1, ...), or None when calm."""
        k = int(t // self.cycle)
        return k if t >= k * self.cycle + self.cycle - self.pulse else None

    def rate_at(self, t: float) -> float:
        return self.rate * (PULSE_FACTOR if self.pulse_at(t) is not None else 1)

    def _next_change(self, t: float) -> float:
        k = int(t // self.cycle)
        start = k * self.cycle + self.cycle - self.pulse
        change = start if t < start else (k + 1) * self.cycle
        return change if change > t else t + 1e-9

    def next_arrival(self, t: float, rng: random.Random) -> float:
        """A Poisson arrival after `t` with the piecewise rate (memoryless: restart at each change of rate)."""
        while True:
            gap = rng.expovariate(self.rate_at(t))
            change = self._next_change(t)
            if t + gap < change:
                return t + gap
            t = change


@dataclass(frozen=True)
class Fate:
    """What happens to an order after it is placed."""

    verify: bool = False  # a held order that its leader fixes (the others stay held)
    cancel: bool = False  # the buyer cancels before the parcel leaves
    refund: bool = False  # the buyer asks for a refund once the parcel is signed
    approve: bool = True  # ... and the brand approves it
    parcel: str = "normal"  # normal | stuck | returned | problem


# Early orders with a fixed fate, so that even a short session shows each kind of trouble once.
SHOWCASE: dict[int, Fate] = {
    3: Fate(verify=True),
    7: Fate(parcel="returned"),
    11: Fate(refund=True, approve=True),
    13: Fate(parcel="stuck"),
    17: Fate(parcel="problem"),
}


@dataclass(frozen=True)
class PlannedOrder:
    index: int
    at: float  # seconds into the session
    pulse: int | None
    order: str
    visitor: str
    new_visitor: bool
    leader: str  # whose link the buyer came through
    code: str
    buyer: Buyer
    flaw: Flaw | None
    items: tuple[tuple[str, int], ...]
    delivery: str
    fate: Fate
    browsers: tuple[tuple[str, str], ...]  # (visitor, code): visits that end without an order

    def body(self, room: str) -> dict[str, object]:
        return {
            "order": self.order,
            "room": room,
            "visitor": self.visitor,
            "code": self.code,
            "buyer": self.buyer.body(),
            "items": [{"sku": sku, "qty": qty} for sku, qty in self.items],
            "delivery": self.delivery,
        }


@dataclass
class _Regular:
    visitor: str
    leader: str
    buyer: Buyer


@dataclass
class OrderPlanner:
    """Plans the session's orders one after another, deterministically from the seed."""

    catalog: Catalog
    rhythm: Rhythm
    seed: int
    run: str
    rng: random.Random = field(init=False)
    pitches: list[str] = field(init=False)
    _cum: list[float] = field(init=False)
    _t: float = 0.0
    _index: int = 0
    _visitors: itertools.count[int] = field(default_factory=itertools.count)
    _regulars: list[_Regular] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:orders")
        self.pitches = pitch_order(random.Random(f"{self.seed}:pitches"))
        self._cum = list(itertools.accumulate(zipf_weights(len(self.catalog.popularity))))

    def pitched(self, pulse: int | None) -> str | None:
        return None if pulse is None else self.pitches[pulse % len(self.pitches)]

    def _leader(self) -> str:
        return self.rng.choices(self.catalog.popularity, cum_weights=self._cum)[0]

    def _visitor(self) -> str:
        return f"v-{self.run}-{next(self._visitors)}"

    def _items(self, pulse: int | None, plain: bool) -> tuple[tuple[str, int], ...]:
        rng = self.rng
        lines = rng.choices((1, 2, 3), weights=(72, 23, 5))[0]
        pool = [s for s in SKUS if not (plain and s.sku in (SCARCE, PRESALE))]
        chosen: list[str] = []
        pitched = self.pitched(pulse)
        if pitched is not None and not (plain and pitched in (SCARCE, PRESALE)) and rng.random() < 0.8:
            chosen.append(pitched)
        while len(chosen) < lines:
            sku = rng.choices(pool, weights=[s.popularity for s in pool])[0].sku
            if sku not in chosen:
                chosen.append(sku)
        return tuple((sku, rng.choices((1, 2, 3), weights=(80, 15, 5))[0]) for sku in chosen)

    def _fate(self, index: int) -> Fate:
        if index in SHOWCASE:
            return SHOWCASE[index]
        rng = self.rng
        roll = rng.random()
        if roll < 0.015:
            return Fate(cancel=True)
        if roll < 0.045:
            return Fate(refund=True, approve=rng.random() < 0.8)
        roll = rng.random()
        parcel = (
            "returned" if roll < 0.02 else "stuck" if roll < 0.04 else "problem" if roll < 0.08 else "normal"
        )
        return Fate(parcel=parcel)

    def _delivery(self, leader: str, place: Place, new_visitor: bool, plain: bool) -> str:
        if plain:
            return "express"
        roll = self.rng.random()
        if new_visitor and self.catalog.by_id[leader].pickup_point and roll < 0.35:
            return "pickup"
        if place.city in WAREHOUSE_CITIES and roll > 0.8:
            return "instant"
        return "express"

    def next(self) -> PlannedOrder:
        rng = self.rng
        index = self._index
        self._index += 1
        self._t = self.rhythm.next_arrival(self._t, random.Random(f"{self.seed}:arrival:{index}"))
        pulse = self.rhythm.pulse_at(self._t)
        fate = self._fate(index)
        showcase = index in SHOWCASE
        if self._regulars and len(self._regulars) >= 10 and rng.random() < 0.2 and not showcase:
            regular = rng.choice(self._regulars)
            visitor, new_visitor, buyer = regular.visitor, False, regular.buyer
            leader = regular.leader if rng.random() < 0.85 else self._leader()
            place = None
        else:
            visitor, new_visitor, leader = self._visitor(), True, self._leader()
            home = self.catalog.by_id[leader].place
            place = home if rng.random() < 0.7 else pick_place(rng)
            buyer = buyer_in(rng, place)
            self._regulars.append(_Regular(visitor, leader, buyer))
        flaw = None
        held = fate.verify or (not showcase and not fate.cancel and not fate.refund and rng.random() < 0.03)
        if held:
            buyer, flaw = flawed(rng, buyer)
            fate = Fate(verify=fate.verify or rng.random() < 0.75)
        items = self._items(pulse, plain=showcase)
        delivery = self._delivery(leader, place, new_visitor, plain=showcase) if place else "express"
        browsers = tuple(
            (self._visitor(), self.catalog.codes.get(self._leader(), ""))
            for _ in range(rng.choices((0, 1, 2, 3), weights=(35, 35, 20, 10))[0])
        )
        return PlannedOrder(
            index=index,
            at=self._t,
            pulse=pulse,
            order=f"o-{self.run}-{index + 1:05d}",
            visitor=visitor,
            new_visitor=new_visitor,
            leader=leader,
            code=self.catalog.codes.get(leader, ""),
            buyer=buyer,
            flaw=flaw,
            items=items,
            delivery=delivery,
            fate=fate,
            browsers=browsers,
        )
