"""Restart equivalence (issue #4): "On start each [read model] loads from the database at a known outbox sequence
and then applies later events: a restarted process shows the same numbers as one that never stopped."

A live session is driven through the HTTP API of the real app. Three sets of read models watch it: one fed every
committed event from the very start, one loaded from the database halfway and fed from there, and one loaded only
at the end. Every topic of all three must match field by field (the clock is frozen, so even the sell rates and
the ops series must agree), and the figures must be the ones the database answers through the REST API.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta, timezone
from typing import Any

from seed import GUANGZHOU_BUYER, START, order_body, seed_catalog, share_code

from domain.events import (
    CatalogChanged,
    Event,
    LeaderRecruited,
    OrderAccepted,
    OrderHeld,
    PointsEarned,
    ProspectNoted,
    QuestionAnswered,
    QuestionAsked,
    ReminderChanged,
    TaskProgressed,
    VisitorEntered,
    VisitorWatching,
    to_record,
)
from realtime.projections import Projections
from store import models
from store.engine import create_engine
from store.migrate import upgrade

SHANGHAI_BUYER = {
    "name": "欧阳娜娜",
    "phone": "13900139000",
    "province": "上海",
    "city": "上海市",
    "district": "浦东新区",
    "address": "世纪大道100号环球金融中心",
}
UNREACHABLE_BUYER = {**GUANGZHOU_BUYER, "name": "李四", "phone": "12345"}  # not a mobile number: held
BEIJING_TIME = timezone(timedelta(hours=8))
ORDER_PAGES = ("o-1", "o-2", "o-3", "o-4", "o-5", "o-8")  # buyers who opened their tracking page


async def ok(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200, 201)), response.text
    return dict(response.json())


async def place(app: Any, body: dict[str, Any]) -> dict[str, Any]:
    return await ok(await app.post("/api/v1/orders", body), 201)


async def track(app: Any, answer: dict[str, Any], state: str, hours: float, station: str = "") -> None:
    parcel = answer["shipments"][0]
    app.clock.set(max(app.clock(), START + timedelta(hours=hours)))  # reported once it has happened
    body = {
        "carrier": parcel["carrier"],
        "waybill": parcel["waybill"],
        "state": state,
        "at": (START + timedelta(hours=hours)).isoformat(),
        "station": station,
    }
    await ok(await app.post("/api/v1/tracking", body), 200)


async def run_first_half(app: Any) -> dict[str, dict[str, Any]]:
    """Catalog, links, visits and a mix of orders: bound, assisted, pickup, held, presale, walk-in, cancelled."""
    await seed_catalog(app)
    codes = {leader: await share_code(app, leader) for leader in ("lead-a", "lead-b", "lead-c")}
    for visitor, leader in (("v-1", "lead-a"), ("v-2", "lead-a"), ("v-3", "lead-b"), ("v-4", "lead-c")):
        await ok(await app.post("/api/v1/visits", {"visitor": visitor, "code": codes[leader]}), 200)
    answers = {
        "o-1": await place(app, order_body("o-1", "v-1", [("tea", 2)], code=codes["lead-a"])),
        "o-2": await place(app, order_body("o-2", "v-2", [("mango", 3), ("tea", 1)])),
        "o-3": await place(app, order_body("o-3", "v-3", [("tea", 1)], buyer=SHANGHAI_BUYER)),
        "o-4": await place(app, order_body("o-4", "v-4", [("tea", 1)], delivery="pickup")),
        "o-5": await place(
            app, order_body("o-5", "v-5", [("mango", 1)], code=codes["lead-b"], buyer=UNREACHABLE_BUYER)
        ),
        # The last five serum (a stock alert: sold out), then more than there is: the SKU takes presale orders,
        # so the whole line waits for replenishment.
        "o-9": await place(app, order_body("o-9", "v-2", [("serum", 5)], buyer=SHANGHAI_BUYER)),
        "o-6": await place(app, order_body("o-6", "v-1", [("serum", 6)])),
        # Mango ends up below its low-stock mark of 20 in Guangzhou (with o-7: 19 left).
        "o-10": await place(app, order_body("o-10", "v-4", [("mango", 25)], code=codes["lead-c"])),
        # A walk-in buyer with no leader, ordering on a phone set to Beijing time.
        "o-7": await place(
            app,
            order_body(
                "o-7",
                "walk-in",
                [("mango", 2)],
                at=(START - timedelta(minutes=1)).astimezone(BEIJING_TIME).isoformat(),
            ),
        ),
        "o-8": await place(app, order_body("o-8", "v-3", [("tea", 4)], buyer=SHANGHAI_BUYER)),
    }
    assert answers["o-5"]["status"] == "held" and answers["o-6"]["presale"] and not answers["o-9"]["presale"]
    assert answers["o-7"]["leader"] is None
    await growth_first_half(app, codes)
    # Delay notices: Guangdong (written as a buyer would) and the Shanghai warehouse.
    rain = {"notice": "n-rain", "text": "广东暴雨，顺延 1 天", "province": "广东"}
    await ok(await app.post("/api/v1/notices", rain), 201)
    await ok(await app.post("/api/v1/notices", {"notice": "n-sh", "text": "上海仓盘点", "warehouse": "SH"}), 201)
    return answers


async def emit(app: Any, *events: Event, task: dict[str, Any] | None = None) -> None:
    """Growth events committed as a growth service commits them (through the writer, with the outbox): this
    branch draws the screens; the services that emit these come with the API."""

    async def write(tx: Any) -> None:
        if task is not None:
            await tx.conn.execute(models.room_tasks.insert(), [{**task, "updated_at": tx.now}])
            tx.emit(CatalogChanged(at=tx.now, entity="task", key=task["room"]))
        tx.emit(*events)

    await app.ctx.writer.call(write)


def minutes(n: float) -> Any:
    return START + timedelta(minutes=n)


async def growth_first_half(app: Any, codes: dict[str, str]) -> None:
    """Prospects who never order, watch time, an invitation task half done, points, a question."""
    for visitor in ("v-20", "v-21"):
        await ok(await app.post("/api/v1/visits", {"visitor": visitor, "code": codes["lead-a"]}), 200)
    await ok(await app.post("/api/v1/visits", {"visitor": "v-30", "code": codes["lead-b"]}), 200)
    task = {"room": "room-1", "task": "t-invite", "title": "邀请 2 位好友看满 5 分钟", "goal": 2, "min_watch_s": 300,
            "reward_points": 50, "bonus_bp": 100}
    await emit(
        app,
        VisitorEntered(at=minutes(1), room="room-1", visitor="v-20", leader="lead-a"),
        VisitorEntered(at=minutes(1), room="room-1", visitor="v-1", leader="lead-a"),
        VisitorEntered(at=minutes(2), room="room-1", visitor="walk-in", leader=None),
        VisitorWatching(at=minutes(6), room="room-1", visitor="v-20", leader="lead-a", watched_s=300, watched=True),
        VisitorWatching(at=minutes(3), room="room-1", visitor="v-30", leader="lead-b", watched_s=120),
        PointsEarned(at=minutes(6), room="room-1", leader="lead-a", reason="invite", ref="v-20", points=10,
                     balance=10),
        TaskProgressed(at=minutes(6), room="room-1", task="t-invite", leader="lead-a", goal=2, invited=4,
                       watched=1, done=False),
        ProspectNoted(at=minutes(7), leader="lead-a", visitor="v-20", tags=("宝妈", "想要礼盒"), note="晚上联系"),
        QuestionAsked(at=minutes(8), room="room-1", question="q-1", leader="lead-a", leader_name="王团长",
                      text="龙井能试喝吗？", sku="tea"),
        QuestionAsked(at=minutes(9), room="room-1", question="q-2", leader="lead-b", leader_name="李店长",
                      text="芒果几天到？", sku="mango"),
        ReminderChanged(at=minutes(10), room="room-1", visitor="v-21", leader="lead-a", state="queued"),
        ReminderChanged(at=minutes(10), room="room-1", visitor="v-30", leader="lead-b", state="queued"),
        task=task,
    )


async def growth_second_half(app: Any) -> None:
    """The task completes, a visitor becomes a leader, the host answers, a prospect watches on."""
    await emit(
        app,
        VisitorWatching(at=minutes(12), room="room-1", visitor="v-21", leader="lead-a", watched_s=310, watched=True),
        TaskProgressed(at=minutes(12), room="room-1", task="t-invite", leader="lead-a", goal=2, invited=4,
                       watched=2, done=True),
        PointsEarned(at=minutes(12), room="room-1", leader="lead-a", reason="task", ref="t-invite", points=50,
                     balance=60),
        LeaderRecruited(at=minutes(13), room="room-1", leader="lead-new", name="新团长小周", upline="lead-a",
                        visitor="v-21"),
        QuestionAnswered(at=minutes(14), room="room-1", question="q-1", leader="lead-a"),
        TaskProgressed(at=minutes(15), room="room-1", task="t-invite", leader="lead-a", goal=2, invited=5,
                       watched=2, done=True),
        ProspectNoted(at=minutes(16), leader="lead-a", visitor="v-20", tags=("宝妈",), note="已加微信"),
        ReminderChanged(at=minutes(16), room="room-1", visitor="v-21", leader="lead-a", state="sent"),
        ReminderChanged(at=minutes(17), room="room-1", visitor="v-30", leader="lead-b", state="failed"),
    )


async def run_second_half(app: Any, answers: dict[str, dict[str, Any]]) -> None:
    """Parcels move and go wrong, an order is cancelled, one verified, one refunded; commission settles; a
    warehouse goes down; presale stock arrives."""
    await ok(await app.post("/api/v1/orders/o-8/cancel"), 200)
    await track(app, answers["o-1"], "collected", 1, "【广州仓】已揽收")
    await track(app, answers["o-1"], "in_transit", 5, "【广州转运中心】已发出")
    await track(app, answers["o-1"], "signed", 20, "已签收，本人签收")
    await track(app, answers["o-2"], "problem", 2, "地址不详，联系不上收件人")
    await track(app, answers["o-3"], "collected", 1)
    await track(app, answers["o-3"], "returned", 30, "拒收，退回")
    await track(app, answers["o-4"], "collected", 3)
    fixed = {"phone": "13712345678"}
    await ok(await app.post("/api/v1/orders/o-5/verify", fixed), 200)
    opened = await ok(
        await app.post(
            "/api/v1/orders/o-1/after-sales", {"kind": "refund", "amount_cents": 5_000, "reason": "少一盒"}
        ),
        201,
    )
    await ok(await app.post(f"/api/v1/after-sales/{opened['after_sale']}/resolve", {"approved": True}), 200)
    # A month on: o-1's commission settles, o-4's parcel has been silent since it was collected: stuck.
    settled = await ok(
        await app.post("/api/v1/admin/settle", {"as_of": (START + timedelta(days=30)).isoformat()})
    )
    assert settled["settled"] > 0
    await ok(await app.post("/api/v1/warehouses/GZ/status", {"active": False}), 200)
    await ok(await app.post("/api/v1/skus/serum/stock/SH/adjust", {"delta": 10, "reason": "补货"}), 200)
    await growth_second_half(app)
    await ok(await app.client.delete("/api/v1/notices/n-sh"), 200)
    await ok(await app.post("/api/v1/notices", {"notice": "n-room", "text": "全场延迟", "room": "room-1"}), 201)


def assert_same_views(expected: Projections, *others: Projections) -> None:
    """Every topic, field by field, and the feeds' buffers too."""
    topics = expected.topics()
    for other in others:
        assert other.applied == expected.applied
        assert other.topics() == topics
    for topic in topics:
        view = expected.snapshot(topic)
        assert view, topic
        for other in others:
            assert other.snapshot(topic) == view, topic
    for other in others:
        assert other.feed_since("room:room-1:feed", 0) == expected.feed_since("room:room-1:feed", 0)
        assert other.feed_seq("room:room-1:feed") == expected.feed_seq("room:room-1:feed") > 0


