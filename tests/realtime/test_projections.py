"""The read models (issue #4, "Projections"): what each screen shows, folded from committed events.

The first tests fold events built by the domain's own classes (`domain.events.to_record`, exactly what the writer
puts in the outbox) with no database at all; the others drive the real app over HTTP and follow its commits, as
the Follower does, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from seed import GUANGZHOU_BUYER, START, order_body, seed_catalog, share_code

from domain.events import (
    CommissionMoved,
    Event,
    OrderAccepted,
    ParcelStateChanged,
    ShipmentPlanned,
    StockChanged,
    to_record,
)
from realtime.projections import Projections

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def frozen() -> datetime:
    return NOW


def accepted(
    order: str, leader: str | None, total: int, *, room: str = "r1", at: datetime = NOW
) -> OrderAccepted:
    return OrderAccepted(
        at=at,
        order=order,
        room=room,
        leader=leader,
        assists=(),
        buyer_masked="张*",
        province="广东",
        city="广州",
        delivery="express",
        items=(("tea", 1),),
        total_cents=total,
        status="accepted",
    )


def fold(views: Projections, *events: Event, start: int = 1) -> set[str]:
    dirty: set[str] = set()
    for seq, event in enumerate(events, start=start):
        dirty |= views.apply(seq, to_record(event))
    return dirty


# --- folding, no database -------------------------------------------------------------------------------------


def test_an_event_applied_twice_or_after_a_later_one_changes_nothing() -> None:
    views = Projections(frozen)
    fold(views, accepted("o-1", "lead-a", 12_800), accepted("o-2", "lead-a", 5_990))
    before = views.snapshot("room:r1:board")

    # At-least-once delivery: the bus may hand the same envelope again, or an old one late.
    assert views.apply(2, to_record(accepted("o-2", "lead-a", 5_990))) == set()
    assert views.apply(1, to_record(accepted("o-1", "lead-a", 12_800))) == set()

    assert views.snapshot("room:r1:board") == before
    assert before is not None and before["entries"][0]["gmv_cents"] == 18_790
    assert views.applied == 2


def test_an_unknown_kind_is_skipped_but_counts_as_applied() -> None:
    views = Projections(frozen)
    assert views.apply(7, {"kind": "invented_later", "at": NOW.isoformat()}) == set()
    assert views.applied == 7  # so the Follower does not ask for it again
    assert views.apply(8, to_record(accepted("o-1", "lead-a", 100))) == {
        "room:r1:board",
        "room:r1:stock",
        "room:r1:feed",
        "leader:lead-a",
        "ops",
    }


def test_a_leader_who_overtakes_others_redraws_only_the_leaders_whose_rank_or_gap_changed() -> None:
    views = Projections(frozen)
    fold(
        views,
        accepted("o-1", "lead-a", 30_000),
        accepted("o-2", "lead-b", 20_000),
        accepted("o-3", "lead-c", 10_000),
        accepted("o-4", "lead-d", 5_000),
    )
    # lead-d jumps from fourth to second: lead-b and lead-c move down one, lead-a keeps first place but is now
    # ahead of lead-d rather than lead-b.
    dirty = views.apply(5, to_record(accepted("o-5", "lead-d", 16_000)))

    assert {t for t in dirty if t.startswith("leader:")} == {
        "leader:lead-a",
        "leader:lead-b",
        "leader:lead-c",
        "leader:lead-d",
    }
    board = views.snapshot("room:r1:board")
    assert board is not None
    assert [(e["rank"], e["leader"], e["gmv_cents"]) for e in board["entries"]] == [
        (1, "lead-a", 30_000),
        (2, "lead-d", 21_000),
        (3, "lead-b", 20_000),
        (4, "lead-c", 10_000),
    ]
    own = views.snapshot("leader:lead-c")
    assert own is not None and own["rooms"][0]["rank"] == 4 and own["rooms"][0]["leaders"] == 4


def gap(views: Projections, leader: str) -> dict[str, Any] | None:
    own = views.snapshot(f"leader:{leader}")
    assert own is not None
    return own["rooms"][0]["gap"]


def test_a_leaders_gap_is_to_the_next_place_up_or_on_top_to_the_second() -> None:
    views = Projections(frozen)
    fold(
        views,
        accepted("o-1", "lead-a", 30_000),
        accepted("o-2", "lead-b", 20_000),
        accepted("o-3", "lead-c", 10_000),
    )
    assert gap(views, "lead-a") == {"leader": "lead-b", "name": "lead-b", "cents": 10_000, "ahead": True}
    assert gap(views, "lead-c") == {"leader": "lead-b", "name": "lead-b", "cents": 10_000, "ahead": False}

    # lead-b sells more without passing anyone: lead-a (ahead of it) and lead-c (behind it) see a new gap.
    dirty = views.apply(4, to_record(accepted("o-4", "lead-b", 5_000)))
    assert {t for t in dirty if t.startswith("leader:")} == {
        "leader:lead-a",
        "leader:lead-b",
        "leader:lead-c",
    }
    assert gap(views, "lead-a")["cents"] == 5_000 and gap(views, "lead-c")["cents"] == 15_000

    fold(views, accepted("o-5", "lead-c", 15_000), start=5)  # level with lead-b: no gap to show
    assert gap(views, "lead-c") is None


def test_a_leader_off_the_top_of_the_board_has_no_gap_shown() -> None:
    views = Projections(frozen)
    fold(views, *(accepted(f"o-{n}", f"lead-{n:02d}", 10_000 - n) for n in range(22)))
    assert gap(views, "lead-19") == {"leader": "lead-18", "name": "lead-18", "cents": 1, "ahead": False}
    assert gap(views, "lead-20") is None  # 21st: the board frame shows the top 20 only


def test_a_room_that_stopped_selling_has_its_sparkline_redrawn_once_each_minute() -> None:
    now = [NOW]
    views = Projections(lambda: now[0])
    fold(views, StockChanged(at=NOW, room="r1", sku="tea", warehouse="SH", on_hand=5, reserved=5, sold=5))
    assert "r1" in views.m.stock.clock_rooms(now[0])
    now[0] = NOW + timedelta(
        minutes=10, seconds=1
    )  # long out of the sell-rate window, still on the sparkline
    assert "r1" in views.m.stock.clock_rooms(now[0])  # the minute turned
    assert "r1" not in views.m.stock.clock_rooms(now[0] + timedelta(seconds=1))  # not again within the minute
    now[0] = NOW + timedelta(minutes=30)  # the sale's minute leaves the sparkline: one last redraw
    assert "r1" in views.m.stock.clock_rooms(now[0])
    now[0] = NOW + timedelta(minutes=31)
    assert "r1" not in views.m.stock.clock_rooms(now[0])


def test_ranks_tie_on_gmv_by_leader_id_like_the_rest_leaderboard() -> None:
    views = Projections(frozen)
    fold(views, accepted("o-1", "lead-b", 1_000), accepted("o-2", "lead-a", 1_000))
    board = views.snapshot("room:r1:board")
    assert board is not None
    assert [e["leader"] for e in board["entries"]] == ["lead-a", "lead-b"]


def test_feed_since_gives_exactly_the_missed_items_or_none_once_the_buffer_no_longer_reaches() -> None:
    views = Projections(frozen, feed_capacity=3)
    fold(views, *(accepted(f"o-{i}", None, 100 * i) for i in range(1, 4)))
    assert [i["order"] for i in views.feed_since("room:r1:feed", 1) or []] == ["o-2", "o-3"]
    assert views.feed_since("room:r1:feed", 3) == []  # up to date: nothing missed
    assert views.feed_seq("room:r1:feed") == 3

    fold(views, accepted("o-4", None, 400), start=4)  # o-1 falls out of the three-item buffer

    assert views.feed_since("room:r1:feed", 0) is None  # o-1 is gone: the client needs a snapshot
    assert [i["order"] for i in views.feed_since("room:r1:feed", 1) or []] == ["o-2", "o-3", "o-4"]
    assert views.feed_since("ops", 0) is None  # not a feed topic


def test_feed_items_seq_is_the_outbox_seq_so_it_means_the_same_in_every_process() -> None:
    views = Projections(frozen)
    views.apply(41, to_record(accepted("o-1", None, 100)))
    views.apply(57, to_record(accepted("o-2", None, 200)))  # seqs between were other events
    assert [i["seq"] for i in views.feed_since("room:r1:feed", 0) or []] == [41, 57]
    assert [i["seq"] for i in views.feed_since("room:r1:feed", 41) or []] == [57]


def test_a_sale_that_empties_a_warehouse_raises_a_stock_alert_and_a_recount_does_not() -> None:
    views = Projections(frozen)
    fold(
        views,
        StockChanged(at=NOW, room="r1", sku="tea", warehouse="SH", on_hand=5, reserved=5, sold=5),
        StockChanged(at=NOW, room=None, sku="tea", warehouse="GZ", on_hand=0, reserved=0),
    )
    ops = views.snapshot("ops")
    assert [(e["kind"], e["sku"], e["warehouse"]) for e in ops["exceptions"]] == [
        ("stock_sold_out", "tea", "SH")
    ]


def test_commission_moves_add_up_per_leader_and_state_and_to_the_liability() -> None:
    views = Projections(frozen)

    def moved(leader: str, source: str | None, target: str, cents: int) -> CommissionMoved:
        reason = {"pending": "paid", "frozen": "signed", "settled": "window_closed", "reversed": "refunded"}[
            target
        ]
        return CommissionMoved(
            at=NOW,
            order="o-1",
            room="r1",
            leader=leader,
            role="leader",
            source=source,
            target=target,
            amount_cents=cents,
            reason=reason,
        )

    fold(
        views,
        moved("lead-a", None, "pending", 1_000),
        moved("lead-a", "pending", "frozen", 1_000),
        moved("lead-a", "frozen", "settled", 600),
        moved("lead-a", "frozen", "reversed", 400),
        moved("lead-b", None, "pending", 250),
    )
    own = views.snapshot("leader:lead-a")
    assert own is not None
    assert own["commission"] == {
        "pending_cents": 0,
        "frozen_cents": 0,
        "settled_cents": 600,
        "reversed_cents": 400,
    }
    money = views.snapshot("ops")["commission"]
    assert money["liability_cents"] == 250  # pending + frozen, every leader


def test_a_parcel_leaves_the_backlog_on_its_first_move_and_counts_its_outbound_latency() -> None:
    views = Projections(frozen)
    planned = ShipmentPlanned(
        at=NOW,
        shipment="o-1-1",
        order="o-1",
        room="r1",
        leader="lead-a",
        warehouse="SH",
        carrier="SF",
        waybill="SF1",
        items=(("tea", 1),),
    )
    fold(views, accepted("o-1", "lead-a", 100), planned)
    ops = views.snapshot("ops")
    assert [(w["warehouse"], w["backlog"]) for w in ops["warehouses"]] == [("SH", 1)]

    collected = ParcelStateChanged(
        at=NOW + timedelta(minutes=90),
        shipment="o-1-1",
        order="o-1",
        room="r1",
        leader="lead-a",
        carrier="SF",
        waybill="SF1",
        state="collected",
        previous="created",
    )
    fold(views, collected, start=3)

    ops = views.snapshot("ops")
    assert [(w["backlog"], w["outbound_latency_s"], w["shipped_sample"]) for w in ops["warehouses"]] == [
        (0, 5_400.0, 1)
    ]
    assert ops["funnel"]["created"] == 0 and ops["funnel"]["collected"] == 1
    keys = ("carrier", "parcels", "share_bp", "problem", "returned", "stuck", "used_today", "daily_capacity")
    assert [{k: c[k] for k in keys} for c in ops["carriers"]] == [
        {"carrier": "SF", "parcels": 1, "share_bp": 10_000, "problem": 0, "returned": 0, "stuck": 0,
         "used_today": 1, "daily_capacity": None}
    ]
    mine = views.snapshot("leader:lead-a")
    assert mine is not None and mine["orders"][0]["parcels"][0]["state"] == "collected"


def test_the_ops_series_counts_orders_per_minute_for_the_last_hour_by_the_clock() -> None:
    now = [NOW]
    views = Projections(lambda: now[0])
    fold(
        views,
        accepted("o-1", None, 1_000, at=NOW - timedelta(seconds=30)),
        accepted("o-2", None, 2_000, at=NOW - timedelta(minutes=59, seconds=50)),
        accepted("o-3", None, 4_000, at=NOW - timedelta(minutes=61)),  # older than the chart
    )
    series = views.snapshot("ops")["series"]
    assert len(series) == 60
    assert series[-1] == {"minute": "2026-11-23T12:00:00+00:00", "orders": 0, "gmv_cents": 0}
    assert series[-2] == {"minute": "2026-11-23T11:59:00+00:00", "orders": 1, "gmv_cents": 1_000}
    assert series[0] == {"minute": "2026-11-23T11:01:00+00:00", "orders": 0, "gmv_cents": 0}
    assert sum(p["orders"] for p in series) == 1  # o-2 fell in 11:00, just outside; o-3 long gone

    now[0] = NOW + timedelta(hours=2)
    assert sum(p["orders"] for p in views.snapshot("ops")["series"]) == 0


# --- against the real app ---------------------------------------------------------------------------------------


async def test_sell_rate_minutes_to_sellout_and_alert_level_follow_sales_and_the_clock(
    recorded_app: Any,
) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    # Mango: 50 units in Guangzhou. 40 sold now: 8 units a minute over the 5-minute window, 10 left.
    for i in range(4):
        placed = await app.post("/api/v1/orders", order_body(f"m-{i}", f"v-{i}", [("mango", 10)]))
        assert placed.status_code == 201, placed.text
    await app.follow(views)

    mango = row_of(views, "mango")
    assert (mango["available"], mango["rate_per_min"], mango["minutes_to_sellout"]) == (10, 8.0, 1.2)
    assert mango["level"] == "critical" and mango["replenish"] is True

    app.clock.advance(minutes=5)  # the sales leave the window: nothing is selling, 10 left is merely low
    mango = row_of(views, "mango")
    assert (mango["rate_per_min"], mango["minutes_to_sellout"], mango["level"]) == (0.0, None, "low")
    assert "room:room-1:stock" in views.clock_topics()  # the minute turned: the sparkline moves on, once
    assert "room:room-1:stock" not in views.clock_topics()  # not selling: not redrawn again within the minute


def row_of(views: Projections, sku: str) -> dict[str, Any]:
    board = views.snapshot("room:room-1:stock")
    assert board is not None
    return next(row for row in board["skus"] if row["sku"] == sku)


async def test_only_the_leaders_own_view_carries_a_held_buyers_phone_and_address(recorded_app: Any) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    code = await share_code(app, "lead-b")
    buyer = {**GUANGZHOU_BUYER, "phone": "12345"}
    placed = await app.post(
        "/api/v1/orders", order_body("o-held", "v-1", [("tea", 1)], code=code, buyer=buyer)
    )
    assert placed.status_code == 201 and placed.json()["status"] == "held", placed.text

    dirty = await app.follow(views)

    assert "leader:lead-b" in dirty
    held = views.snapshot("leader:lead-b")["held"]
    assert held[0]["buyer"] == buyer and held[0]["flags"] == ["phone_not_mobile"]
    assert views.snapshot("leader:lead-a")["held"] == []
    for public in ("room:room-1:feed", "room:room-1:board", "room:room-1:stock", "ops"):
        shown = str(views.snapshot(public))
        assert "12345" not in shown and buyer["address"] not in shown and buyer["name"] not in shown, public
    assert views.snapshot("room:room-1:feed")["items"][0]["buyer"] == "张*"

    fixed = await app.post("/api/v1/orders/o-held/verify", {"phone": "13712345678"})
    assert fixed.status_code == 200, fixed.text
    await app.follow(views)
    assert views.snapshot("leader:lead-b")["held"] == []
    assert views.snapshot("leader:lead-b")["orders"][0]["status"] == "accepted"


async def test_the_order_page_loads_on_demand_and_follows_its_parcel(recorded_app: Any) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    placed = await app.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)]))
    assert placed.status_code == 201, placed.text
    await app.follow(views)
    assert views.snapshot("order:o-1") is None  # nobody asked for it yet

    assert await views.ensure_order(app.engine, "o-1")
    assert not await views.ensure_order(app.engine, "no-such-order")
    page = views.snapshot("order:o-1")
    assert page is not None and page["shipments"][0]["state"] == "created" and page["timeline"] == []
    assert "buyer" not in page and GUANGZHOU_BUYER["phone"] not in str(page)

    parcel = placed.json()["shipments"][0]
    for state, hours, station in (
        ("collected", 1, "【广州仓】已揽收"),
        ("in_transit", 3, "【广州转运中心】已发出"),
    ):
        app.clock.set(START + timedelta(hours=hours))  # reported as it happens
        pushed = await app.post(
            "/api/v1/tracking",
            {
                "carrier": parcel["carrier"],
                "waybill": parcel["waybill"],
                "state": state,
                "at": (START + timedelta(hours=hours)).isoformat(),
                "station": station,
            },
        )
        assert pushed.status_code == 200, pushed.text
    dirty = await app.follow(views)

    assert "order:o-1" in dirty
    page = views.snapshot("order:o-1")
    assert page is not None and page["shipments"][0]["state"] == "in_transit"
    assert [line["station"] for line in page["timeline"]] == [
        "【广州转运中心】已发出",
        "【广州仓】已揽收",
    ]  # newest first


async def test_the_order_page_keeps_one_line_per_time_with_the_newest_text_live_and_after_a_rebuild(
    recorded_app: Any,
) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    placed = await app.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)]))
    assert placed.status_code == 201, placed.text
    parcel = placed.json()["shipments"][0]
    assert await views.ensure_order(app.engine, "o-1")
    app.clock.set(START + timedelta(hours=6))  # the carrier reports after the fact

    async def report(state: str, hours: int, station: str) -> None:
        body = {
            "carrier": parcel["carrier"],
            "waybill": parcel["waybill"],
            "state": state,
            "at": (START + timedelta(hours=hours)).isoformat(),
            "station": station,
        }
        pushed = await app.post("/api/v1/tracking", body)
        assert pushed.status_code == 200, pushed.text

    await report("collected", 1, "广州仓 揽收")
    await report("in_transit", 3, "转运中心 发出")
    await app.follow(views)
    # The carrier corrects both lines' text: the same times, the same states.
    await report("collected", 1, "【广州仓】已揽收")
    await report("in_transit", 3, "【广州转运中心】已发出")
    assert "order:o-1" in await app.follow(views)
    expected = ["【广州转运中心】已发出", "【广州仓】已揽收"]  # newest first, each time once
    assert [line["station"] for line in views.snapshot("order:o-1")["timeline"]] == expected

    rebuilt = Projections(app.clock)  # a process started now reads the order from the database
    await rebuilt.load(app.engine)
    assert await rebuilt.ensure_order(app.engine, "o-1")
    assert rebuilt.snapshot("order:o-1")["timeline"] == views.snapshot("order:o-1")["timeline"]


async def test_a_cancel_takes_the_order_out_of_gmv_backlog_funnel_and_carrier_share(
    recorded_app: Any,
) -> None:
    app = recorded_app
    views = Projections(app.clock)
    await views.load(app.engine)
    await seed_catalog(app)
    code = await share_code(app, "lead-a")
    for order in ("o-1", "o-2"):
        placed = await app.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)], code=code))
        assert placed.status_code == 201, placed.text
    await app.follow(views)
    assert views.snapshot("ops")["funnel"]["created"] == 2

    cancelled = await app.post("/api/v1/orders/o-2/cancel")
    assert cancelled.status_code == 200, cancelled.text
    await app.follow(views)

    board = views.snapshot("room:room-1:board")
    assert [(e["leader"], e["gmv_cents"], e["orders"]) for e in board["entries"]] == [("lead-a", 12_800, 1)]
    ops = views.snapshot("ops")
    assert ops["funnel"]["created"] == 1 and sum(w["backlog"] for w in ops["warehouses"]) == 1
    assert [c["parcels"] for c in ops["carriers"]] == [1]
    assert (ops["totals"]["orders"], ops["totals"]["gmv_cents"]) == (1, 12_800)
    assert ops["series"][-1]["orders"] == 2  # the chart is a flow: both orders were placed this minute
    mine = views.snapshot("leader:lead-a")
    assert {o["order"]: (o["status"], o["parcels"][0]["state"]) for o in mine["orders"]} == {
        "o-1": ("accepted", "created"),
        "o-2": ("cancelled", "cancelled"),
    }
    assert mine["commission"]["pending_cents"] > 0 and mine["commission"]["reversed_cents"] > 0


async def test_loads_racing_a_burst_of_orders_neither_miss_nor_count_any_twice(recorded_app: Any) -> None:
    app = recorded_app
    await seed_catalog(app)
    code = await share_code(app, "lead-a")
    await app.follow()  # what came before is in every snapshot below

    async def burst() -> None:
        for wave in range(10):  # waves of concurrent orders: the writer commits them in batches
            bodies = [
                order_body(f"b-{wave}-{i}", f"v-{wave}-{i}", [("tea", 1)], code=code) for i in range(10)
            ]
            answers = await asyncio.gather(*(app.post("/api/v1/orders", body) for body in bodies))
            assert all(a.status_code == 201 for a in answers)

    async def loads() -> list[Projections]:
        loaded = []
        for _ in range(6):
            views = Projections(app.clock)
            await views.load(app.engine)
            loaded.append(views)
        return loaded

    _, racing = await asyncio.gather(burst(), loads())
    # Each snapshot must reflect exactly the events up to its `applied`: folding the later ones lands on the truth.
    await app.follow(*racing)
    settled = Projections(app.clock)
    await settled.load(app.engine)

    board = settled.snapshot("room:room-1:board")
    assert board is not None and board["entries"][0]["orders"] == 100
    for views in racing:
        assert views.applied == settled.applied
        for topic in ("room:room-1:board", "room:room-1:stock", "leader:lead-a", "ops"):
            assert views.snapshot(topic) == settled.snapshot(topic), topic


async def test_reloading_a_live_instance_loses_no_event_applied_while_it_reads(recorded_app: Any) -> None:
    app = recorded_app
    await seed_catalog(app)
    code = await share_code(app, "lead-a")
    views = Projections(app.clock)
    await views.load(app.engine)
    await app.follow()  # all of that is in the snapshot
    done = asyncio.Event()

    async def burst() -> None:
        for wave in range(10):
            bodies = [
                order_body(f"b-{wave}-{i}", f"v-{wave}-{i}", [("tea", 1)], code=code) for i in range(10)
            ]
            answers = await asyncio.gather(*(app.post("/api/v1/orders", body) for body in bodies))
            assert all(a.status_code == 201 for a in answers)
        done.set()

    async def follow() -> None:  # as the Follower does: apply what commits, as it commits
        while not done.is_set():
            await app.follow(views)
            await asyncio.sleep(0)

    async def reload() -> None:
        while not done.is_set():
            await views.load(app.engine)

    await asyncio.gather(burst(), follow(), reload())
    await app.follow(views)

    fresh = Projections(app.clock)
    await fresh.load(app.engine)
    assert views.applied == fresh.applied
    for topic in fresh.topics():
        assert views.snapshot(topic) == fresh.snapshot(topic), topic
    assert views.snapshot("room:room-1:board")["entries"][0]["orders"] == 100
