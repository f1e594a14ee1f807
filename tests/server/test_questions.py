"""Questions for the host (API.md, "Growth"): a leader asks from the phone, the host answers from the wall; on SQLite
and PostgreSQL."""

from __future__ import annotations

from typing import Any

from seed import START, seed_catalog
from sqlalchemy import func, select

from store import models

ROOM_2 = {
    "title": "第二场",
    "starts_at": "2026-11-24T12:00:00+00:00",
    "skus": ["tea"],
    "base_rate_bp": 800,
    "after_sale_days": 7,
    "binding": {"mode": "last_touch"},
}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def ask(service: Any, body: dict[str, Any], token: str | None = None, room: str = "room-1") -> Any:
    headers = bearer(token) if token else None
    return await service.client.post(f"/api/v1/rooms/{room}/questions", json=body, headers=headers)


async def events(service: Any, kind: str) -> int:
    async with service.ctx.engine.connect() as conn:
        statement = select(func.count()).select_from(models.outbox).where(models.outbox.c.kind == kind)
        return int((await conn.execute(statement)).scalar_one())


async def test_a_leader_asks_the_host_answers_and_the_queue_shows_it_oldest_first(service: Any) -> None:
    await seed_catalog(service)
    leader = service.ctx.token("leader", "lead-a")
    host = service.ctx.token("host", "room-1")
    first = await ask(service, {"leader": "lead-a", "text": "  蓝色的  上身\n看看 ", "sku": "tea"}, leader)
    assert first.status_code == 201, first.text
    question = first.json()["question"]
    assert question.startswith("q-") and len(question) == 14
    assert (first.json()["text"], first.json()["leader_name"]) == ("蓝色的 上身 看看", "王团长")
    service.clock.advance(seconds=5)
    second = await ask(service, {"leader": "lead-b", "text": "有没有小码?"})
    assert second.status_code == 201
    queue = await service.client.get("/api/v1/rooms/room-1/questions", headers=bearer(host))
    assert queue.status_code == 200
    listed = queue.json()["questions"]
    assert [q["question"] for q in listed] == [question, second.json()["question"]]
    assert listed[0] == {"question": question, "leader": "lead-a", "leader_name": "王团长", "text": "蓝色的 上身 看看",
                         "sku": "tea", "asked_at": START.isoformat(), "answered_at": None}
    answered = await service.client.post(f"/api/v1/questions/{question}/answer", headers=bearer(host))
    assert answered.status_code == 200
    assert answered.json()["answered_at"] is not None
    again = await service.client.post(f"/api/v1/questions/{question}/answer", headers=bearer(host))
    assert (again.status_code, again.json()) == (200, answered.json())
    assert await events(service, "question_asked") == 2
    assert await events(service, "question_answered") == 1
    mine = await service.client.get("/api/v1/rooms/room-1/questions", headers=bearer(leader))
    assert [q["question"] for q in mine.json()["questions"]] == [question]
    assert mine.json()["questions"][0]["answered_at"] == answered.json()["answered_at"]


async def test_a_question_sent_again_with_its_own_id_is_asked_once(service: Any) -> None:
    await seed_catalog(service)
    body = {"leader": "lead-a", "text": "能便宜点吗", "question": "q-mine-1"}
    assert (await ask(service, body)).status_code == 201
    replay = await ask(service, body)
    assert (replay.status_code, replay.json()["question"]) == (200, "q-mine-1")
    other = await ask(service, {**body, "text": "别的问题"})
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_conflict")
    assert await events(service, "question_asked") == 1


async def test_a_leader_asks_only_in_their_own_name_and_only_a_hosts_own_room_is_answered(service: Any) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/rooms/room-2", ROOM_2)).status_code == 201
    other_leader = service.ctx.token("leader", "lead-b")
    before = await service.counts()
    refused = await ask(service, {"leader": "lead-a", "text": "hi"}, other_leader)
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    anonymous = await service.client.post("/api/v1/rooms/room-1/questions", json={"leader": "lead-a", "text": "x"},
                                          headers={"Authorization": ""})
    assert anonymous.status_code == 401
    host_token = service.ctx.token("host", "room-1")
    as_host = await ask(service, {"leader": "lead-a", "text": "hi"}, host_token)
    assert as_host.status_code == 403
    assert await service.counts() == before

    question = (await ask(service, {"leader": "lead-a", "text": "有货吗"})).json()["question"]
    other_host = service.ctx.token("host", "room-2")
    assert (await service.client.post(f"/api/v1/questions/{question}/answer",
                                      headers=bearer(other_host))).status_code == 403
    assert (await service.client.post(f"/api/v1/questions/{question}/answer",
                                      headers=bearer(other_leader))).status_code == 403
    assert (await service.client.post(f"/api/v1/questions/{question}/answer",
                                      headers={"Authorization": ""})).status_code == 401
    assert (await service.client.get("/api/v1/rooms/room-1/questions",
                                     headers=bearer(other_host))).status_code == 401
    ops = service.ctx.token("ops", "ops")
    listed = await service.client.get("/api/v1/rooms/room-1/questions", headers=bearer(ops))
    assert [q["question"] for q in listed.json()["questions"]] == [question]
    assert await events(service, "question_answered") == 0


async def test_a_bad_question_is_refused_naming_its_field_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    assert (await service.put("/api/v1/rooms/room-2", ROOM_2)).status_code == 201
    before = await service.counts()
    for body, room, status, field in (
        ({"leader": "lead-a", "text": "   \n "}, "room-1", 422, "text"),
        ({"leader": "lead-a", "text": "长" * 301}, "room-1", 422, "text"),
        ({"leader": "lead-a", "text": "ok", "sku": "mango"}, "room-2", 422, "sku"),
        ({"leader": "lead-a", "text": "ok", "sku": "nope"}, "room-1", 422, "sku"),
        ({"leader": "lead-nope", "text": "ok"}, "room-1", 404, "leader"),
        ({"leader": "lead-a"}, "room-1", 422, "text"),
        ({"leader": "lead-a", "text": 5}, "room-1", 422, "text"),
        ({"leader": "lead-a", "text": "ok"}, "room-nope", 404, "room"),
    ):
        response = await ask(service, body, room=room)
        assert (response.status_code, response.json().get("field")) == (status, field), (body, response.text)
    assert (await ask(service, {"leader": "lead-a", "text": " ".join(["字"] * 150)})).status_code == 201
    assert (await service.client.post("/api/v1/questions/q-nope/answer")).status_code == 404
    assert (await service.client.get("/api/v1/rooms/room-nope/questions")).status_code == 404
    after = await service.counts()
    assert after["questions"] == before["questions"] + 1