async def open_order_pages(views: Projections, engine: Any) -> None:
    for order in ORDER_PAGES:
        assert await views.ensure_order(engine, order)


async def test_a_restarted_process_shows_every_topic_exactly_as_one_that_never_stopped(
    recorded_app: Any,
) -> None:
    app = recorded_app
    never_stopped = Projections(app.clock)
    await never_stopped.load(app.engine)  # the empty database: from here on every event is folded in
    answers = await run_first_half(app)
    await app.follow(never_stopped)
    await open_order_pages(never_stopped, app.engine)

    halfway = Projections(app.clock)  # a process (re)started mid-session, that goes on following
    await halfway.load(app.engine)
    await open_order_pages(halfway, app.engine)
    assert halfway.applied > 0
    assert_same_views(never_stopped, halfway)
    held = never_stopped.snapshot("leader:lead-b")["held"]  # o-5: the leader sees the buyer to fix the phone
    assert [(h["order"], h["buyer"]["phone"], h["flags"]) for h in held] == [
        ("o-5", "12345", ["phone_not_mobile"])
    ]
    levels = {row["sku"]: row["level"] for row in never_stopped.snapshot("room:room-1:stock")["skus"]}
    assert levels == {"tea": "ok", "mango": "low", "serum": "presale"}  # 19 mango left; serum sold out

    await run_second_half(app, answers)
    await app.follow(never_stopped, halfway)
    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    await open_order_pages(restarted, app.engine)

    assert never_stopped.applied == app.committed[-1][0]
    assert_same_views(never_stopped, halfway, restarted)
    await the_figures_are_the_databases(app, restarted)
    the_growth_screens_show_the_session(restarted)
    await the_notices_are_the_databases(app, restarted)


