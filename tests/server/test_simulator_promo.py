"""`liveroom simulate` plays a promo night after the pulse (issue 13): one carrier's capacity runs out mid-pitch
while the others have room, the room promises shipping by payment time, ops posts a delay notice while a
warehouse is down and withdraws it when it is back, and refunds come in the days after (on the accelerated
clock) with their reasons. The plans are pure and checked without a server; one small session plays them against
the real server, with stand-ins for the "After the pulse" endpoints that other branches build (API.md)."""

from __future__ import annotations

import collections
import io
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from live import live_server
from rich.console import Console
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT
from sqlalchemy import select

from domain import geo
from simulator import Session, SimConfig
from simulator.catalog import OUTAGE_WAREHOUSE, refused_field
from simulator.plan import Rhythm
from simulator.promo import carrier_rows, used_today
from simulator.promo_plan import (
    CARRIERS,
    LATE_REASONS,
    SLOW,
    TIGHT_CARRIER,
    TIGHT_PARCELS_PER_ORDER,
    after_wall_s,
    carrier_bodies,
    orders_by,
    outage_notice,
    outage_window,
    plan_late_refund,
    room_promo,
    roomy_capacity,
    seconds_for,
    send_at,
    tight_capacity,
)
from store import models

SIGNED = datetime(2026, 12, 12, 21, 0, tzinfo=UTC)
SESSIONS = ((150, 10.0), (1_000, 4.0), (5_000, 4.0), (50_000, 4.0))  # (orders, calm rate)

# --- carriers' capacity, without a server --------------------------------------------------------------------


@pytest.mark.parametrize(("orders", "rate"), SESSIONS)
def test_the_tight_carrier_runs_out_in_the_middle_of_a_pitch(orders: int, rate: float) -> None:
    rhythm = Rhythm.for_session(orders, rate)
    capacity = tight_capacity(rhythm, orders)
    full_at = seconds_for(rhythm, round(capacity / TIGHT_PARCELS_PER_ORDER))  # the order that fills it
    assert rhythm.pulse_at(full_at) == 0  # the first pitch
    start = rhythm.cycle - rhythm.pulse
    assert start + 0.3 * rhythm.pulse <= full_at <= start + 0.7 * rhythm.pulse  # mid-pitch, not at its edges
    assert capacity < TIGHT_PARCELS_PER_ORDER * orders  # the session does run it out


@pytest.mark.parametrize(("orders", "window"), [(150, (52, 90)), (1_000, (350, 600)), (50_000, (600, 1_500))])
def test_the_warehouse_goes_down_a_third_into_the_session_or_within_its_first_few_minutes(
    orders: int, window: tuple[int, int]
) -> None:
    assert outage_window(orders) == window
    assert outage_window(1) == (1, 2) and outage_window(2) == (1, 2)


def test_capacity_is_on_top_of_the_parcels_the_carrier_already_took_today() -> None:
    rhythm = Rhythm.for_session(5_000, 4.0)
    assert tight_capacity(rhythm, 5_000, used_today=700) == 700 + tight_capacity(rhythm, 5_000)
    assert roomy_capacity(5_000, used_today=300) == 300 + roomy_capacity(5_000)
    bodies = carrier_bodies(rhythm, 5_000, {"YTO": 40})
    assert bodies["YTO"]["daily_capacity"] == 40 + roomy_capacity(5_000)


def test_the_other_carriers_have_room_for_the_whole_session() -> None:
    bodies = carrier_bodies(Rhythm.for_session(5_000, 4.0), 5_000, {})
    for carrier, body in bodies.items():
        if carrier != TIGHT_CARRIER:
            assert body["daily_capacity"] >= 2 * 5_000


def test_each_carrier_is_configured_as_the_contract_names_it_with_a_cost_and_provinces_it_covers() -> None:
    bodies = carrier_bodies(Rhythm.for_session(1_000, 4.0), 1_000, {})
    assert set(bodies) == {c.carrier for c in CARRIERS} >= {"ZTO", "YTO", "JTSD", "SF", "EMS"}
    for body in bodies.values():
        assert set(body) == {"daily_capacity", "cost_cents", "provinces", "active"}
        assert body["active"] is True and body["cost_cents"] > 0 and body["provinces"]
        assert all(geo.province(p) is not None for p in body["provinces"])  # names the server recognises
    assert bodies["SF"]["cost_cents"] > bodies["ZTO"]["cost_cents"]  # next-day costs more


