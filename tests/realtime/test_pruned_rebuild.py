"""A rebuild survives pruning (issue 15, "Data that lasts"): the outbox pruned as far as it can go (retention zero,
every process caught up), a process loaded afterwards shows every topic exactly as one that never stopped.

The read models load their snapshot from the tables; what they read from the outbox itself (each room's newest
orders for its feed, the ops exceptions, the gateway panel's recent waybills) is what
realtime/projections/retention.py keeps. The growth figures start from the growth checkpoint (the fold up to a
seq, brought up to date by each pruning run) and replay only the growth events after it: the growth events the
checkpoint covers are pruned like any other. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from growth_seed import beat, visit, watch
from seed import ROOM, share_code
from sqlalchemy import func, select

from realtime.projections import Projections, growth_checkpoint
from realtime.projections.growth import KINDS as GROWTH_KINDS
from realtime.projections.retention import read_by_load
from store import models, retention
from tests.realtime.test_rebuild import (
    assert_same_views,
    ok,
    open_order_pages,
    run_first_half,
    run_second_half,
)


async def outbox_rows(app: Any) -> int:
    async with app.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(models.outbox))).scalar_one())


async def test_a_process_loaded_after_the_outbox_was_pruned_shows_every_topic_as_one_that_never_stopped(
    recorded_app: Any,
) -> None:
    app = recorded_app
    never_stopped = Projections(app.clock)
    await never_stopped.load(app.engine)
    answers = await run_first_half(app)
    await app.follow(never_stopped)
    await run_second_half(app, answers)
    await app.follow(never_stopped)
    await open_order_pages(never_stopped, app.engine)
    async with app.engine.begin() as conn:  # the only live process, caught up with every event
        await retention.write_mark(conn, "never-stopped", never_stopped.applied, app.clock())

    before = await outbox_rows(app)
    report = await retention.prune_outbox(app.ctx.writer, now=app.clock(), retention=timedelta(0),
                                          keep=read_by_load)
    assert report.floor == never_stopped.applied
    assert report.deleted > before // 3 and await outbox_rows(app) == before - report.deleted

    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    await open_order_pages(restarted, app.engine)
    assert_same_views(never_stopped, restarted)


async def prune(app: Any, *views: Projections) -> retention.PruneReport:
    """Every process caught up and marked (the app's own too), then the outbox pruned as far as it goes (retention
    zero)."""
    await app.follow(*views)
    for _ in range(500):
        if app.realtime.follower.applied >= views[0].applied:
            break
        await asyncio.sleep(0.01)
    await app.realtime.marks.beat()
    async with app.engine.begin() as conn:
        for i, views_ in enumerate(views):
            await retention.write_mark(conn, f"process-{i}", views_.applied, app.clock())
    report = await retention.prune_outbox(app.ctx.writer, now=app.clock(), retention=timedelta(0), keep=read_by_load)
    assert report.floor == views[0].applied
    return report


async def growth_left(app: Any) -> list[tuple[int, str]]:
    o = models.outbox
    async with app.engine.connect() as conn:
        return [(int(seq), kind) for seq, kind in await conn.execute(
            select(o.c.seq, o.c.kind).where(o.c.kind.in_(GROWTH_KINDS)).order_by(o.c.seq))]


async def growth_through_the_api(app: Any) -> None:
    """lead-c's growth, as the services write it: an invite reward, a task of two invitees done, a recruit, a
    question, a prospect's note (heartbeats every 30 s: entered, watching, points, task progress)."""
    await ok(await app.put("/api/v1/rooms/room-1", {**ROOM, "min_watch_s": 60, "invite_reward": {"points": 10}}))
    await ok(await app.put("/api/v1/rooms/room-1/tasks/t-2", {
        "title": "邀请 2 位好友看满 1 分钟", "goal": 2, "min_watch_s": 60, "reward": {"points": 30, "bonus_bp": 0}}))
    code = await share_code(app, "lead-c")
    for visitor in ("v-40", "v-41"):
        await visit(app, visitor, code, 600)
        assert await watch(app, visitor, 90, start=600) == 90
    await ok(await app.post("/api/v1/rooms/room-1/leaders", {"visitor": "v-40", "leader": "lead-c2", "name": "小陈"}))
    await ok(await app.post("/api/v1/rooms/room-1/questions",
                            {"leader": "lead-c", "text": "礼盒还有吗？", "question": "q-c"}))
    await ok(await app.put("/api/v1/leaders/lead-c/prospects/v-41", {"tags": ["老客"], "note": "明天再问"}))


