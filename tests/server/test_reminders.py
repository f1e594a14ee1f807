"""Pre-live reminders (issue 12, API.md "Growth"): visitors who clicked a share code before the room started and had
not entered when it did are queued once the room starts; with LIVEROOM_NOTIFY_URL they are POSTed there, signed,
retried with backoff, never twice once acknowledged. The receiver is a real HTTP server on a loopback port.
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
import uvicorn
from realparts import free_port
from seed import SECRET, START, seed_catalog, share_code
from sqlalchemy import func, select

from server.api.answers import Reminders
from server.services import reminders
from server.services.notifier import Notifier
from server.services.scheduler import Scheduler
from store import models

BEFORE = START - timedelta(hours=2)  # the clock when the leaders share their links
MINUTE = timedelta(minutes=1)


@dataclass
class Receiver:
    """A webhook receiver on a free loopback port: records each request's headers and raw body, and answers the
    statuses it is told to, one per request (200 once they run out)."""

    answers: list[int] = field(default_factory=list)
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.requests.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        status = self.answers.pop(0) if self.answers else 200
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"not now"})

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    found = Receiver(url=f"http://127.0.0.1:{port}/hooks/liveroom")
    server = uvicorn.Server(uvicorn.Config(found, host="127.0.0.1", port=port, lifespan="off", log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield found
    finally:
        server.should_exit = True
        await task


@contextlib.asynccontextmanager
async def notifier_for(receiver: Receiver) -> AsyncIterator[Notifier]:
    notifier = Notifier(receiver.url, SECRET)
    try:
        yield notifier
    finally:
        await notifier.close()


async def deliver(service: Any, notifier: Notifier, **kwargs: Any) -> dict[str, int]:
    return await reminders.deliver_due(service.ctx.writer, notifier, service.ctx.settings.public_url, **kwargs)


async def viewer(service: Any, visitor: str, leader: str | None, clicked: datetime | None,
                 entered: datetime | None = None) -> None:
    """A viewer of room-1 as the visits and presence paths record one: when they clicked and when they entered."""
    seen = [at for at in (clicked, entered) if at is not None]
    async with service.ctx.engine.begin() as conn:
        await conn.execute(models.viewers.insert().values(
            room="room-1", visitor=visitor, leader=leader, first_seen=min(seen), last_seen=max(seen),
            watched_us=0, clicked_at=clicked, entered_at=entered,
        ))


async def listed(service: Any, **kwargs: Any) -> list[dict[str, Any]]:
    response = await service.client.get("/api/v1/rooms/room-1/reminders", **kwargs)
    assert response.status_code == 200, response.text
    Reminders.model_validate_json(response.content)  # strict: the answer is what /openapi.json documents
    return list(response.json()["reminders"])


async def states(service: Any) -> dict[str, str]:
    return {r["visitor"]: r["state"] for r in await listed(service)}


async def reminder_events(service: Any) -> list[dict[str, Any]]:
    async with service.ctx.engine.connect() as conn:
        rows = await conn.execute(
            select(models.outbox.c.payload).where(models.outbox.c.kind == "reminder_changed")
            .order_by(models.outbox.c.seq)
        )
        return [dict(r.payload) for r in rows]


@pytest.fixture
async def room(service: Any) -> Any:
    """room-1 (starts at START) seeded two hours before; lead-a has a live share link; one visitor, v-1, clicked
    lead-a's link an hour before the start and has not entered."""
    service.clock.set(BEFORE)
    await seed_catalog(service)
    await share_code(service, "lead-a")
    await viewer(service, "v-1", "lead-a", START - 60 * MINUTE)
    return service


async def test_without_a_notify_url_reminders_are_queued_at_the_start_and_stay_visible(room: Any) -> None:
    scheduler = Scheduler(room.ctx)
    assert room.ctx.settings.notify_url is None and scheduler.notifier is None
    assert (await scheduler.run_reminders())["queued"] == 0  # not started yet: nothing is queued
    room.clock.set(START + MINUTE)
    assert await scheduler.run_reminders() == {"queued": 1, "sent": 0, "retry": 0, "failed": 0}
    room.clock.advance(hours=3)
    await scheduler.run_reminders()
    assert await listed(room) == [{"visitor": "v-1", "leader": "lead-a", "state": "queued"}]
    assert [e["state"] for e in await reminder_events(room)] == ["queued"]


async def test_only_visitors_who_clicked_before_the_start_and_had_not_entered_by_then_are_reminded(room: Any) -> None:
    await viewer(room, "v-late", "lead-a", START - 30 * MINUTE, entered=START + 5 * MINUTE)
    await viewer(room, "v-early", "lead-a", START - 30 * MINUTE, entered=START - 10 * MINUTE)
    await viewer(room, "v-after", "lead-b", START + MINUTE)
    await viewer(room, "v-direct", None, None, entered=START - MINUTE)
    assert await listed(room) == []  # read before the start: nothing queued yet
    room.clock.set(START + 10 * MINUTE)
    assert await states(room) == {"v-1": "queued", "v-late": "queued"}  # read after the start: queued on demand
    assert await reminders.queue_due(room.ctx) == 0  # once per room
    assert len(await reminder_events(room)) == 2