def the_growth_screens_show_the_session(views: Projections) -> None:
    """What the growth events of both halves add up to, on a process that only loaded them."""
    growth = views.snapshot("leader:lead-a")["growth"]
    assert growth["points"] == 60
    [task] = growth["tasks"]
    assert (task["title"], task["goal"], task["invited"], task["watched"], task["done"]) == (
        "邀请 2 位好友看满 5 分钟", 2, 5, 2, True)
    assert [(r["leader"], r["name"]) for r in growth["recruits"]] == [("lead-new", "新团长小周")]
    # v-1 and v-2 ordered; v-20 and v-21 never did. lead-b's v-30 is lead-b's alone.
    prospects = {p["visitor"]: p for p in growth["prospects"]}
    assert sorted(prospects) == ["v-20", "v-21"]
    assert (prospects["v-20"]["tags"], prospects["v-20"]["note"], prospects["v-20"]["watched_s"]) == (
        ["宝妈"], "已加微信", 300)
    assert [p["visitor"] for p in views.snapshot("leader:lead-b")["growth"]["prospects"]] == ["v-30"]
    assert [(q["question"], q["answered"]) for q in growth["questions"]] == [("q-1", True)]
    [funnel] = growth["funnel"]
    assert {k: funnel[k] for k in ("entered", "watched", "became_leader")} == {
        "entered": 2, "watched": 2, "became_leader": 1}
    assert funnel["reminders"] == {"queued": 0, "sent": 1, "failed": 0}  # lead-b's failed one is not lead-a's

    queue = views.snapshot("room:room-1:questions")
    assert [(q["question"], q["leader_name"], q["answered"]) for q in queue["questions"]] == [
        ("q-1", "王团长", True), ("q-2", "李店长", False)]
    kinds = [i["kind"] for i in views.snapshot("room:room-1:feed")["items"]]
    assert kinds.count("recruit") == 1 and kinds.count("task_done") == 1  # the second "done" report is no news
    ops = views.snapshot("ops")["growth"]
    [room] = ops["rooms"]
    assert room["entered"] == 3 and room["became_leader"] == 1 and room["ordered"] >= 5
    assert room["reminders"] == {"queued": 0, "sent": 1, "failed": 1}
    assert ops["inviters"][0]["leader"] == "lead-a"
    assert views.snapshot("room:room-1:board")["inviters"][0]["leader"] == "lead-a"


