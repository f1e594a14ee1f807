"""Becoming a leader in the room, and a leader's prospects (API.md, "Growth"), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from growth_seed import beat, events, growth_room, rows, visit
from seed import order_body

from store import models

NEW = {"visitor": "v-1", "leader": "lead-new", "name": "赵新团长", "phone": "13900139000", "community": "滨江花园"}


async def test_a_visitor_becomes_a_leader_under_the_leader_they_are_bound_to_with_a_share_code(
    service: Any,
) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"])
    made = await service.post("/api/v1/rooms/room-1/leaders", NEW)
    assert made.status_code == 201, made.text
    answer = made.json()
    assert answer["leader"] == "lead-new" and answer["upline"] == "lead-a" and answer["code"]
    [row] = await rows(service, models.leaders, models.leaders.c.leader == "lead-new")
    assert (row.upline, row.visitor, row.recruited_in, row.phone) == ("lead-a", "v-1", "room-1", "13900139000")
    [recruited] = await events(service, "leader_recruited")
    assert recruited["upline"] == "lead-a" and recruited["name"] == "赵新团长"
    assert (await visit(service, "v-2", answer["code"]))["leader"] == "lead-new"  # the code works at once
    [viewer] = await rows(service, models.viewers, models.viewers.c.visitor == "v-1")
    assert viewer.became_leader_at is not None
    growth = (await service.client.get("/api/v1/leaders/lead-a/growth", params={"room": "room-1"})).json()
    assert [(r["leader"], r["name"]) for r in growth["recruits"]] == [("lead-new", "赵新团长")]
    assert growth["funnel"]["became_leader"] == 1


async def test_the_same_recruit_again_answers_the_same_and_writes_nothing(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"])
    first = await service.post("/api/v1/rooms/room-1/leaders", NEW)
    before = await service.counts()
    again = await service.post("/api/v1/rooms/room-1/leaders", NEW)
    assert again.status_code == 200 and again.json() == first.json()
    assert await service.counts() == before


async def test_a_visitor_bound_to_nobody_becomes_a_leader_without_upline(service: Any) -> None:
    await growth_room(service)
    made = await service.post("/api/v1/rooms/room-1/leaders", {**NEW, "visitor": "v-alone"})
    assert made.status_code == 201 and made.json()["upline"] is None


async def test_a_taken_leader_id_or_a_visitor_already_a_leader_is_409_and_writes_nothing(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"])
    assert (await service.post("/api/v1/rooms/room-1/leaders", NEW)).status_code == 201
    cases = [
        ({**NEW, "leader": "lead-b"}, 409, "leader"),  # a leader of the catalog
        ({**NEW, "visitor": "v-9"}, 409, "leader"),  # lead-new, made by another visitor
        ({**NEW, "leader": "lead-other"}, 409, "visitor"),  # v-1 is already lead-new
        ({**NEW, "leader": "bad id!"}, 422, "leader"),
        ({**NEW, "name": ""}, 422, "name"),
        ({k: v for k, v in NEW.items() if k != "visitor"}, 422, "visitor"),
    ]
    for body, status, field in cases:
        before = await service.counts()
        answer = await service.post("/api/v1/rooms/room-1/leaders", body)
        assert answer.status_code == status and answer.json()["field"] == field, (body, answer.text)
        assert await service.counts() == before
    before = await service.counts()
    assert (await service.post("/api/v1/rooms/nowhere/leaders", {**NEW, "leader": "x"})).status_code == 404
    assert await service.counts() == before


async def test_prospects_are_the_leaders_own_visitors_who_have_not_ordered(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"], 0)
    await visit(service, "v-2", codes["lead-a"], 10)
    await visit(service, "v-3", codes["lead-a"], 20)
    await visit(service, "v-b", codes["lead-b"], 30)
    await beat(service, "v-2", 40)
    await beat(service, "v-2", 70)
    ordered = await service.post("/api/v1/orders", order_body("o-1", "v-3", [("tea", 1)], code=codes["lead-a"]))
    assert ordered.status_code == 201, ordered.text
    answer = (await service.client.get("/api/v1/leaders/lead-a/prospects", params={"room": "room-1"})).json()
    listed = {p["visitor"]: p for p in answer["prospects"]}
    assert set(listed) == {"v-1", "v-2"}  # not lead-b's v-b, not v-3 who ordered
    assert listed["v-2"]["watched_s"] == 30 and listed["v-1"]["tags"] == [] and listed["v-1"]["note"] == ""
    assert [p["visitor"] for p in answer["prospects"]] == ["v-2", "v-1"]  # last seen first
    other = (await service.client.get("/api/v1/leaders/lead-b/prospects", params={"room": "room-1"})).json()
    assert [p["visitor"] for p in other["prospects"]] == ["v-b"]


async def test_a_leader_tags_their_own_prospect_and_never_another_leaders(service: Any) -> None:
    codes = await growth_room(service)
    await visit(service, "v-1", codes["lead-a"])
    await visit(service, "v-b", codes["lead-b"])
    token = service.ctx.token("leader", "lead-a")
    mine = {"Authorization": f"Bearer {token}"}
    noted = await service.client.put("/api/v1/leaders/lead-a/prospects/v-1", headers=mine,
                                     json={"tags": [" 宝妈 ", "爱喝茶", "宝妈", ""], "note": "周末  有空"})
    assert noted.status_code == 201, noted.text
    assert noted.json() == {"leader": "lead-a", "visitor": "v-1", "tags": ["宝妈", "爱喝茶"], "note": "周末 有空"}
    [event] = await events(service, "prospect_noted")
    assert event["tags"] == ["宝妈", "爱喝茶"]
    listed = (await service.client.get("/api/v1/leaders/lead-a/prospects", headers=mine)).json()
    assert listed["prospects"][0]["tags"] == ["宝妈", "爱喝茶"]
    kept = await service.client.put("/api/v1/leaders/lead-a/prospects/v-1", headers=mine, json={"tags": ["老客"]})
    assert kept.status_code == 200 and kept.json()["note"] == "周末 有空"
    before = await service.counts()
    others = await service.client.put("/api/v1/leaders/lead-a/prospects/v-b", headers=mine, json={"tags": ["x"]})
    assert others.status_code == 404 and others.json()["field"] == "visitor"
    as_b = await service.client.put("/api/v1/leaders/lead-b/prospects/v-b", headers=mine, json={"tags": ["x"]})
    assert as_b.status_code == 403
    peek = await service.client.get("/api/v1/leaders/lead-b/prospects", headers=mine)
    assert peek.status_code == 401
    too_many = await service.client.put("/api/v1/leaders/lead-a/prospects/v-1", json={"tags": list("abcdefghijk")})
    assert too_many.status_code == 422 and too_many.json()["field"] == "tags"
    too_long = await service.client.put("/api/v1/leaders/lead-a/prospects/v-1", json={"tags": ["x" * 21]})
    assert too_long.status_code == 422 and too_long.json()["field"] == "tags[0]"
    assert await service.counts() == before