async def test_a_reminder_is_signed_with_the_hmac_of_its_raw_body(room: Any, receiver: Receiver) -> None:
    code = await share_code(room, "lead-a")
    room.clock.set(START + MINUTE)
    await reminders.queue_due(room.ctx)
    async with notifier_for(receiver) as notifier:
        assert (await deliver(room, notifier))["sent"] == 1
    [(headers, body)] = receiver.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-liveroom-signature"], expected)
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {
        "room": "room-1",
        "visitor": "v-1",
        "leader": "lead-a",
        "title": "双十二预热专场",
        "starts_at": START.isoformat(),
        "url": f"{room.ctx.settings.public_url}/r/{code}",
    }
    assert await states(room) == {"v-1": "sent"}


async def test_a_refused_reminder_is_tried_again_after_the_backoff(room: Any, receiver: Receiver) -> None:
    receiver.answers = [500]
    room.clock.set(START + MINUTE)
    await reminders.queue_due(room.ctx)
    async with notifier_for(receiver) as notifier:
        assert (await deliver(room, notifier))["retry"] == 1
        assert len(receiver.requests) == 1 and await states(room) == {"v-1": "queued"}
        room.clock.advance(seconds=5)  # the first wait (10 s) has not passed
        await deliver(room, notifier)
        assert len(receiver.requests) == 1
        room.clock.advance(seconds=5)
        assert (await deliver(room, notifier))["sent"] == 1
    assert len(receiver.requests) == 2
    assert receiver.requests[0][1] == receiver.requests[1][1]  # the same reminder, the same signed body
    assert await states(room) == {"v-1": "sent"}


async def test_an_acknowledged_reminder_is_never_sent_again(room: Any, receiver: Receiver) -> None:
    for n in range(2, 12):
        await viewer(room, f"v-{n}", "lead-b", START - n * MINUTE)
    room.clock.set(START + MINUTE)
    await reminders.queue_due(room.ctx)
    async with notifier_for(receiver) as notifier, notifier_for(receiver) as other:
        # two senders at once (as two worker processes would): each reminder is claimed by one of them
        first, second = await asyncio.gather(deliver(room, notifier, chunk=3), deliver(room, other, chunk=3))
        assert first["sent"] + second["sent"] == 11
        for _ in range(3):
            room.clock.advance(hours=2)
            assert await deliver(room, notifier) == {"sent": 0, "retry": 0, "failed": 0}
    assert sorted(b["visitor"] for b in receiver.bodies()) == sorted(["v-1", *(f"v-{n}" for n in range(2, 12))])
    assert set((await states(room)).values()) == {"sent"}
    events = await reminder_events(room)
    assert sorted(e["state"] for e in events) == ["queued"] * 11 + ["sent"] * 11


async def test_a_reminder_fails_for_good_once_its_retries_are_used_up(room: Any, receiver: Receiver) -> None:
    receiver.answers = [500, 503, 502, 200]
    room.clock.set(START + MINUTE)
    async with notifier_for(receiver) as notifier:
        await reminders.queue_due(room.ctx)
        reports = [await deliver(room, notifier, retry_after=(0, 0)) for _ in range(3)]  # a try and two retries
        assert reports == [{"sent": 0, "retry": 1, "failed": 0}] * 2 + [{"sent": 0, "retry": 0, "failed": 1}]
        room.clock.advance(days=1)
        await deliver(room, notifier, retry_after=(0, 0))
    assert len(receiver.requests) == 3
    assert await states(room) == {"v-1": "failed"}
    assert [e["state"] for e in await reminder_events(room)] == ["queued", "failed"]


async def test_an_unreachable_receiver_counts_as_a_failed_attempt(room: Any) -> None:
    room.clock.set(START + MINUTE)
    await reminders.queue_due(room.ctx)
    async with contextlib.AsyncExitStack() as stack:
        notifier = Notifier(f"http://127.0.0.1:{free_port()}/nobody", SECRET, timeout=2)
        stack.push_async_callback(notifier.close)
        assert (await deliver(room, notifier))["retry"] == 1
    async with room.ctx.engine.connect() as conn:
        row = (await conn.execute(select(models.reminders))).one()
    assert (row.state, row.attempts, row.next_at) == ("queued", 1, START + MINUTE + timedelta(seconds=10))


async def test_the_scheduler_queues_and_delivers_reminders_when_a_notify_url_is_set(
    room: Any, receiver: Receiver
) -> None:
    room.clock.set(START + MINUTE)
    settings = dataclasses.replace(room.ctx.settings, notify_url=receiver.url)
    scheduler = Scheduler(dataclasses.replace(room.ctx, settings=settings), reminder_interval=0.01)
    scheduler.start()
    try:
        for _ in range(1_000):  # until the acknowledgement is recorded: stopping earlier cancels the recording
            if receiver.requests and await states(room) == {"v-1": "sent"}:
                break
            await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert scheduler.reminder_failures == 0
    assert [b["visitor"] for b in receiver.bodies()] == ["v-1"]
    assert await states(room) == {"v-1": "sent"}


async def test_the_reminders_of_a_room_open_to_the_api_key_ops_and_that_rooms_host(room: Any) -> None:
    room.clock.set(START + MINUTE)
    path = "/api/v1/rooms/room-1/reminders"
    for token in (room.ctx.token("host", "room-1"), room.ctx.token("ops", "-")):
        answer = await room.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 200, answer.text
    for token in (room.ctx.token("host", "room-2"), room.ctx.token("leader", "lead-a"), "forged"):
        answer = await room.client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 401, answer.text
    assert (await room.client.get(path, headers={"Authorization": ""})).status_code == 401
    before = await room.counts()
    unknown = await room.client.get("/api/v1/rooms/room-9/reminders")
    assert unknown.status_code == 404 and unknown.json()["error"] == "not_found"
    assert await room.counts() == before
    async with room.ctx.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(models.reminders))).scalar_one() == 1
