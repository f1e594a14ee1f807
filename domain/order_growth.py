"""What the growth engine adds to one order's decision (domain/ordering.py): the coupon it names, and the bonus
rate of the invitation tasks its leader completed before it.

- A coupon is looked up in the room; `growth.coupon_discount` says how much it takes off the subtotal or why it
  does not apply. "Live" is the room being live at the order's time (`commission.is_live`); "invited" is the
  order being attributed to a leader. The order then pays `subtotal - discount`, and commission is on that.
- A task's bonus counts only for orders placed after the task was completed (`growth.task_bonus_bp`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain import commission, growth

_NONE: Mapping[str, datetime] = {}
_NO_BONUS: Mapping[str, int] = {}


@dataclass(frozen=True, slots=True)
class Discount:
    """A coupon applied to an order: the coupon with this use counted, and the cents it took off."""

    coupon: growth.Coupon
    cents: int


def apply_coupon(
    name: str | None,
    coupons: Mapping[tuple[str, str], growth.Coupon],
    *,
    room: str,
    rates: commission.RoomRates,
    subtotal_cents: int,
    at: datetime,
    leader: str | None,
) -> Discount | None:
    """The discount of the coupon named `name` (None: none named), or a refusal (422 `coupon_…`, 409 spent)."""
    if name is None:
        return None
    coupon = coupons.get((room, name))
    cents = growth.coupon_discount(
        coupon,
        name=name,
        room=room,
        subtotal_cents=subtotal_cents,
        live=commission.is_live(rates, at),
        invited=leader is not None,
    )
    assert coupon is not None  # coupon_discount refuses an unknown coupon
    return Discount(growth.use(coupon), cents)


def bonus_bp(
    completions: Mapping[tuple[str, str], Mapping[str, datetime]],
    bonuses: Mapping[str, Mapping[str, int]],
    *,
    room: str,
    leader: str | None,
    at: datetime,
) -> int:
    """The extra leader rate of the tasks `leader` completed in `room` before `at` (0 for a house order)."""
    if leader is None:
        return 0
    return growth.task_bonus_bp(completions.get((room, leader), _NONE), bonuses.get(room, _NO_BONUS), at)
