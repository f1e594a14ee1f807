"""The time-based job: commission settles once the after-sale window closes, quiet parcels are raised as
stuck; through `POST /api/v1/admin/settle`, `liveroom settle --as-of` and the scheduler (issue #3).
SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from seed import order_body, seed_catalog, share_code
from sqlalchemy import func, select

from liveroom import cli
from server.services.scheduler import Scheduler
from server.services.settlement import settle_all
from store import models

DAY = timedelta(days=1)


async def place(svc: Any, order: str) -> dict[str, Any]:
    """An order of one tea through lead-b's link (lead-a is lead-b's upline): its one parcel."""
    code = await share_code(svc, "lead-b")
    placed = await svc.post("/api/v1/orders", order_body(order, f"buyer-{order}", [("tea", 1)], code=code))
    assert placed.status_code == 201, placed.text
    return dict(placed.json()["shipments"][0])


async def report(svc: Any, shipment: dict[str, Any], state: str, at: datetime) -> None:
    """The carrier reports the event when it happens (the clock moves to `at`): a report from the future is
    refused."""
    svc.clock.set(max(svc.clock(), at))
    response = await svc.post(
        "/api/v1/tracking",
        {
            "carrier": shipment["carrier"],
            "waybill": shipment["waybill"],
            "state": state,
            "at": at.isoformat(),
        },
    )
    assert response.status_code == 200, response.text


async def settle(svc: Any, as_of: datetime) -> dict[str, int]:
    response = await svc.post("/api/v1/admin/settle", {"as_of": as_of.isoformat()})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def commission_of(svc: Any, leader: str) -> dict[str, Any]:
    response = await svc.client.get(f"/api/v1/leaders/{leader}/commission")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def outbox_count(svc: Any, kind: str) -> int:
    async with svc.ctx.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).select_from(models.outbox).where(models.outbox.c.kind == kind)
                )
            ).scalar_one()
        )


@pytest.fixture
async def signed(service: Any) -> datetime:
    """Order o-1 placed at the room's start and signed 20 hours later; returns the signature time. The room's
    after-sale window is 7 days."""
    await seed_catalog(service)
    t0 = service.clock()
    parcel = await place(service, "o-1")
    await report(service, parcel, "collected", t0 + timedelta(hours=1))
    await report(service, parcel, "signed", t0 + timedelta(hours=20))
    mine = await commission_of(service, "lead-b")
    assert mine["frozen_cents"] > 0 and mine["pending_cents"] == 0
    return t0 + timedelta(hours=20)


async def test_settling_inside_the_after_sale_window_settles_nothing(service: Any, signed: datetime) -> None:
    before = await service.counts()
    assert await settle(service, signed + 7 * DAY - timedelta(seconds=1)) == {"settled": 0, "stuck": 0}
    assert await service.counts() == before
    assert (await commission_of(service, "lead-b"))["settled_cents"] == 0


async def test_settling_after_the_window_settles_every_frozen_line_once(
    service: Any, signed: datetime
) -> None:
    frozen = (await commission_of(service, "lead-b"))["frozen_cents"]
    assert await settle(service, signed + 7 * DAY) == {"settled": 2, "stuck": 0}  # leader line and team line
    mine = await commission_of(service, "lead-b")
    assert (mine["frozen_cents"], mine["settled_cents"]) == (0, frozen)
    assert (await commission_of(service, "lead-a"))["settled_cents"] > 0
    after_first = await service.counts()
    assert await settle(service, signed + 30 * DAY) == {"settled": 0, "stuck": 0}
    assert await service.counts() == after_first  # nothing settles twice, not even an event


async def test_an_open_after_sale_blocks_settlement_until_it_is_resolved(
    service: Any, signed: datetime
) -> None:
    opened = await service.post(
        "/api/v1/orders/o-1/after-sales", {"kind": "refund", "amount_cents": 1_000, "reason": "包装破损"}
    )
    assert opened.status_code == 201, opened.text
    assert (await settle(service, signed + 10 * DAY))["settled"] == 0
    after_sale = opened.json()["after_sale"]
    rejected = await service.post(f"/api/v1/after-sales/{after_sale}/resolve", {"approved": False})
    assert rejected.status_code == 200, rejected.text
    assert (await settle(service, signed + 10 * DAY))["settled"] == 2


async def test_an_order_never_signed_for_never_settles(service: Any) -> None:
    await seed_catalog(service)
    parcel = await place(service, "o-1")
    await report(service, parcel, "in_transit", service.clock() + timedelta(hours=5))
    assert (await settle(service, service.clock() + 365 * DAY))["settled"] == 0
    mine = await commission_of(service, "lead-b")
    assert mine["pending_cents"] > 0 and mine["settled_cents"] == 0


async def test_a_quiet_parcel_is_raised_stuck_once_per_state(service: Any) -> None:
    await seed_catalog(service)
    t0 = service.clock()
    parcel = await place(service, "o-1")
    collected_at = t0 + timedelta(hours=1)
    await report(service, parcel, "collected", collected_at)
    # 48 hours of silence are allowed in `collected`.
    assert (await settle(service, collected_at + timedelta(hours=48)))["stuck"] == 0
    assert (await settle(service, collected_at + timedelta(hours=49)))["stuck"] == 1
    assert (await settle(service, collected_at + timedelta(hours=72)))["stuck"] == 0  # raised once
    assert await outbox_count(service, "parcel_stuck") == 1
    moving_at = collected_at + timedelta(hours=73)
    await report(service, parcel, "in_transit", moving_at)  # a new state may be stuck again, sooner
    assert (await settle(service, moving_at + timedelta(hours=24)))["stuck"] == 0
    assert (await settle(service, moving_at + timedelta(hours=25)))["stuck"] == 1
    assert await outbox_count(service, "parcel_stuck") == 2


async def test_a_backlog_settles_in_bounded_transactions(service: Any) -> None:
    await seed_catalog(service)
    t0 = service.clock()
    for order in ("o-1", "o-2", "o-3"):
        parcel = await place(service, order)
        await report(service, parcel, "signed", t0 + timedelta(hours=20))
    writer = service.ctx.writer
    batches = writer.batches
    report_ = await settle_all(writer, t0 + 30 * DAY, chunk=1)
    assert report_ == {"settled": 6, "stuck": 0}
    assert writer.batches - batches >= 3  # one transaction per order at chunk=1
    assert (await commission_of(service, "lead-b"))["frozen_cents"] == 0


async def test_admin_settle_without_a_body_settles_as_of_the_clock(service: Any, signed: datetime) -> None:
    service.clock.set(signed + 6 * DAY)
    assert (await service.client.post("/api/v1/admin/settle")).json() == {"settled": 0, "stuck": 0}
    service.clock.set(signed + 8 * DAY)
    response = await service.client.post("/api/v1/admin/settle")
    assert response.status_code == 200, response.text
    assert response.json() == {"settled": 2, "stuck": 0}


async def test_liveroom_settle_command_settles_as_of_the_given_time(
    service: Any, signed: datetime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LIVEROOM_DATABASE_URL", service.ctx.settings.database_url)
    too_early = (signed + 2 * DAY).isoformat()
    # The command runs its own event loop, so it runs in a thread beside the test's.
    assert await asyncio.to_thread(cli.main, ["settle", "--as-of", too_early]) == 0
    assert (await commission_of(service, "lead-b"))["settled_cents"] == 0
    assert await asyncio.to_thread(cli.main, ["settle", "--as-of", (signed + 8 * DAY).isoformat()]) == 0
    assert "settled 2 commission lines" in capsys.readouterr().out
    mine = await commission_of(service, "lead-b")
    assert mine["frozen_cents"] == 0 and mine["settled_cents"] > 0


async def test_the_scheduler_settles_on_its_clock_and_survives_a_failed_run(
    service: Any, signed: datetime
) -> None:
    failures = iter([RuntimeError("clock glitch")])

    def clock() -> datetime:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        return signed + 8 * DAY

    scheduler = Scheduler(dataclasses.replace(service.ctx, clock=clock), interval=0.01)
    scheduler.start()
    try:
        for _ in range(500):
            if scheduler.runs:
                break
            await asyncio.sleep(0.01)
    finally:
        await scheduler.stop()
    assert scheduler.failures == 1 and scheduler.runs >= 1
    assert (await commission_of(service, "lead-b"))["settled_cents"] > 0