async def the_notices_are_the_databases(app: Any, views: Projections) -> None:
    """Each open tracking page and each leader's order row shows the notices GET /orders/{order} answers."""
    shown: dict[str, list[str]] = {}
    for order in ORDER_PAGES:
        truth = await ok(await app.client.get(f"/api/v1/orders/{order}"), 200)
        page = views.snapshot(f"order:{order}")
        assert page is not None and page["notices"] == truth["notices"], order
        shown[order] = [n["notice"] for n in truth["notices"]]
    assert shown["o-1"] == ["n-rain", "n-room"]  # Guangzhou buyer: rain, and the whole room
    assert shown["o-8"] == []  # cancelled
    assert "n-sh" not in {n for notices in shown.values() for n in notices}  # withdrawn
    rows = {o["order"]: [n["notice"] for n in o["notices"]] for o in views.snapshot("leader:lead-a")["orders"]}
    assert rows["o-1"] == ["n-rain", "n-room"]
    kinds = [e["kind"] for e in views.snapshot("ops")["exceptions"]]
    assert kinds.count("notice_posted") == 3 and kinds.count("notice_withdrawn") == 1


async def the_figures_are_the_databases(app: Any, views: Projections) -> None:
    """Equal is not enough: the figures must be the truth the REST API reads from the tables."""
    board = await ok(await app.client.get("/api/v1/rooms/room-1/leaderboard?by=gmv&limit=50"), 200)
    shown = views.snapshot("room:room-1:board")
    assert shown is not None
    assert shown["entries"] == board["entries"]
    assert [e["leader"] for e in shown["entries"]] == ["lead-a", "lead-c", "lead-b"]

    for leader in ("lead-a", "lead-b", "lead-c"):
        money = await ok(await app.client.get(f"/api/v1/leaders/{leader}/commission"), 200)
        view = views.snapshot(f"leader:{leader}")
        assert view is not None
        assert view["commission"] == {k: money[k] for k in view["commission"]}, leader
    assert views.snapshot("leader:lead-a")["commission"]["settled_cents"] > 0  # o-1 settled a month on

    stock = views.snapshot("room:room-1:stock")
    assert stock is not None
    for row in stock["skus"]:
        truth = await ok(await app.client.get(f"/api/v1/skus/{row['sku']}/stock"), 200)
        assert row["available"] == truth["available"], row["sku"]
        assert {w["warehouse"]: (w["on_hand"], w["reserved"]) for w in row["warehouses"]} == {
            w["warehouse"]: (w["on_hand"], w["reserved"]) for w in truth["warehouses"]
        }
    # Nine orders stand (o-8 was cancelled); the refund does not change GMV, as in the leaderboard.
    assert stock["orders"] == 9

    ops = views.snapshot("ops")
    assert ops is not None
    kinds = [e["kind"] for e in ops["exceptions"]]
    for kind in (
        "order_held",
        "parcel_problem",
        "parcel_returned",
        "parcel_stuck",
        "warehouse_down",
        "stock_sold_out",
    ):
        assert kind in kinds
    assert ops["funnel"]["signed"] == 1 and ops["funnel"]["returned"] == 1 and ops["funnel"]["problem"] == 1
    assert ops["commission"]["liability_cents"] == (
        ops["commission"]["pending_cents"] + ops["commission"]["frozen_cents"]
    )

    tracked = views.snapshot("order:o-1")
    assert tracked is not None
    truth = await ok(await app.client.get("/api/v1/orders/o-1"), 200)
    assert [e["station"] for e in tracked["timeline"]] == [
        e["station"] for e in truth["shipments"][0]["events"]
    ]
    assert tracked["after_sales"][0]["status"] == "approved" and tracked["refunded_cents"] == 5_000