def test_the_expected_orders_and_the_time_they_take_are_each_others_inverse() -> None:
    rhythm = Rhythm(rate=4.0, cycle=120.0, pulse=30.0)
    assert orders_by(rhythm, 90.0) == pytest.approx(360.0)  # calm: 4 a second
    assert orders_by(rhythm, 120.0) == pytest.approx(360.0 + 1_200.0)  # the pitch: 40 a second
    for orders in (1, 100, 1_560, 5_000):
        assert orders_by(rhythm, seconds_for(rhythm, orders)) == pytest.approx(orders, abs=1e-6)


def test_the_carriers_read_back_as_a_list_or_an_object_holding_one() -> None:
    rows = [{"carrier": "ZTO", "daily_capacity": 10, "used_today": 4}, {"carrier": "SF", "used_today": None}]
    assert carrier_rows(rows) == rows == carrier_rows({"carriers": rows})
    assert used_today(carrier_rows(rows)) == {"ZTO": 4, "SF": 0}
    assert carrier_rows({"error": "not_found"}) == [] == carrier_rows(None)


# --- the room ------------------------------------------------------------------------------------------------


def test_paid_before_eight_ships_by_tomorrow_six_and_later_the_day_after() -> None:
    promise = room_promo(5_000)["ship_promise"]
    assert promise == [
        {"paid_before": "20:00", "ship_by_days": 1, "ship_by_time": "18:00"},
        {"paid_before": "23:59", "ship_by_days": 2, "ship_by_time": "18:00"},
    ]
    assert room_promo(5_000)["forecast"]["expected_audience"] >= 5_000


def test_a_room_field_the_server_refuses_is_left_out_and_any_other_refusal_stands() -> None:
    body = {"title": "t"} | room_promo(100)
    assert refused_field(body, 422, {"error": "invalid_field", "field": "forecast"}) == "forecast"
    assert refused_field(body, 422, {"field": "forecast.expected_audience"}) == "forecast"
    assert refused_field(body, 422, {"field": "ship_promise[1].paid_before"}) == "ship_promise"
    assert refused_field(body, 422, {"field": "title"}) is None  # a real problem: the catalog is refused
    assert refused_field(body, 409, {"field": "forecast"}) is None
    assert refused_field({"title": "t"}, 422, {"field": "forecast"}) is None  # nothing left to drop


# --- the delay notice and the refunds after ------------------------------------------------------------------


def test_the_delay_notice_names_the_room_and_the_warehouse_that_went_down() -> None:
    notice = outage_notice("live-1", OUTAGE_WAREHOUSE, "华中仓·武汉东西湖")
    assert notice["room"] == "live-1" and notice["warehouse"] == OUTAGE_WAREHOUSE
    assert "华中仓·武汉东西湖" in notice["text"] and "延迟" in notice["text"]


def test_some_buyers_ask_for_a_refund_one_to_three_days_after_signing_for_the_four_reasons() -> None:
    plans = [plan_late_refund(7, f"o-t-{i:05d}", i, SIGNED) for i in range(4_000)]
    late = [p for p in plans if p is not None]
    assert 0.035 < len(late) / len(plans) < 0.065
    assert all(timedelta(days=1) <= p.at - SIGNED <= timedelta(days=3) for p in late)
    reasons = collections.Counter(p.reason for p in late)
    assert set(reasons) == {r for r, _ in LATE_REASONS}
    assert min(reasons.values()) > 0.1 * len(late)  # spread, not one reason
    assert 0.6 < sum(p.approve for p in late) / len(late) < 0.95
    assert all(0.3 <= p.share <= 1.0 for p in late)


def test_a_short_session_still_has_refunds_days_after() -> None:
    assert plan_late_refund(7, "o-t-00006", 5, SIGNED) is not None
    assert plan_late_refund(7, "o-t-00010", 9, SIGNED) is not None


def test_a_buyer_whose_parcel_got_stuck_gives_up_days_later_because_it_ships_too_slowly() -> None:
    plans = [plan_late_refund(7, f"o-t-{i:05d}", i, SIGNED, stuck=True) for i in range(1_000)]
    late = [p for p in plans if p is not None]
    assert 0.5 < len(late) / len(plans) < 0.7
    assert {p.reason for p in late} == {SLOW}
    assert all(timedelta(days=2) <= p.at - SIGNED <= timedelta(days=4) for p in late)


