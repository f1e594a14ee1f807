"""The full path (API.md, "Growth"): the funnel per room and leader, a visitor's steps in time order, the board by
invitations; who may read them. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from growth_seed import at, beat, growth_room, visit, watch
from seed import order_body


async def _walk(service: Any) -> dict[str, str]:
    """v-1 clicks lead-a, watches, orders, becomes a leader; v-2 clicks lead-a and enters; v-3 clicks lead-b;
    v-4 watches without a code."""
    codes = await growth_room(service, min_watch_s=60)
    await visit(service, "v-1", codes["lead-a"], 0)
    await watch(service, "v-1", 90, start=10)
    ordered = await service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)], code=codes["lead-a"],
                                                              at=at(200)))
    assert ordered.status_code == 201, ordered.text
    service.clock.advance(seconds=300)
    made = await service.post("/api/v1/rooms/room-1/leaders", {"visitor": "v-1", "leader": "lead-v1", "name": "新"})
    assert made.status_code == 201
    await visit(service, "v-2", codes["lead-a"], 5)
    await beat(service, "v-2", 20)
    await visit(service, "v-3", codes["lead-b"], 6)
    await watch(service, "v-4", 60)
    return codes


async def test_the_funnel_counts_distinct_visitors_per_step_in_the_room_and_per_leader(service: Any) -> None:
    await _walk(service)
    room = (await service.client.get("/api/v1/rooms/room-1/funnel")).json()
    assert room == {"clicked": 3, "entered": 3, "watched": 2, "ordered": 1, "became_leader": 1}
    own = (await service.client.get("/api/v1/rooms/room-1/funnel", params={"leader": "lead-a"})).json()
    assert own == {"clicked": 2, "entered": 2, "watched": 1, "ordered": 1, "became_leader": 1}
    b = (await service.client.get("/api/v1/rooms/room-1/funnel", params={"leader": "lead-b"})).json()
    assert b == {"clicked": 1, "entered": 0, "watched": 0, "ordered": 0, "became_leader": 0}
    growth = (await service.client.get("/api/v1/leaders/lead-a/growth", params={"room": "room-1"})).json()
    assert growth["funnel"] == own


async def test_a_visitors_path_lists_their_steps_in_time_order(service: Any) -> None:
    await _walk(service)
    path = (await service.client.get("/api/v1/visitors/v-1/path", params={"room": "room-1"})).json()
    steps = [(s["step"], s["leader"]) for s in path["steps"]]
    assert steps == [("clicked", "lead-a"), ("entered", "lead-a"), ("watched", "lead-a"), ("ordered", "lead-a"),
                     ("became_leader", "lead-a")]
    times = [s["at"] for s in path["steps"]]
    assert times[:4] == [at(0), at(10), at(70), at(200)] and times == sorted(times)
    alone = (await service.client.get("/api/v1/visitors/v-4/path")).json()
    assert [s["step"] for s in alone["steps"]] == ["entered", "watched"]
    nobody = (await service.client.get("/api/v1/visitors/v-none/path", params={"room": "room-1"})).json()
    assert nobody["steps"] == []


async def test_the_board_ranks_leaders_by_invitations(service: Any) -> None:
    codes = await growth_room(service)
    for i in range(3):
        await visit(service, f"v-b{i}", codes["lead-b"])
    await visit(service, "v-a0", codes["lead-a"])
    board = (await service.client.get("/api/v1/rooms/room-1/leaderboard", params={"by": "invites"})).json()
    assert [(e["leader"], e["invites"]) for e in board["entries"]] == [("lead-b", 3), ("lead-a", 1)]


async def test_room_reads_open_to_the_key_ops_and_the_rooms_host_and_a_leader_to_their_own(service: Any) -> None:
    await _walk(service)
    client, token = service.client, service.ctx.token

    async def status(path: str, tok: str, **params: str) -> int:
        return (await client.get(path, params=params, headers={"Authorization": f"Bearer {tok}"})).status_code

    funnel = "/api/v1/rooms/room-1/funnel"
    assert await status(funnel, token("host", "room-1")) == 200
    assert await status(funnel, token("ops", "-")) == 200
    assert await status(funnel, token("host", "room-2")) == 401
    assert await status(funnel, token("leader", "lead-a")) == 401
    assert await status(funnel, token("leader", "lead-a"), leader="lead-a") == 200
    assert await status(funnel, token("leader", "lead-a"), leader="lead-b") == 401
    path = "/api/v1/visitors/v-1/path"
    assert await status(path, token("host", "room-1"), room="room-1") == 200
    assert await status(path, token("host", "room-1")) == 401
    assert await status(path, token("leader", "lead-a"), room="room-1") == 401
    growth = "/api/v1/leaders/lead-a/growth"
    assert await status(growth, token("leader", "lead-a"), room="room-1") == 200
    assert await status(growth, token("leader", "lead-b"), room="room-1") == 401
    assert (await client.get(funnel, params={"leader": "bad id!"})).status_code == 422
    assert (await client.get("/api/v1/rooms/nowhere/funnel")).status_code == 404
    assert (await client.get(growth, params={"room": "nowhere"})).status_code == 404
    assert (await client.get("/api/v1/leaders/nobody/growth")).status_code == 404