# --- a big session written straight into the tables ------------------------------------------------------------

BULK_LEADERS = [f"L{i:03d}" for i in range(200)]
WAREHOUSE_CODES = ("SH", "GZ", "BJ")
CARRIERS = ("SF", "ZTO", "YTO", "JTSD")
LIVE_STATES = ("created", "in_transit", "signed", "problem", "collected")


def bulk_rows(n: int) -> dict[str, list[dict[str, Any]]]:
    """A session of `n` orders as the services would have left it: orders, lines, parcels in every state,
    ledger moves, leaderboard rows and the outbox. Every 17th order is cancelled, every 23rd held, every 10th
    has no leader; the last one is placed 2 s before START and each earlier one 2 s before the next."""
    rows: dict[str, list[dict[str, Any]]] = {
        t: [] for t in ("orders", "order_lines", "shipments", "ledger", "outbox")
    }
    board: dict[str, list[int]] = {}
    for i in range(n):
        leader = None if i % 10 == 9 else BULK_LEADERS[i % 200]
        status = "cancelled" if i % 17 == 0 else "held" if i % 23 == 0 else "accepted"
        qty = 1 + i % 5
        total = 1_000 * qty
        placed = START - timedelta(seconds=2 * (n - i))
        order = f"o{i}"
        buyer = {**GUANGZHOU_BUYER, "phone": "12345" if status == "held" else GUANGZHOU_BUYER["phone"]}
        rows["orders"].append(
            {
                "order": order,
                "room": "room-1",
                "visitor": f"v{i}",
                "leader": leader,
                "code": None,
                "status": status,
                "delivery": "express",
                "buyer": buyer,
                "destination": {"province": "广东", "city": "广州"},
                "total_cents": total,
                "refunded_cents": 0,
                "presale": False,
                "flags": ["phone_not_mobile"] if status == "held" else [],
                "assists": [],
                "body_hash": "-",
                "response": {},
                "placed_at": placed,
                "signed_at": None,
                "updated_at": placed,
            }
        )
        rows["order_lines"].append(
            {
                "order": order,
                "line": 0,
                "sku": "tea",
                "qty": qty,
                "unit_price_cents": 1_000,
                "deal_leader": None,
            }
        )
        state = (
            "cancelled" if status == "cancelled" else "created" if status == "held" else LIVE_STATES[i % 5]
        )
        shipped = state in ("in_transit", "signed", "collected")
        rows["shipments"].append(
            {
                "shipment": f"{order}-1",
                "order": order,
                "warehouse": WAREHOUSE_CODES[i % 3],
                "carrier": CARRIERS[i % 4],
                "waybill": None if status == "held" else f"W{i}",
                "state": state,
                "furthest": state if state in ("created", "in_transit", "signed", "collected") else "created",
                "items": [["tea", qty]],
                "created_at": placed,
                "last_event_at": None,
                "state_since": placed,
                "shipped_at": placed + timedelta(minutes=i % 90) if shipped else None,
                "stuck_at": START if state == "collected" and i % 2 else None,
            }
        )
        if leader:
            moves = [(None, "pending")]
            moves += [("pending", "reversed")] if status == "cancelled" else []
            moves += [("pending", "frozen")] if state == "signed" else []
            rows["ledger"] += [
                {
                    "order": order,
                    "room": "room-1",
                    "leader": leader,
                    "role": "leader",
                    "source": source,
                    "target": target,
                    "amount_cents": total // 10,
                    "reason": {"pending": "paid", "reversed": "cancelled", "frozen": "signed"}[target],
                    "at": placed,
                }
                for source, target in moves
            ]
            if status != "cancelled":
                figures = board.setdefault(leader, [0, 0])
                figures[0] += total
                figures[1] += 1
        event: Event = OrderAccepted(
            at=placed,
            order=order,
            room="room-1",
            leader=leader,
            assists=(),
            buyer_masked="张*",
            province="广东",
            city="广州",
            delivery="express",
            items=(("tea", qty),),
            total_cents=total,
            status="held" if status == "held" else "accepted",
        )
        rows["outbox"].append({"kind": event.kind, "payload": to_record(event), "created_at": placed})
        if status == "held":
            held = OrderHeld(
                at=placed, order=order, room="room-1", leader=leader, flags=("phone_not_mobile",)
            )
            rows["outbox"].append({"kind": held.kind, "payload": to_record(held), "created_at": placed})
    rows["room_leaders"] = [
        {"room": "room-1", "leader": leader, "gmv_cents": gmv, "orders": count, "invites": 0, "assists": 0}
        for leader, (gmv, count) in board.items()
    ]
    return rows


