"""Delay notices (issue 13, "Delay notices"): ops tells the buyers of some orders that their parcels are late.

A notice names the orders it concerns by up to four criteria — a room, a warehouse, a carrier, a province — each
optional, at least one required, combined with AND. An order matches when every criterion given holds:
- room: the order was placed in that room;
- province: the order's parcels go to that province (as buyers write it: "广东", "广东省", "Guangdong" are one);
- warehouse and carrier: the order has a parcel that leaves from that warehouse AND travels with that carrier
  (both on the same parcel: a delay is a parcel's, and an order split over two warehouses is late only where the
  late parcel is).
A cancelled order matches nothing. Whether an order was placed before or after the notice does not matter: a
notice holds for every matching order until it is withdrawn.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from domain import geo
from domain.errors import DomainError

MAX_TEXT_CHARS = 500
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
_CARRIER = re.compile(r"^[A-Z0-9]{1,16}$")


def clean_text(text: str) -> str:
    """The notice as buyers read it: control and invisible characters removed, whitespace folded to one space;
    not empty, at most MAX_TEXT_CHARS characters (field `text`)."""
    cleaned = " ".join(_CONTROL.sub("", text).split())
    if not cleaned:
        raise DomainError("text must hold more than whitespace", field="text")
    if len(cleaned) > MAX_TEXT_CHARS:
        raise DomainError(f"text has at most {MAX_TEXT_CHARS} characters", field="text")
    return cleaned


def canonical_province(name: str | None) -> str | None:
    """The canonical full name of the province a buyer means, or None when unknown."""
    if name is None:
        return None
    prov = geo.province(name)
    return None if prov is None else prov.name


@dataclass(frozen=True, slots=True)
class Criteria:
    """Which orders a notice concerns; `province` is the canonical full name ("广东省")."""

    room: str | None = None
    warehouse: str | None = None
    carrier: str | None = None
    province: str | None = None

    @classmethod
    def of(cls, room: str | None = None, warehouse: str | None = None, carrier: str | None = None,
           province: str | None = None) -> Criteria:
        """Criteria as ops writes them: the province normalised, the carrier code upper-cased. At least one is
        required (field `criteria`); an unknown province is refused (field `province`)."""
        if room is None and warehouse is None and carrier is None and province is None:
            raise DomainError("name at least one of room, warehouse, carrier, province", field="room",
                              code="no_criteria")
        canonical = None
        if province is not None:
            canonical = canonical_province(province)
            if canonical is None:
                raise DomainError(f"unknown province: {province}", field="province", code="unknown_province")
        code = None
        if carrier is not None:
            code = carrier.strip().upper()
            if not _CARRIER.match(code):
                raise DomainError(f"not a carrier code: {carrier}", field="carrier", code="invalid_field")
        return cls(room=room, warehouse=warehouse, carrier=code, province=canonical)

    def matches(self, order: OrderFacts) -> bool:
        if order.cancelled:
            return False
        if self.room is not None and order.room != self.room:
            return False
        if self.province is not None and canonical_province(order.province) != self.province:
            return False
        if self.warehouse is None and self.carrier is None:
            return True
        return any((self.warehouse is None or warehouse == self.warehouse)
                   and (self.carrier is None or carrier == self.carrier)
                   for warehouse, carrier in order.parcels)


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What a notice looks at in an order: its room, where it goes (province as written), and each parcel's
    (warehouse, carrier)."""

    room: str
    province: str | None
    parcels: tuple[tuple[str, str], ...] = ()
    cancelled: bool = False

    @classmethod
    def of(cls, room: str, province: str | None, parcels: Iterable[tuple[str, str]], status: str) -> OrderFacts:
        return cls(room=room, province=province, parcels=tuple(parcels), cancelled=status == "cancelled")


@dataclass(frozen=True, slots=True)
class Notice:
    notice: str
    text: str
    criteria: Criteria
    at: str  # ISO-8601 UTC: when it was posted

    def matches(self, order: OrderFacts) -> bool:
        return self.criteria.matches(order)

    def view(self) -> dict[str, str]:
        """What an order's answer and its tracking page show."""
        return {"notice": self.notice, "text": self.text, "at": self.at}


def notices_for(notices: Iterable[Notice], order: OrderFacts) -> list[dict[str, str]]:
    """The active notices an order shows, oldest first."""
    return [n.view() for n in sorted(notices, key=lambda n: (n.at, n.notice)) if n.matches(order)]
