"""Helpers of the growth tests (API.md, "Growth"): the seeded catalog, a room with rewards and tasks, visits and
heartbeats through the public API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from seed import ROOM, START, seed_catalog, share_code
from sqlalchemy import select

from store import models

REWARD = 10  # points per invited visitor who watched


async def growth_room(svc: Any, *, min_watch_s: int = 300, reward: int = REWARD) -> dict[str, str]:
    """The seeded catalog, room-1 with a watched mark and an invite reward; the share codes of lead-a and lead-b."""
    await seed_catalog(svc)
    answer = await svc.put("/api/v1/rooms/room-1",
                           {**ROOM, "min_watch_s": min_watch_s, "invite_reward": {"points": reward}})
    assert answer.status_code == 200, answer.text
    return {"lead-a": await share_code(svc, "lead-a"), "lead-b": await share_code(svc, "lead-b")}


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


async def visit(svc: Any, visitor: str, code: str, seconds: float = 0) -> dict[str, Any]:
    answer = await svc.post("/api/v1/visits", {"visitor": visitor, "code": code, "at": at(seconds)})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def beat(svc: Any, visitor: str, seconds: float, room: str = "room-1") -> int:
    answer = await svc.post(f"/api/v1/rooms/{room}/presence", {"visitor": visitor, "at": at(seconds)})
    assert answer.status_code == 200, answer.text
    return int(answer.json()["watched_s"])


async def watch(svc: Any, visitor: str, seconds: int, *, start: float = 0, every: int = 30) -> int:
    """Heartbeats every `every` s from `start` for `seconds`; answers the last watched_s."""
    watched = 0
    for offset in range(0, seconds + 1, every):
        watched = await beat(svc, visitor, start + offset)
    return watched


async def rows(svc: Any, table: Any, *where: Any) -> list[Any]:
    async with svc.ctx.engine.connect() as conn:
        return list(await conn.execute(select(table).where(*where)))


async def events(svc: Any, kind: str) -> list[dict[str, Any]]:
    o = models.outbox
    async with svc.ctx.engine.connect() as conn:
        found = await conn.execute(select(o.c.payload).where(o.c.kind == kind).order_by(o.c.seq))
        return [dict(r.payload) for r in found]


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def check_growth_answers(api: Any, svc: Any) -> None:
    """Every growth route called once through tests/server/test_answers.py's checker (`api.call`)."""
    from server.api import growth_answers as g

    code = await share_code(svc, "lead-a")
    await visit(svc, "v-g1", code)
    await api.call("PUT", "/api/v1/rooms/room-1/tasks/t-1", "/api/v1/rooms/{room}/tasks/{task}", g.Task, 201,
                   json={"title": "邀请1人", "goal": 1, "min_watch_s": 30, "reward": {"points": 5, "bonus_bp": 50}})
    for seconds in (0, 30):
        await api.call("POST", "/api/v1/rooms/room-1/presence", "/api/v1/rooms/{room}/presence", g.Presence, 200,
                       json={"visitor": "v-g1", "at": at(seconds)})
    await api.call("POST", "/api/v1/rooms/room-1/leaders", "/api/v1/rooms/{room}/leaders", g.Recruited, 201,
                   json={"visitor": "v-g1", "leader": "lead-g1", "name": "新团长"})
    await api.call("PUT", "/api/v1/leaders/lead-a/prospects/v-g1", "/api/v1/leaders/{leader}/prospects/{visitor}",
                   g.ProspectNote, 201, json={"tags": ["宝妈"], "note": "下午有空"})
    await api.call("GET", "/api/v1/leaders/lead-a/prospects?room=room-1", "/api/v1/leaders/{leader}/prospects",
                   g.Prospects, 200)
    await api.call("GET", "/api/v1/leaders/lead-a/growth?room=room-1", "/api/v1/leaders/{leader}/growth", g.Growth,
                   200)
    await api.call("GET", "/api/v1/leaders/lead-a/growth", "/api/v1/leaders/{leader}/growth", g.Growth, 200)
    await api.call("GET", "/api/v1/rooms/room-1/funnel?leader=lead-a", "/api/v1/rooms/{room}/funnel", g.Funnel, 200)
    await api.call("GET", "/api/v1/visitors/v-g1/path?room=room-1", "/api/v1/visitors/{visitor}/path", g.Path, 200)