async def write_bulk(engine: Any, rows: dict[str, list[dict[str, Any]]]) -> None:
    reserved = Counter()
    for parcel in rows["shipments"]:
        if parcel["state"] != "cancelled" and parcel["shipped_at"] is None:
            reserved[parcel["warehouse"]] += parcel["items"][0][1]
    catalog: list[tuple[Any, list[dict[str, Any]]]] = [
        (
            models.warehouses,
            [
                {
                    "code": c,
                    "name": f"{c}仓",
                    "province": "上海",
                    "city": "上海市",
                    "active": True,
                    "updated_at": START,
                }
                for c in WAREHOUSE_CODES
            ],
        ),
        (
            models.skus,
            [
                {
                    "sku": "tea",
                    "name": "明前龙井 250g",
                    "price_cents": 1_000,
                    "category": None,
                    "presale_when_sold_out": False,
                    "low_stock_units": 20,
                    "updated_at": START,
                }
            ],
        ),
        (
            models.stock,
            [
                {"sku": "tea", "warehouse": c, "on_hand": 10**6, "reserved": reserved[c]}
                for c in WAREHOUSE_CODES
            ],
        ),
        (
            models.leaders,
            [
                {
                    "leader": leader,
                    "name": f"团长{leader}",
                    "community": None,
                    "upline": None,
                    "pickup_point": None,
                }
                | {"updated_at": START}
                for leader in BULK_LEADERS
            ],
        ),
        (
            models.rooms,
            [
                {
                    "room": "room-1",
                    "title": "大促专场",
                    "starts_at": START - timedelta(days=3),
                    "ends_at": None,
                    "skus": ["tea"],
                    "base_rate_bp": 1000,
                    "live_rate_bp": None,
                    "first_hour_bonus_bp": 0,
                    "team_rate_bp": 0,
                    "gmv_tiers": [],
                    "after_sale_days": 7,
                    "binding_mode": "first_touch",
                    "protection_days": 7,
                    "updated_at": START,
                }
            ],
        ),
    ]
    tables = [
        *catalog,
        (models.orders, rows["orders"]),
        (models.order_lines, rows["order_lines"]),
        (models.shipments, rows["shipments"]),
        (models.commission_entries, rows["ledger"]),
        (models.room_leaders, rows["room_leaders"]),
        (models.outbox, rows["outbox"]),
    ]
    async with engine.begin() as conn:
        for table, table_rows in tables:
            await conn.execute(table.insert(), table_rows)


