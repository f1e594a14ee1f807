"""Outbox pruning (issue 15, "Data that lasts"): events older than the retention period are deleted once every live
process has applied them, and never one that a live process, or a rebuild, still needs.

On SQLite and PostgreSQL, through the real app (writer, follower, process marks) and the scheduler's own job.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from growth_seed import growth_room, visit, watch
from seed import START, order_body, seed_catalog, share_code
from sqlalchemy import func, select

from realtime.marks import ProcessMark
from realtime.projections import Projections, growth_checkpoint
from realtime.projections.retention import read_by_load
from server.services.scheduler import Scheduler
from server.settings import Settings, SettingsError
from store import models, retention

DAY = timedelta(days=1)


async def place(service: Any, order: str, code: str | None = None) -> None:
    response = await service.post("/api/v1/orders", order_body(order, f"v-{order}", [("tea", 1)], code=code))
    assert response.status_code == 201, response.text


async def newest_seq(service: Any) -> int:
    async with service.ctx.engine.connect() as conn:
        return int((await conn.execute(select(func.max(models.outbox.c.seq)))).scalar_one())


async def caught_up(service: Any) -> Any:
    """This process's realtime, once its follower has applied every committed event, with its mark written now."""
    realtime = service.app.state.realtime
    newest = await newest_seq(service)
    for _ in range(500):
        if realtime.follower.applied >= newest:
            break
        await asyncio.sleep(0.01)
    assert realtime.follower.applied >= newest
    await realtime.marks.beat()
    return realtime


async def rows(service: Any) -> dict[int, str]:
    async with service.ctx.engine.connect() as conn:
        return {int(seq): kind for seq, kind in await conn.execute(select(models.outbox.c.seq, models.outbox.c.kind))}


async def another_process(service: Any, name: str, applied: int, seen: Any) -> None:
    async with service.ctx.engine.begin() as conn:
        await retention.write_mark(conn, name, applied, seen)


async def an_old_session_then_a_fresh_one(service: Any) -> tuple[dict[int, str], int]:
    """Twenty orders 20 days ago, with visits and heartbeats (growth events: bound, entered, watching, points), then
    (the clock moved on) five today. Returns the old session's rows and the first seq of today's."""
    codes = await growth_room(service, min_watch_s=60)
    code = codes["lead-a"]
    for visitor in ("v-g1", "v-g2"):
        await visit(service, visitor, code)
        await watch(service, visitor, 150)
    for i in range(20):
        await place(service, f"old-{i}", code if i % 2 else None)
    old = await rows(service)
    service.clock.set(START + 20 * DAY)
    for i in range(5):
        await place(service, f"new-{i}", code)
    return old, max(old) + 1


def scheduler(service: Any) -> Scheduler:
    return Scheduler(service.ctx, keep=read_by_load)  # the job `liveroom serve` runs every 5 minutes


async def test_old_events_every_live_process_has_applied_are_pruned_by_the_scheduler(service: Any) -> None:
    old, first_new = await an_old_session_then_a_fresh_one(service)
    await caught_up(service)
    report = await scheduler(service).run_pruning()

    left = await rows(service)
    prunable = {seq for seq, kind in old.items() if kind != "order_accepted"}
    assert report.deleted == len(prunable) > 0
    assert not prunable & set(left)
    # Growth events go too: a rebuild starts from the growth checkpoint, taken before pruning, past all of them.
    assert {"visitor_bound", "visitor_entered", "visitor_watching", "points_earned"} <= {
        kind for seq, kind in old.items() if seq in prunable}
    async with service.ctx.engine.connect() as conn:
        assert (await growth_checkpoint.read_checkpoint(conn)).seq >= max(old)
    # Kept however old: what a rebuild reads (each room's newest orders for its feed).
    assert {seq for seq, kind in old.items() if kind == "order_accepted"} <= set(left)
    assert all(seq in left for seq in range(first_new, max(left) + 1))  # today's, every one
    async with service.ctx.engine.connect() as conn:
        assert await retention.pruned_through(conn) == max(prunable)
    again = await scheduler(service).run_pruning()
    assert again.deleted == 0  # nothing left to do; a second run changes nothing


