"""Watch time, invitation rewards and invitation tasks through the API (API.md, "Growth"), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from growth_seed import REWARD, at, beat, events, growth_room, rows, visit, watch, when
from seed import ROOM

from store import models


async def test_a_room_takes_a_watched_mark_and_an_invite_reward_with_defaults(service: Any) -> None:
    await growth_room(service, min_watch_s=120, reward=7)
    answer = await service.put("/api/v1/rooms/room-2", {**ROOM, "title": "另一场"})
    assert answer.status_code == 201
    assert answer.json()["min_watch_s"] == 300 and answer.json()["invite_reward"] == {"points": 0}
    kept = await service.put("/api/v1/rooms/room-2", {**ROOM, "title": "另一场", "invite_reward": {"points": 5}})
    assert kept.json()["min_watch_s"] == 300 and kept.json()["invite_reward"] == {"points": 5}
    [row] = await rows(service, models.rooms, models.rooms.c.room == "room-1")
    assert (row.min_watch_s, row.invite_reward_points) == (120, 7)
    for bad, field in (({"min_watch_s": 0}, "min_watch_s"), ({"min_watch_s": 86_401}, "min_watch_s"),
                       ({"invite_reward": {"points": -1}}, "invite_reward.points"),
                       ({"invite_reward": {"points": 1_000_001}}, "invite_reward.points")):
        before = await service.counts()
        refused = await service.put("/api/v1/rooms/room-1", {**ROOM, **bad})
        assert refused.status_code == 422 and refused.json()["field"] == field
        assert await service.counts() == before


async def test_a_visit_through_a_share_code_records_the_viewer_and_the_first_click(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"], 100)
    await visit(service, "v-1", codes["lead-b"], 50)  # an earlier click arriving late; first touch keeps lead-a
    [viewer] = await rows(service, models.viewers)
    assert (viewer.room, viewer.visitor, viewer.leader) == ("room-1", "v-1", "lead-a")
    assert viewer.clicked_at == viewer.first_seen == when(at(50)) and viewer.last_seen == when(at(100))


async def test_heartbeats_in_any_order_or_repeated_give_the_same_watch_time(service: Any) -> None:
    await growth_room(service)
    times = [0, 30, 60, 90, 200, 230, 240, 400, 455]  # gaps of 30+30+30, 30+10, 55: 185 s
    for t in times:
        await beat(service, "v-in-order", t)
    shuffled = times * 2
    random.Random(7).shuffle(shuffled)
    answers = [await beat(service, "v-shuffled", t) for t in shuffled]
    assert await beat(service, "v-in-order", 455) == answers[-1] == 185
    assert answers == sorted(answers)  # a heartbeat never lowers the watch time
    stored = await rows(service, models.heartbeats, models.heartbeats.c.visitor == "v-shuffled")
    assert len(stored) == len(times)


async def test_a_gap_longer_than_60_seconds_counts_nothing(service: Any) -> None:
    await growth_room(service)
    assert await beat(service, "v-1", 0) == 0
    assert await beat(service, "v-1", 61) == 0
    assert await beat(service, "v-1", 121) == 60  # exactly 60 s counts
    assert await beat(service, "v-1", 91) == 60  # splits the 60 s gap in two: nothing gained, nothing lost


async def test_the_same_heartbeat_twice_writes_nothing_the_second_time(service: Any) -> None:
    await growth_room(service)
    await beat(service, "v-1", 0)
    assert await beat(service, "v-1", 45) == 45
    before, kinds = await service.counts(), len(await events(service, "visitor_watching"))
    assert await beat(service, "v-1", 45) == 45
    assert await service.counts() == before and len(await events(service, "visitor_watching")) == kinds


async def test_entering_and_each_watched_minute_and_the_watched_mark_are_announced(service: Any) -> None:
    codes = await growth_room(service, min_watch_s=120)
    await visit(service, "v-1", codes["lead-a"])
    await watch(service, "v-1", 180)
    [entered] = await events(service, "visitor_entered")
    assert entered["visitor"] == "v-1" and entered["leader"] == "lead-a"
    watching = await events(service, "visitor_watching")
    assert [(e["watched_s"], e["watched"]) for e in watching] == [(60, False), (120, True), (180, False)]
    [viewer] = await rows(service, models.viewers)
    assert viewer.entered_at == when(at(0)) and viewer.watched_at == when(at(120))


async def test_an_invited_visitor_who_watches_earns_the_leader_the_reward_once(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"])
    assert await watch(service, "v-1", 290) == 270
    assert await rows(service, models.points) == []
    assert await beat(service, "v-1", 300) == 300
    await watch(service, "v-1", 600, start=300)  # watching on earns nothing more
    [entry] = await rows(service, models.points)
    assert (entry.leader, entry.room, entry.reason, entry.ref, entry.points) == (
        "lead-a", "room-1", "invite", "v-1", REWARD)
    [earned] = await events(service, "points_earned")
    assert earned["leader"] == "lead-a" and earned["balance"] == REWARD
    growth = (await service.client.get("/api/v1/leaders/lead-a/growth", params={"room": "room-1"})).json()
    assert growth["points"] == REWARD


async def test_a_visitor_who_came_without_a_share_code_earns_nobody_points(service: Any) -> None:
    await growth_room(service)
    await watch(service, "v-direct", 600)
    assert await rows(service, models.points) == []
    [viewer] = await rows(service, models.viewers)
    assert viewer.leader is None and viewer.watched_at is not None


async def test_a_task_completes_once_at_its_goal_pays_its_points_once_and_dates_its_bonus(service: Any) -> None:
    codes = await growth_room(service, reward=0)
    task = {"title": "邀请2人看满1分钟", "goal": 2, "min_watch_s": 60, "reward": {"points": 50, "bonus_bp": 100}}
    created = await service.put("/api/v1/rooms/room-1/tasks/t-1", task)
    assert created.status_code == 201, created.text
    assert created.json() == {"room": "room-1", "task": "t-1", "title": task["title"], "goal": 2,
                              "min_watch_s": 60, "reward": {"points": 50, "bonus_bp": 100}}
    replay = await service.put("/api/v1/rooms/room-1/tasks/t-1", task)
    assert replay.status_code == 200 and replay.json() == created.json()
    for visitor in ("v-1", "v-2", "v-3"):
        await visit(service, visitor, codes["lead-a"])
    await watch(service, "v-1", 120)
    await watch(service, "v-2", 30)  # not yet
    growth = (await service.client.get("/api/v1/leaders/lead-a/growth", params={"room": "room-1"})).json()
    [progress] = growth["tasks"]
    assert (progress["invited"], progress["watched"], progress["done"]) == (3, 1, False)
    await watch(service, "v-2", 60, start=60)
    await watch(service, "v-3", 120)
    [entry] = await rows(service, models.points)
    assert (entry.reason, entry.ref, entry.points) == ("task", "t-1", 50)
    done = [e for e in await events(service, "task_progressed") if e["done"]]
    assert [e["watched"] for e in done] == [2, 3]
    growth = (await service.client.get("/api/v1/leaders/lead-a/growth", params={"room": "room-1"})).json()
    assert growth["points"] == 50 and growth["tasks"][0]["done"] and growth["tasks"][0]["watched"] == 3
    [progress_row] = await rows(service, models.task_progress)  # the order path reads done_at for the bonus
    assert (progress_row.leader, progress_row.task, progress_row.done_at) == ("lead-a", "t-1", when(at(60)))


async def test_a_task_left_without_min_watch_takes_the_rooms(service: Any) -> None:
    await growth_room(service, min_watch_s=240)
    answer = await service.put("/api/v1/rooms/room-1/tasks/t-2",
                               {"title": "拉新", "goal": 5, "reward": {"points": 1, "bonus_bp": 0}})
    assert answer.status_code == 201 and answer.json()["min_watch_s"] == 240


async def test_bad_heartbeats_and_tasks_are_refused_and_write_nothing(service: Any) -> None:
    await growth_room(service)
    cases = [
        ("POST", "/api/v1/rooms/nowhere/presence", {"visitor": "v-1"}, 404, "room"),
        ("POST", "/api/v1/rooms/room-1/presence", {"visitor": "v-1", "at": "2101-01-01T00:00:00Z"}, 422, "at"),
        ("POST", "/api/v1/rooms/room-1/presence", {"visitor": "v-1", "at": "2026-11-23T12:00:00"}, 422, "at"),
        ("POST", "/api/v1/rooms/room-1/presence", {"visitor": ""}, 422, "visitor"),
        ("POST", "/api/v1/rooms/room-1/presence", {}, 422, "visitor"),
        ("PUT", "/api/v1/rooms/nowhere/tasks/t-1", {"title": "x", "goal": 1, "reward": {"points": 1}}, 404, "room"),
        ("PUT", "/api/v1/rooms/room-1/tasks/t-1", {"title": "x", "goal": 0, "reward": {"points": 1}}, 422, "goal"),
        ("PUT", "/api/v1/rooms/room-1/tasks/t-1", {"title": "x", "goal": 1, "reward": {"bonus_bp": 10_001}}, 422,
         "reward.bonus_bp"),
        ("PUT", "/api/v1/rooms/room-1/tasks/t-1", {"title": "x", "goal": 1}, 422, "reward"),
    ]
    for method, path, body, status, field in cases:
        before = await service.counts()
        answer = await service.client.request(method, path, json=body)
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.json().get("field") == field, (body, answer.json())
        assert await service.counts() == before
    unauthorized = await service.client.post("/api/v1/rooms/room-1/presence", json={"visitor": "v-1"},
                                             headers={"Authorization": "Bearer nope"})
    assert unauthorized.status_code == 403


async def test_heartbeats_sent_at_once_share_a_batch_and_count_as_if_sent_one_by_one(service: Any) -> None:
    """Concurrent heartbeats are decided together (one batch of the writer): repeats and disorder inside a batch
    count once, and the reward is still paid once."""
    codes = await growth_room(service, min_watch_s=120)
    await visit(service, "v-1", codes["lead-a"])
    times = [0, 30, 60, 90, 120, 150, 250, 280] * 3
    random.Random(3).shuffle(times)
    answers = await asyncio.gather(*(
        service.client.post("/api/v1/rooms/room-1/presence", json={"visitor": v, "at": at(t)})
        for t in times for v in ("v-1", "v-2")))
    assert all(a.status_code == 200 for a in answers)
    assert await beat(service, "v-1", 280) == await beat(service, "v-2", 280) == 150 + 30
    [entry] = await rows(service, models.points)
    assert (entry.leader, entry.ref) == ("lead-a", "v-1")
    assert len(await events(service, "visitor_entered")) == 2
    assert [e["visitor"] for e in await events(service, "visitor_watching") if e["watched"]] in (
        ["v-1", "v-2"], ["v-2", "v-1"])