async def test_a_big_session_rebuilds_to_the_figures_its_tables_hold(database_url: str) -> None:
    upgrade(database_url)
    engine = create_engine(database_url)
    try:
        rows = bulk_rows(20_000)
        await write_bulk(engine, rows)
        views = Projections(lambda: START)
        await views.load(engine)
    finally:
        await engine.dispose()

    orders, parcels = rows["orders"], rows["shipments"]
    standing = [o for o in orders if o["status"] != "cancelled"]
    assert views.applied == len(rows["outbox"])

    board = views.snapshot("room:room-1:board")
    ranked = sorted(rows["room_leaders"], key=lambda r: (-r["gmv_cents"], r["leader"]))
    assert [(e["leader"], e["gmv_cents"], e["orders"]) for e in board["entries"]] == [
        (r["leader"], r["gmv_cents"], r["orders"]) for r in ranked[:20]
    ]
    assert board["leaders"] == 180

    stock = views.snapshot("room:room-1:stock")
    assert (stock["orders"], stock["gmv_cents"]) == (len(standing), sum(o["total_cents"] for o in standing))
    in_window = [
        o for o in orders if o["placed_at"] > START - timedelta(minutes=5)
    ]  # cancelled ones sold too
    assert stock["skus"][0]["rate_per_min"] == round(
        sum(1 + int(o["order"][1:]) % 5 for o in in_window) / 5, 2
    )

    feed = views.snapshot("room:room-1:feed")
    assert [i["order"] for i in feed["items"]] == [o["order"] for o in orders[-50:]]

    ops = views.snapshot("ops")
    live = [p for p in parcels if p["state"] != "cancelled"]
    assert ops["funnel"] == {s: sum(p["state"] == s for p in live) for s in ops["funnel"]}
    waiting = Counter(p["warehouse"] for p in live if p["shipped_at"] is None)
    assert {w["warehouse"]: w["backlog"] for w in ops["warehouses"]} == dict(waiting)
    for warehouse in ops["warehouses"]:
        shipped = sorted(
            (p for p in live if p["shipped_at"] and p["warehouse"] == warehouse["warehouse"]),
            key=lambda p: (p["shipped_at"], p["shipment"]),
        )[-200:]
        mean = sum((p["shipped_at"] - p["created_at"]).total_seconds() for p in shipped) / len(shipped)
        assert warehouse["outbound_latency_s"] == round(mean, 1)
    assert [(c["carrier"], c["parcels"], c["problem"], c["stuck"]) for c in ops["carriers"]] == [
        (
            c,
            sum(p["carrier"] == c for p in live),
            sum(p["carrier"] == c and p["state"] == "problem" for p in live),
            sum(p["carrier"] == c and p["stuck_at"] is not None for p in live),
        )
        for c in sorted(CARRIERS)
    ]
    held_orders = [o["order"] for o in orders if o["status"] == "held"]
    assert [e["order"] for e in ops["exceptions"]] == held_orders[-50:]

    mine = views.snapshot("leader:L000")
    own = sorted((o for o in orders if o["leader"] == "L000"), key=lambda o: o["placed_at"], reverse=True)
    assert [o["order"] for o in mine["orders"]] == [o["order"] for o in own[:50]]
    assert [h["order"] for h in mine["held"]] == [o["order"] for o in reversed(own) if o["status"] == "held"]
    assert all(h["buyer"]["phone"] == "12345" for h in mine["held"])
    ledger = [e for e in rows["ledger"] if e["leader"] == "L000"]
    balance = Counter()
    for entry in ledger:
        balance[entry["target"]] += entry["amount_cents"]
        if entry["source"]:
            balance[entry["source"]] -= entry["amount_cents"]
    assert mine["commission"] == {
        f"{s}_cents": balance[s] for s in ("pending", "frozen", "settled", "reversed")
    }
