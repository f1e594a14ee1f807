"""Live-only coupons on orders, the invitation task's bonus, and the visitor's "ordered" step (API.md, "Growth"),
on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from seed import START, order_body, seed_catalog, share_code
from sqlalchemy import func, select

from store import models

COUPON = {"threshold_cents": 10_000, "off_cents": 1_500, "live_only": True, "invited_only": False, "quota": 20}


async def put_coupon(service: Any, body: dict[str, Any], name: str = "LIVE15", room: str = "room-1") -> Any:
    return await service.put(f"/api/v1/rooms/{room}/coupons/{name}", body)


async def scalar(service: Any, statement: Any) -> Any:
    async with service.ctx.engine.connect() as conn:
        return (await conn.execute(statement)).scalar_one_or_none()


async def test_a_coupon_is_an_idempotent_upsert_whose_quota_never_drops_below_its_uses(service: Any) -> None:
    await seed_catalog(service)
    created = await put_coupon(service, COUPON)
    assert created.status_code == 201, created.text
    assert created.json() == {"room": "room-1", "coupon": "LIVE15", **COUPON, "used": 0, "remaining": 20}
    again = await put_coupon(service, COUPON)
    assert (again.status_code, again.json()) == (200, created.json())
    for i in range(3):
        body = order_body(f"o-{i}", f"v-{i}", [("tea", 1)])
        assert (await service.post("/api/v1/orders", {**body, "coupon": "LIVE15"})).status_code == 201
    before = await service.counts()
    lowered = await put_coupon(service, {**COUPON, "quota": 2})
    assert lowered.status_code == 409
    assert (lowered.json()["error"], lowered.json()["field"]) == ("quota_below_used", "quota")
    assert await service.counts() == before
    kept = await put_coupon(service, {"off_cents": 2_000, "quota": 3})
    assert kept.status_code == 200
    assert kept.json() == {"room": "room-1", "coupon": "LIVE15", **COUPON, "off_cents": 2_000, "quota": 3,
                          "used": 3, "remaining": 0}
    unlimited = await put_coupon(service, {"off_cents": 2_000, "quota": None})
    assert (unlimited.json()["quota"], unlimited.json()["remaining"]) == (None, None)


async def test_a_bad_coupon_body_or_an_unknown_room_is_refused_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    before = await service.counts()
    for body, field in (
        ({**COUPON, "off_cents": 0}, "off_cents"),
        ({**COUPON, "threshold_cents": -1}, "threshold_cents"),
        ({**COUPON, "quota": -1}, "quota"),
        ({**COUPON, "live_only": "yes"}, "live_only"),
        ({k: v for k, v in COUPON.items() if k != "off_cents"}, "off_cents"),
    ):
        response = await put_coupon(service, body)
        assert (response.status_code, response.json().get("field")) == (422, field), body
    assert (await put_coupon(service, COUPON, name="X" * 41)).status_code == 422
    assert (await put_coupon(service, COUPON, room="room-nope")).status_code == 404
    assert await service.counts() == before


async def test_an_order_with_a_coupon_pays_less_and_its_leader_earns_on_what_was_paid(service: Any) -> None:
    await seed_catalog(service)
    await put_coupon(service, COUPON)
    code = await share_code(service, "lead-a")
    body = {**order_body("o-1", "v-1", [("tea", 2)], code=code), "coupon": "LIVE15"}
    placed = await service.post("/api/v1/orders", body)
    assert placed.status_code == 201, placed.text
    answer = placed.json()
    assert (answer["coupon"], answer["discount_cents"], answer["total_cents"]) == ("LIVE15", 1_500, 24_100)
    # live rate 15% + first-hour bonus 2% on the 241.00 paid, not on the 256.00 subtotal
    assert answer["commission"]["amount_cents"] == 24_100 * 1_700 // 10_000
    replay = await service.post("/api/v1/orders", body)
    assert (replay.status_code, replay.json()) == (200, answer)
    other = await service.post("/api/v1/orders", {**body, "coupon": None})
    assert (other.status_code, other.json()["error"]) == (409, "idempotency_conflict")
    async with service.ctx.engine.connect() as conn:
        row = (await conn.execute(select(models.orders).where(models.orders.c.order == "o-1"))).one()
        used = (await conn.execute(select(models.coupons.c.used))).scalar_one()
    assert (row.coupon, row.discount_cents, row.total_cents, used) == ("LIVE15", 1_500, 24_100, 1)
    view = (await service.client.get("/api/v1/orders/o-1")).json()
    assert (view["total_cents"], view["coupon"], view["discount_cents"]) == (24_100, "LIVE15", 1_500)


async def test_an_order_without_a_coupon_answers_no_discount(service: Any) -> None:
    await seed_catalog(service)
    placed = await service.post("/api/v1/orders", order_body("o-1", "v-1", [("tea", 1)]))
    assert placed.status_code == 201
    assert (placed.json()["coupon"], placed.json()["discount_cents"], placed.json()["total_cents"]) == (
        None, 0, 12_800)


async def test_a_coupon_that_does_not_apply_is_a_422_naming_the_coupon_and_writes_nothing(service: Any) -> None:
    await seed_catalog(service)
    await put_coupon(service, COUPON)
    await put_coupon(service, {**COUPON, "live_only": False, "invited_only": True}, name="INVITED")
    before = await service.counts()
    early = (START - timedelta(minutes=5)).isoformat()
    for name, body, code in (
        ("NOPE", order_body("o-1", "v-1", [("tea", 1)]), "coupon_unknown"),
        ("LIVE15", order_body("o-1", "v-1", [("mango", 1)]), "coupon_below_threshold"),
        ("LIVE15", order_body("o-1", "v-1", [("tea", 1)], at=early), "coupon_not_live"),
        ("INVITED", order_body("o-1", "v-1", [("tea", 1)]), "coupon_not_invited"),
    ):
        response = await service.post("/api/v1/orders", {**body, "coupon": name})
        assert response.status_code == 422, response.text
        assert (response.json()["error"], response.json()["field"]) == (code, "coupon")
    bad = await service.post("/api/v1/orders", {**order_body("o-1", "v-1", [("tea", 1)]), "coupon": "no spaces!"})
    assert (bad.status_code, bad.json()["field"]) == (422, "coupon")
    assert await service.counts() == before


async def test_a_hundred_concurrent_orders_for_a_coupon_of_twenty_use_it_exactly_twenty_times(service: Any) -> None:
    await seed_catalog(service)
    assert (await put_coupon(service, COUPON)).status_code == 201

    async def buy(i: int) -> tuple[int, str | None]:
        body = {**order_body(f"race-{i}", f"visitor-{i}", [("tea", 1)]), "coupon": "LIVE15"}
        response = await service.post("/api/v1/orders", body)
        return response.status_code, response.json().get("error")

    answers = await asyncio.gather(*(buy(i) for i in range(100)))
    assert answers.count((201, None)) == 20
    assert answers.count((409, "coupon_exhausted")) == 80
    used = await scalar(service, select(models.coupons.c.used))
    with_coupon = await scalar(
        service, select(func.count()).select_from(models.orders).where(models.orders.c.coupon == "LIVE15")
    )
    assert used == with_coupon == 20
    assert (await service.post("/api/v1/orders", {**order_body("late", "v-late", [("tea", 1)]),
                                                  "coupon": "LIVE15"})).status_code == 409


async def test_the_database_refuses_a_coupon_use_beyond_its_quota_even_if_the_writer_were_wrong(
    service: Any,
) -> None:
    await seed_catalog(service)
    await put_coupon(service, {**COUPON, "quota": 1})
    async with service.ctx.engine.connect() as conn:
        from server.services.order_growth_rows import _TAKE

        result = await conn.execute(_TAKE, {"k_room": "room-1", "k_coupon": "LIVE15", "n": 2})
        assert result.rowcount == 0
        await conn.rollback()


async def test_a_completed_task_raises_the_leaders_rate_only_on_orders_placed_after_it(service: Any) -> None:
    await seed_catalog(service)
    code = await share_code(service, "lead-c")
    done_at = START + timedelta(hours=2)  # live, past the first hour: 15%
    async with service.ctx.engine.begin() as conn:
        await conn.execute(models.room_tasks.insert().values(
            room="room-1", task="t-1", title="邀请10人", goal=10, min_watch_s=300, reward_points=10,
            bonus_bp=500, updated_at=START))
        await conn.execute(models.task_progress.insert().values(
            room="room-1", task="t-1", leader="lead-c", watched=10, done_at=done_at))
    before = await service.post("/api/v1/orders", order_body(
        "o-before", "v-1", [("tea", 1)], code=code, at=(done_at - timedelta(seconds=1)).isoformat()))
    after = await service.post("/api/v1/orders", order_body(
        "o-after", "v-2", [("tea", 1)], code=code, at=(done_at + timedelta(seconds=1)).isoformat()))
    assert before.status_code == after.status_code == 201, (before.text, after.text)
    assert before.json()["commission"]["amount_cents"] == 12_800 * 1_500 // 10_000
    assert after.json()["commission"]["amount_cents"] == 12_800 * 2_000 // 10_000


async def test_ordering_records_the_visitors_ordered_step_once_at_the_earliest_order(service: Any) -> None:
    await seed_catalog(service)
    code = await share_code(service, "lead-a")
    seen = START - timedelta(hours=1)
    async with service.ctx.engine.begin() as conn:  # a visitor already in the room (a heartbeat, a click)
        await conn.execute(models.viewers.insert().values(
            room="room-1", visitor="v-seen", leader=None, first_seen=seen, last_seen=seen, watched_us=7))
    first = START + timedelta(minutes=10)
    second = START + timedelta(minutes=20)
    for order, visitor, at in (("o-2", "v-seen", second), ("o-1", "v-seen", first), ("o-3", "v-new", first)):
        body = order_body(order, visitor, [("tea", 1)], code=code, at=at.isoformat())
        assert (await service.post("/api/v1/orders", body)).status_code == 201
    async with service.ctx.engine.connect() as conn:
        rows = {r.visitor: r for r in await conn.execute(select(models.viewers))}
    old = rows["v-seen"]
    assert (old.first_seen, old.last_seen, old.ordered_at, old.leader, old.watched_us) == (
        seen, second, first, "lead-a", 7)
    new = rows["v-new"]
    assert (new.first_seen, new.last_seen, new.ordered_at, new.leader) == (first, first, first, "lead-a")


async def test_orders_of_one_visitor_in_one_batch_make_one_viewer_row(service: Any) -> None:
    await seed_catalog(service)
    at = [START + timedelta(minutes=m) for m in (30, 10, 20)]
    responses = await asyncio.gather(*(
        service.post("/api/v1/orders", order_body(f"o-{i}", "v-1", [("tea", 1)], at=t.isoformat()))
        for i, t in enumerate(at)
    ))
    assert [r.status_code for r in responses] == [201, 201, 201]
    async with service.ctx.engine.connect() as conn:
        [row] = list(await conn.execute(select(models.viewers)))
    assert (row.first_seen, row.last_seen, row.ordered_at, row.leader) == (min(at), max(at), min(at), None)
