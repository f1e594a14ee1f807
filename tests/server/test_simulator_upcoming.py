"""`liveroom simulate` plays an upcoming room (明晚预告场) for the pre-live reminders: its visitors click the busiest
leaders' links well before it starts, never with a time ahead of the click, and about half come in after the start
(the others are the ones the server reminds)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from live import live_server
from seed import API_KEY

from simulator import SimConfig
from simulator.catalog import load_catalog, plan_catalog
from simulator.client import Api
from simulator.stats import Stats
from simulator.timeline import Timeline
from simulator.upcoming import CLICKS_WITHIN_S, STARTS_IN_S, VISITORS, Upcoming, plan_clicks, room_id

LEADERS = [f"lead-{n:02d}" for n in range(8)]  # busiest first


def test_twenty_to_forty_visitors_click_before_the_start_in_time_order() -> None:
    for seed in range(20):
        clicks = plan_clicks(seed, "r1", LEADERS)
        assert VISITORS[0] <= len(clicks) <= VISITORS[1]
        times = [c.after_s for c in clicks]
        assert times == sorted(times) and times[0] > 0 and times[-1] <= CLICKS_WITHIN_S < STARTS_IN_S
        assert len({c.visitor for c in clicks}) == len(clicks)


def test_about_half_come_in_after_the_start_and_the_rest_never_do() -> None:
    for seed in range(20):
        clicks = plan_clicks(seed, "r1", LEADERS)
        entering = [c for c in clicks if c.enters_after_s is not None]
        assert len(entering) == len(clicks) // 2
        assert all(c.enters_after_s > 0 for c in entering)  # after the start, not before: they get reminded too


def test_the_busiest_leaders_links_bring_the_most_clicks() -> None:
    counts: Counter[str] = Counter()
    for seed in range(50):
        counts.update(c.leader for c in plan_clicks(seed, "r1", LEADERS))
    assert set(counts) <= set(LEADERS)
    assert counts[LEADERS[0]] > counts[LEADERS[-1]]


def test_the_same_seed_plans_the_same_clicks_and_a_run_has_its_own_visitors() -> None:
    assert plan_clicks(7, "r1", LEADERS) == plan_clicks(7, "r1", LEADERS)
    assert plan_clicks(7, "r1", LEADERS) != plan_clicks(8, "r1", LEADERS)
    assert {c.visitor for c in plan_clicks(7, "r1", LEADERS)}.isdisjoint(
        c.visitor for c in plan_clicks(7, "r2", LEADERS))
    assert plan_clicks(7, "r1", []) == []
    assert room_id("live-1") == "live-1-next"


# --- against a real server ----------------------------------------------------------------------------------


async def test_every_visitor_who_clicked_before_the_start_is_reminded_and_half_of_them_came_in(tmp_path: Any) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'liveroom.db'}") as ls:
        config = SimConfig(url=ls.url, api_key=API_KEY, leaders=12, orders=10, run="u1")
        stats = Stats(target=config.orders)
        api = Api(config.url, config.api_key, 8, stats.error)
        catalog = plan_catalog(random.Random("7:catalog"), config.room, config.leaders, config.orders)
        await load_catalog(api, catalog, datetime.now(UTC) - timedelta(minutes=30), 4)
        upcoming = Upcoming(config, api, stats, Timeline(config.speed, stats.error), pace=0.1)  # starts in 4 s
        try:
            assert await upcoming.load(catalog)
            await upcoming.run()
        finally:
            await api.close()
        assert stats.errors == 0, stats.last_error
        clicks = upcoming.clicks
        assert stats.upcoming_clicks == len(clicks) and stats.upcoming_entered == len(clicks) // 2
        room = room_id(config.room)

        funnel = (await ls.http.get(f"/api/v1/rooms/{room}/funnel")).json()
        assert (funnel["clicked"], funnel["entered"]) == (len(clicks), len(clicks) // 2)
        reminders = (await ls.http.get(f"/api/v1/rooms/{room}/reminders")).json()["reminders"]
        assert sorted((r["visitor"], r["leader"], r["state"]) for r in reminders) == sorted(
            (c.visitor, c.leader, "queued") for c in clicks)
        main = (await ls.http.get(f"/api/v1/rooms/{config.room}/funnel")).json()
        assert main["clicked"] == 0  # the live room's figures are its own