async def test_an_old_event_a_live_process_has_not_applied_yet_is_kept(service: Any) -> None:
    old, _ = await an_old_session_then_a_fresh_one(service)
    await caught_up(service)
    behind = sorted(old)[len(old) // 2]  # a second process, alive (seen now), halfway through the old session
    await another_process(service, "slow:1:aa", behind, service.clock())
    report = await scheduler(service).run_pruning()

    left = await rows(service)
    assert report.floor == behind and report.deleted > 0
    assert all(seq in left for seq in old if seq >= behind)  # it still needs these: all kept, 20 days old or not
    assert not [seq for seq in left if seq < behind and old[seq] != "order_accepted"]


async def test_events_younger_than_the_retention_period_are_kept_though_every_process_applied_them(
    service: Any,
) -> None:
    await seed_catalog(service)
    for i in range(5):
        await place(service, f"recent-{i}")
    before = await rows(service)
    service.clock.set(START + 13 * DAY)  # LIVEROOM_OUTBOX_RETENTION_DAYS is 14 by default
    await caught_up(service)
    assert (await scheduler(service).run_pruning()).deleted == 0
    assert await rows(service) == before


async def test_a_process_not_seen_for_the_grace_period_does_not_hold_pruning_back(service: Any) -> None:
    old, _ = await an_old_session_then_a_fresh_one(service)
    await caught_up(service)
    await another_process(service, "dead:1:aa", min(old), service.clock() - retention.GRACE - timedelta(seconds=1))
    report = await scheduler(service).run_pruning()
    assert report.floor == await newest_seq(service)  # only this process's mark counts
    assert report.live == [service.app.state.realtime.marks.process]
    assert report.deleted > 0


async def test_no_process_mark_no_pruning(service: Any) -> None:
    await an_old_session_then_a_fresh_one(service)
    realtime = await caught_up(service)
    async with service.ctx.engine.begin() as conn:
        await retention.drop_mark(conn, realtime.marks.process)
    before = await rows(service)
    assert (await scheduler(service).run_pruning()).deleted == 0
    assert await rows(service) == before


async def test_a_process_away_while_its_events_were_pruned_reloads_and_shows_what_a_live_one_shows(
    service: Any,
) -> None:
    """A process stalled past the grace period (its mark no longer counts) while events it had not applied were
    pruned: at its next beat it sees pruned_through above its seq, reloads from a snapshot, and every topic equals
    the live process's; a screen reconnecting to it with since= gets what the live one's would."""
    await seed_catalog(service)
    code = await share_code(service, "lead-a")
    for i in range(3):
        await place(service, f"early-{i}", code)
    away = Projections(service.clock)
    await away.load(service.ctx.engine)  # the stalled process, stopped following here
    behind = away.applied
    for i in range(10):
        await place(service, f"while-away-{i}", code)
    service.clock.set(START + 20 * DAY)
    live = await caught_up(service)
    await another_process(service, "away:1:aa", behind, START)  # last seen 20 days ago
    report = await scheduler(service).run_pruning()
    assert report.deleted > 0
    assert max(k for k in await rows(service) if k <= report.through) > behind  # it missed pruned events

    async def reload() -> None:
        await away.load(service.ctx.engine)

    mark = ProcessMark(service.ctx.engine, service.clock, lambda: away.applied, reload)
    await mark.beat()
    assert mark.reloads == 1 and away.applied == live.projections.applied
    topics = live.projections.topics()
    assert away.topics() == topics
    for topic in topics:
        assert away.snapshot(topic) == live.projections.snapshot(topic), topic
    for since in (0, behind, report.through, live.projections.applied):
        assert away.feed_since("room:room-1:feed", since) == live.projections.feed_since("room:room-1:feed", since)
    await mark.beat()
    assert mark.reloads == 1  # caught up: no second reload
    async with service.ctx.engine.connect() as conn:
        assert (await retention.live_marks(conn, service.clock()))[mark.process] == live.projections.applied
    await mark.stop()


def test_the_retention_period_is_14_days_unless_set_and_a_wrong_value_is_refused_naming_the_setting() -> None:
    assert Settings.from_env({}).outbox_retention_days == 14
    assert Settings.from_env({"LIVEROOM_OUTBOX_RETENTION_DAYS": "30"}).outbox_retention_days == 30
    for wrong in ("0", "-3", "2.5", "two weeks"):
        with pytest.raises(SettingsError, match="LIVEROOM_OUTBOX_RETENTION_DAYS"):
            Settings.from_env({"LIVEROOM_OUTBOX_RETENTION_DAYS": wrong})
