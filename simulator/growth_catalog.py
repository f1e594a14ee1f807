"""The room's growth settings, loaded after the catalog: the watched mark and the invitation reward (on the room),
two invitation tasks, and two coupons (a live-only 满99减10 with a quota, an invited-only 满59减8); and which
coupon a buyer tries at checkout.

A server that does not have these endpoints yet answers 404: the session goes on without them (counted, shown).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from simulator.catalog import SKU_BY_ID
from simulator.client import Api
from simulator.stats import Stats
from simulator.viewing import MIN_WATCH_S

INVITE_POINTS = 10
COUPON_TRIES = 0.3  # of the orders, try a coupon at checkout
CARELESS = 0.15  # of those, pick a coupon without checking the threshold (refused, then paid without)


@dataclass(frozen=True)
class Task:
    task: str
    goal: int
    points: int
    bonus_bp: int

    def body(self, min_watch_s: int) -> dict[str, Any]:
        minutes = f"{min_watch_s / 60:g}分钟"
        return {
            "title": f"邀请{self.goal}位好友看满{minutes}",
            "goal": self.goal,
            "min_watch_s": min_watch_s,
            "reward": {"points": self.points, "bonus_bp": self.bonus_bp},
        }


TASKS: tuple[Task, ...] = (Task("invite-5", 5, 50, 200), Task("invite-20", 20, 300, 500))


@dataclass(frozen=True)
class Coupon:
    coupon: str
    threshold_cents: int
    off_cents: int
    live_only: bool
    invited_only: bool
    share: float  # of the orders that try a coupon, those that try this one

    def body(self, quota: int) -> dict[str, Any]:
        return {
            "threshold_cents": self.threshold_cents,
            "off_cents": self.off_cents,
            "live_only": self.live_only,
            "invited_only": self.invited_only,
            "quota": quota,
        }


COUPONS: tuple[Coupon, ...] = (
    Coupon("live99", 9_900, 1_000, live_only=True, invited_only=False, share=0.65),
    Coupon("invite59", 5_900, 800, live_only=False, invited_only=True, share=0.35),
)


def room_growth(min_watch_s: int = MIN_WATCH_S) -> dict[str, Any]:
    """What the room PUT carries for growth."""
    return {"min_watch_s": min_watch_s, "invite_reward": {"points": INVITE_POINTS}}


def coupon_quota(coupon: Coupon, orders: int) -> int:
    """The live coupon runs out during a session (its refusals are part of the show); the invited one lasts."""
    return max(10, orders // 25) if coupon.live_only else max(20, orders // 8)


def cart_cents(items: tuple[tuple[str, int], ...]) -> int:
    return sum(SKU_BY_ID[sku].price_cents * qty for sku, qty in items)


def choose_coupon(
    seed: int, order: str, items: tuple[tuple[str, int], ...], coupons: dict[str, str]
) -> str | None:
    """The coupon id a buyer enters at checkout (or None): about three in ten try one; most pick one their cart
    reaches, a few do not check. `coupons` maps each coupon to its id on the server (only those loaded)."""
    rng = random.Random(f"{seed}:{order}:coupon")
    if not coupons or rng.random() >= COUPON_TRIES:
        return None
    offered = [c for c in COUPONS if c.coupon in coupons]
    careless = rng.random() < CARELESS
    total = cart_cents(items)
    fitting = offered if careless else [c for c in offered if c.threshold_cents <= total]
    if not fitting:
        return None
    chosen = rng.choices(fitting, weights=[c.share for c in fitting])[0]
    return coupons[chosen.coupon]


async def load_growth(
    api: Api, stats: Stats, room: str, run: str, orders: int, min_watch_s: int
) -> dict[str, str]:
    """The tasks and coupons (the room's own growth fields travel with its PUT). Answers the coupons loaded:
    coupon → its id. A coupon from an earlier session whose quota this one cannot lower gets a run's own id."""
    for task in TASKS:
        response = await api.put(f"/api/v1/rooms/{room}/tasks/{task.task}", task.body(min_watch_s))
        if response is not None and not stats.answered("tasks", response) and response.status_code != 404:
            stats.error(f"task {task.task}: {response.status_code} {response.text[:160]}")
    loaded: dict[str, str] = {}
    for coupon in COUPONS:
        body = coupon.body(coupon_quota(coupon, orders))
        for coupon_id in (coupon.coupon, f"{coupon.coupon}-{run}"):
            response = await api.put(f"/api/v1/rooms/{room}/coupons/{coupon_id}", body)
            if response is None:
                break
            if response.status_code == 409:
                continue  # used beyond this quota by an earlier session: this run's own coupon instead
            if stats.answered("coupons", response):
                loaded[coupon.coupon] = coupon_id
            elif response.status_code != 404:
                stats.error(f"coupon {coupon_id}: {response.status_code} {response.text[:160]}")
            break
    return loaded
