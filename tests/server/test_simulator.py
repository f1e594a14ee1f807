"""`liveroom simulate` (issue #6): a small live session played against a real server over HTTP, then checked
through the API; and the session plan itself (deterministic, power-law leaders, buyers screening accepts)."""

from __future__ import annotations

import argparse
import collections
import io
import random
from typing import Any

import pytest
from live import live_server
from rich.console import Console
from seed import API_KEY, KDNIAO_APPKEY, KUAIDI100_SALT

from domain import screening
from liveroom import cli_simulate
from simulator import Session, SimConfig, busiest_leader
from simulator.carriers import CODES, Stage
from simulator.catalog import OUTAGE_WAREHOUSE, SCARCE, SKUS, WAREHOUSES, plan_catalog
from simulator.people import PLACES, buyer_in, flawed
from simulator.plan import OrderPlanner, Rhythm

LEADERS, ORDERS = 40, 150


def planner(seed: int, leaders: int = LEADERS, orders: int = ORDERS) -> OrderPlanner:
    catalog = plan_catalog(random.Random(f"{seed}:catalog"), "live-1", leaders, orders)
    catalog.codes = {leader.leader: f"code-{leader.leader}" for leader in catalog.leaders}
    return OrderPlanner(catalog, Rhythm.for_session(orders, 10.0), seed, "t")


# --- the plan, without a server ----------------------------------------------------------------------------


def test_same_seed_plays_the_same_session_and_another_seed_another() -> None:
    first = [planner(11).next() for _ in range(200)]
    again = [planner(11).next() for _ in range(200)]
    other = [planner(12).next() for _ in range(200)]
    assert first == again
    assert [o.body("live-1") for o in first] != [o.body("live-1") for o in other]


def test_a_few_leaders_bring_most_of_the_orders() -> None:
    plan = planner(5, leaders=300, orders=3000)
    orders = collections.Counter(plan.next().leader for _ in range(3000))
    top_tenth = sum(n for _, n in orders.most_common(30))
    assert top_tenth > 0.6 * 3000
    assert len(orders) > 100  # the long tail still sells


def test_pitches_multiply_the_order_rate_by_ten() -> None:
    rhythm = Rhythm(rate=2.0, cycle=40.0, pulse=10.0)
    rng = random.Random(3)
    t, calm, pulse = 0.0, 0, 0
    while t < 4000:
        t = rhythm.next_arrival(t, rng)
        if rhythm.pulse_at(t) is None:
            calm += 1
        else:
            pulse += 1
    # 30 s calm at 2/s against 10 s pitched at 20/s per cycle: 600 / 200 = 3.3 times the orders in pitches
    assert 2.8 < pulse / calm < 3.9


def test_buyers_are_written_as_buyers_write_and_pass_screening_unless_flawed() -> None:
    rng = random.Random(8)
    provinces = set()
    for place in PLACES:
        for _ in range(20):
            buyer = buyer_in(rng, place)
            provinces.add(place.province)
            assert screening.check(screening.Address(**buyer.body())) == (), buyer
            broken, flaw = flawed(rng, buyer)
            assert screening.check(screening.Address(**broken.body())), broken
            fixed = broken.body() | {flaw.field: flaw.fix}
            assert screening.check(screening.Address(**fixed)) == (), fixed
    assert len(provinces) >= 25


def test_about_three_in_a_hundred_orders_need_verification() -> None:
    plan = planner(9, orders=4000)
    held = sum(plan.next().flaw is not None for _ in range(4000))
    assert 0.02 * 4000 < held < 0.045 * 4000


def test_carrier_codes_mean_what_the_server_maps_them_to() -> None:
    from domain import carrier_codes

    for stage, (state, state_ex, kuaidi100, normalized, meaning) in CODES.items():
        assert str(carrier_codes.from_kdniao(state, state_ex)) == meaning, stage
        assert str(carrier_codes.from_kuaidi100(kuaidi100)) == meaning, stage
        assert normalized == meaning or (stage is Stage.REFUSED and normalized == "returned")


def test_the_cli_reads_flags_and_the_environment() -> None:
    parser = argparse.ArgumentParser()
    cli_simulate.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(
        ["simulate", "--url", "http://127.0.0.1:9/", "--leaders", "12", "--orders", "30", "--rate", "2.5",
         "--speed", "600", "--seed", "4", "--run", "r1"]
    )  # fmt: skip
    env = {"LIVEROOM_API_KEY": "k", "LIVEROOM_KDNIAO_APPKEY": "a", "LIVEROOM_KUAIDI100_SALT": "s"}
    config = cli_simulate.config_from(args, None, env)
    assert (config.url, config.leaders, config.orders, config.rate, config.speed) == (
        "http://127.0.0.1:9",
        12,
        30,
        2.5,
        600.0,
    )
    assert (config.api_key, config.kdniao_appkey, config.kuaidi100_salt, config.run) == ("k", "a", "s", "r1")
    assert args.run is cli_simulate.cmd_simulate
    with pytest.raises(SystemExit):
        parser.parse_args(["simulate", "--orders", "0"])