def test_the_same_seed_plans_the_same_refunds() -> None:
    assert plan_late_refund(7, "o-a", 100, SIGNED) == plan_late_refund(7, "o-a", 100, SIGNED)
    assert [plan_late_refund(7, f"o-{i}", 100, SIGNED) for i in range(200)] != [
        plan_late_refund(8, f"o-{i}", 100, SIGNED) for i in range(200)
    ]


def test_the_days_after_a_parcel_pass_in_wall_minutes_so_a_short_demo_has_late_refunds() -> None:
    assert after_wall_s(timedelta(days=1), SimConfig().after_speed) == 60.0
    assert after_wall_s(timedelta(days=3), SimConfig().after_speed) == 180.0
    assert after_wall_s(timedelta(days=1), 86_400.0) == 1.0


def test_a_refund_dated_after_the_session_is_sent_late_in_the_session_never_before_now() -> None:
    rng = random.Random(1)
    assert send_at(planned=50.0, now=10.0, latest=100.0, rng=rng) == 50.0  # in time: at its time
    assert send_at(planned=5.0, now=10.0, latest=100.0, rng=rng) == 10.0  # overdue: now
    late = [send_at(planned=900.0, now=10.0, latest=100.0, rng=rng) for _ in range(200)]
    assert all(95.0 <= t <= 100.0 for t in late) and len(set(late)) > 1  # spread over the last seconds
    assert send_at(planned=900.0, now=120.0, latest=100.0, rng=rng) == 120.0


# --- a session against a real server --------------------------------------------------------------------------


def config_for(url: str, run: str) -> SimConfig:
    return SimConfig(
        url=url,
        api_key=API_KEY,
        kdniao_appkey=KDNIAO_APPKEY,
        kuaidi100_salt=KUAIDI100_SALT,
        leaders=30,
        orders=160,
        rate=10.0,
        speed=1800.0,
        seed=7,
        run=run,
        drain=20.0,
    )


async def test_a_promo_night_configures_carriers_posts_and_withdraws_a_notice_and_refunds_days_after(
    tmp_path: Any,
) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'l.db'}") as ls:
        config = config_for(ls.url, "p1")
        out = io.StringIO()
        summary = await Session(config, Console(file=out, width=160)).run()
        stats = summary.stats
        assert summary.ended == "orders", summary
        assert stats["errors"] == 0, stats["last_error"]
        assert stats["unavailable"] == {}, stats["unavailable"]

        # carriers: each configured, the tight one with less than the session needs, and never over it
        carriers = {c["carrier"]: c for c in (await ls.http.get("/api/v1/carriers")).json()}
        assert {c.carrier for c in CARRIERS} <= set(carriers)
        tight = carriers[TIGHT_CARRIER]
        assert tight["daily_capacity"] < config.orders * TIGHT_PARCELS_PER_ORDER
        assert tight["used_today"] <= tight["daily_capacity"]
        assert stats["carriers_configured"] == len(CARRIERS)

        # the notice went up with the outage and came down with it
        assert summary.outages == [(OUTAGE_WAREHOUSE, "down"), (OUTAGE_WAREHOUSE, "up")]
        async with ls.ctx.engine.connect() as conn:
            notices = (await conn.execute(select(models.notices))).all()
        assert [(n.warehouse, n.withdrawn_at is not None) for n in notices] == [(OUTAGE_WAREHOUSE, True)]
        assert stats["notices_posted"] == stats["notices_withdrawn"] == 1
        assert stats["notice_orders"] == notices[0].orders

        # refunds days after, with their reasons, on the server
        assert stats["refunds_late"] >= 2
        assert sum(stats["refund_reasons"].values()) == stats["refunds_opened"]
        assert set(stats["refund_reasons"]) & {r for r, _ in LATE_REASONS}
        refunds = 0
        for order in summary.orders:
            view = (await ls.http.get(f"/api/v1/orders/{order}")).json()
            refunds += len(view.get("after_sales") or [])
        assert refunds == stats["refunds_opened"]
        assert "refunds after" in out.getvalue() and "notices" in out.getvalue()