async def more_growth_through_the_api(app: Any) -> None:
    """v-41 watches on (a watching event a minute), v-42 comes through lead-b's link, the host answers."""
    await watch(app, "v-41", 150, start=720)
    await visit(app, "v-42", await share_code(app, "lead-b"), 900)
    await watch(app, "v-42", 60, start=900)
    await ok(await app.post("/api/v1/questions/q-c/answer"))


async def test_growth_pruned_past_a_checkpoint_rebuilds_every_growth_topic_as_a_process_that_never_stopped(
    recorded_app: Any,
) -> None:
    app = recorded_app
    never_stopped = Projections(app.clock)
    await never_stopped.load(app.engine)
    answers = await run_first_half(app)
    await growth_through_the_api(app)
    first = await prune(app, never_stopped)
    assert [seq for seq, _ in await growth_left(app)] == [first.floor]  # only the newest row stays: a note
    assert first.deleted > 0

    halfway = Projections(app.clock)  # loaded from the first checkpoint alone, then following
    await halfway.load(app.engine)
    await open_order_pages(never_stopped, app.engine)
    await open_order_pages(halfway, app.engine)
    assert_same_views(never_stopped, halfway)

    await run_second_half(app, answers)
    await more_growth_through_the_api(app)
    second = await prune(app, never_stopped, halfway)  # the checkpoint folded on from the first one
    async with app.engine.connect() as conn:
        covered = (await growth_checkpoint.read_checkpoint(conn)).seq
    assert covered == second.floor and not [seq for seq, _ in await growth_left(app) if seq < second.floor]

    await beat(app, "v-42", 990)  # growth after the checkpoint: replayed on top of it
    await beat(app, "v-42", 1020)
    await app.follow(never_stopped, halfway)
    assert [seq for seq, _ in await growth_left(app) if seq > covered]
    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    await open_order_pages(restarted, app.engine)
    assert_same_views(never_stopped, halfway, restarted)

    lead_a = restarted.snapshot("leader:lead-a")["growth"]  # the first half's growth events, long pruned
    assert lead_a["points"] == 60 and [r["leader"] for r in lead_a["recruits"]] == ["lead-new"]
    assert [(t["task"], t["invited"], t["watched"], t["done"]) for t in lead_a["tasks"] if t["task"] == "t-invite"] == [
        ("t-invite", 5, 2, True)]
    growth = restarted.snapshot("leader:lead-c")["growth"]
    assert growth["points"] == 10 + 10 + 30
    assert [(t["task"], t["invited"], t["watched"], t["done"]) for t in growth["tasks"] if t["task"] == "t-2"] == [
        ("t-2", 3, 2, True)]  # v-4 of the first half, v-40 and v-41
    assert [r["leader"] for r in growth["recruits"]] == ["lead-c2"]
    assert [(q["question"], q["answered"]) for q in growth["questions"]] == [("q-c", True)]
    assert {p["visitor"]: (p["note"], p["watched_s"]) for p in growth["prospects"]}["v-41"][0] == "明天再问"
    funnel = {f["room"]: f for f in growth["funnel"]}["room-1"]
    assert (funnel["clicked"], funnel["entered"], funnel["watched"], funnel["became_leader"]) == (3, 2, 2, 1)  # v-4 too
    lead_b = restarted.snapshot("leader:lead-b")["growth"]
    assert "v-42" in {p["visitor"] for p in lead_b["prospects"]}
    queue = restarted.snapshot("room:room-1:questions")
    assert ("q-c", True) in [(q["question"], q["answered"]) for q in queue["questions"]]
    kinds = [i["kind"] for i in restarted.snapshot("room:room-1:feed")["items"]]
    assert kinds.count("recruit") == 2 and kinds.count("task_done") == 2
    [room] = restarted.snapshot("ops")["growth"]["rooms"]
    assert room["became_leader"] == 2 and room["entered"] >= 6