# --- a session against a real server ---------------------------------------------------------------------


async def orders_of(http: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    views = {}
    for order in ids:
        response = await http.get(f"/api/v1/orders/{order}")
        if response.status_code == 200:
            views[order] = response.json()
    return views


async def test_a_simulated_session_fills_the_room_end_to_end(tmp_path: Any) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'liveroom.db'}"
    async with live_server(database_url) as ls:  # its Kdniao appkey and Kuaidi100 salt are the seed's
        config = SimConfig(
            url=ls.url,
            api_key=API_KEY,
            kdniao_appkey=KDNIAO_APPKEY,
            kuaidi100_salt=KUAIDI100_SALT,
            leaders=LEADERS,
            orders=ORDERS,
            rate=10.0,
            speed=1800.0,
            seed=7,
            run="t1",
            drain=25.0,
        )
        out = io.StringIO()
        summary = await Session(config, Console(file=out, width=140, force_terminal=True)).run()
        http = ls.http

        assert summary.ended == "orders", summary
        assert summary.stats["errors"] == 0, summary.stats["last_error"]
        assert "session summary" in out.getvalue()

        # the catalog: five warehouses, a dozen SKUs, the room
        warehouses = set()
        for sku in SKUS:
            stock = await http.get(f"/api/v1/skus/{sku.sku}/stock")
            assert stock.status_code == 200, stock.text
            warehouses |= {w["warehouse"] for w in stock.json()["warehouses"]}
            if sku.sku == SCARCE:
                assert stock.json()["available"] == 0  # sold out on air
        assert warehouses == {w.code for w in WAREHOUSES}
        assert len(SKUS) == 12

        # orders accepted and attributed, a few leaders bring most of them
        board = (await http.get(f"/api/v1/rooms/{config.room}/leaderboard?by=orders&limit=500")).json()
        counts = sorted((e["orders"] for e in board["entries"]), reverse=True)
        assert board["entries"][0]["leader"] == busiest_leader(config.seed, LEADERS)
        assert sum(counts) >= 0.7 * ORDERS
        assert sum(counts[: LEADERS // 10]) > 0.5 * sum(counts)
        assert summary.stats["sold_out"] > 0
        views = await orders_of(http, summary.orders)
        placed = [v for v in views.values() if v["status"] in ("accepted", "held")]
        assert len(placed) >= 0.7 * ORDERS
        assert all(v["leader"] for v in placed)

        # held orders, some verified by their leader
        assert summary.held and summary.verified
        assert all(views[o]["status"] == "accepted" for o in summary.verified)
        assert any(views[o]["status"] == "held" for o in summary.held) or len(summary.verified) == len(
            summary.held
        )

        # parcels moved past collected, some signed; one returned or a refund reversed commission
        states = collections.Counter(s["state"] for v in placed for s in v["shipments"])
        assert (
            states["signed"] > 0 and states["in_transit"] + states["out_for_delivery"] + states["signed"] > 0
        )
        reversed_cents = 0
        for leader in {v["leader"] for v in placed}:
            reversed_cents += (await http.get(f"/api/v1/leaders/{leader}/commission")).json()[
                "reversed_cents"
            ]
        assert states["returned"] > 0 or reversed_cents > 0
        assert reversed_cents > 0
        assert summary.stats["pushes"].get("kdniao") and summary.stats["pushes"].get("kuaidi100")

        # the outage happened and is over
        assert summary.outages == [(OUTAGE_WAREHOUSE, "down"), (OUTAGE_WAREHOUSE, "up")]
        stock = (await http.get("/api/v1/skus/navel-orange/stock")).json()
        assert {w["warehouse"]: w["active"] for w in stock["warehouses"]}[OUTAGE_WAREHOUSE] is True


async def test_a_wrong_key_ends_the_session_with_the_reason_and_nothing_played(tmp_path: Any) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'liveroom.db'}") as ls:
        config = SimConfig(url=ls.url, api_key="not-the-key", leaders=5, orders=5, run="bad")
        out = io.StringIO()
        summary = await Session(config, Console(file=out, width=200), live=False).run()
    assert summary.ended == "catalog refused"
    assert summary.orders == [] and "the API key is not valid" in summary.stats["last_error"]
    assert "session summary" in out.getvalue()


async def test_no_server_at_the_url_ends_the_session_quickly() -> None:
    config = SimConfig(url="http://127.0.0.1:9", api_key="k", orders=5, wait=0.5, run="none")
    summary = await Session(config, Console(file=io.StringIO()), live=False).run()
    assert summary.ended == "server unreachable" and summary.orders == []
