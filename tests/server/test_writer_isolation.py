"""One bad command never hurts its batch (issue #10): a command that fails for any reason fails alone, the rest of its
batch commits in the same transaction, and a batch whose transaction fails as a whole is split in halves, not redone
one command at a time. On SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from seed import order_body, seed_catalog, share_code
from sqlalchemy import insert, select

from domain.errors import DomainError
from server.api.orders import OrderBody, order_answer, order_request
from server.services.orders import OrderAnswer, PlaceOrder
from server.services.visits import RecordVisit, VisitRequest
from store import models
from store.engine import create_engine
from store.migrate import upgrade
from store.uow import Tx, Writer


@contextlib.asynccontextmanager
async def migrated_writer(database_url: str) -> AsyncIterator[Writer]:
    upgrade(database_url)
    engine = create_engine(database_url)
    writer = Writer(engine, lambda: datetime.now(UTC))
    writer.start()
    try:
        yield writer
    finally:
        await writer.stop()
        await engine.dispose()


async def together(writer: Writer, calls: list[Callable[[], Awaitable[Any]]]) -> list[Any]:
    """Run `calls` as ONE batch: a gate command holds the writer until all of them are queued behind it."""
    entered, gate = asyncio.Event(), asyncio.Event()

    async def hold(tx: Tx) -> None:
        entered.set()
        await gate.wait()

    held = asyncio.create_task(writer.call(hold))
    await asyncio.wait_for(entered.wait(), 10)  # the writer is inside the gate's transaction
    tasks = [asyncio.create_task(call()) for call in calls]
    await asyncio.sleep(0.05)  # every call has queued its command
    gate.set()
    await held
    return await asyncio.gather(*tasks, return_exceptions=True)


def counter(name: str, *, then_fail: bool = False) -> Callable[[Tx], Awaitable[str]]:
    async def write(tx: Tx) -> str:
        await tx.conn.execute(insert(models.counters).values(name=name, value=1))
        if then_fail:
            raise KeyError(f"a bug after {name} was written")  # not a DomainError: not a rule refusing
        return name

    return write


async def counter_names(writer: Writer) -> set[str]:
    async with writer.engine.connect() as conn:
        return {row.name for row in await conn.execute(select(models.counters.c.name))}


async def test_a_command_failing_with_a_bug_fails_alone_and_the_rest_commit_in_the_same_transaction(
    database_url: str,
) -> None:
    async with migrated_writer(database_url) as writer:
        before = writer.batches
        results = await together(
            writer,
            [lambda i=i: writer.call(counter(f"c{i}", then_fail=(i == 4))) for i in range(10)],  # type: ignore[misc]
        )
        assert writer.batches - before == 2  # the gate's commit, then all ten in one
        assert writer.failed_transactions == 0
        assert isinstance(results[4], KeyError)  # its caller gets its own error
        assert [r for i, r in enumerate(results) if i != 4] == [f"c{i}" for i in range(10) if i != 4]
        assert await counter_names(writer) == {f"c{i}" for i in range(10) if i != 4}  # nothing of c4


async def test_a_batch_whose_transaction_fails_is_split_in_halves_not_redone_one_by_one(
    database_url: str,
) -> None:
    async def spoils_the_commit(tx: Tx) -> str:
        async def fail() -> None:
            raise RuntimeError("the transaction cannot commit")

        tx.before_commit["spoiler"] = fail  # nothing wrong with the command itself: its transaction fails
        return "spoiler"

    async with migrated_writer(database_url) as writer:
        before = writer.batches
        calls: list[Callable[[], Awaitable[Any]]] = [
            lambda i=i: writer.call(counter(f"c{i}"))
            for i in range(16)  # type: ignore[misc]
        ]
        calls[11] = lambda: writer.call(spoils_the_commit)
        results = await together(writer, calls)
        assert isinstance(results[11], RuntimeError)
        assert await counter_names(writer) == {f"c{i}" for i in range(16) if i != 11}
        # 16 fails, 8 commits, 8 fails, 4 commits, 4 fails, 2 commits, 2 fails, 1 commits, 1 fails: 9 transactions,
        # where retrying each alone would have taken 17.
        assert writer.failed_transactions == 5
        assert writer.batches - before == 1 + 4  # the gate, then the four good halves


def _request(order: str, items: list[tuple[str, int]]) -> Any:
    return order_request(OrderBody.model_validate(order_body(order, f"visitor-{order}", items)))


class BuggyOrder(PlaceOrder):
    """An order whose decision fails with a bug, not with a rule's refusal."""

    def decide(self, tx: Tx, book: Any, snapshot: Any) -> OrderAnswer:
        raise ZeroDivisionError("a bug in deciding this order")


async def test_a_poisoned_order_in_a_burst_leaves_every_other_order_of_its_batch_accepted(
    service: Any,
) -> None:
    await seed_catalog(service)
    ctx, writer = service.ctx, service.ctx.writer

    def place(i: int) -> Callable[[], Awaitable[Any]]:
        kind = BuggyOrder if i == 7 else PlaceOrder
        request = _request(f"burst-{i}", [("tea", 1), ("mango", 1)])
        return lambda: writer.submit(kind(request, ctx, order_answer(ctx)))

    before = writer.batches
    results = await together(writer, [place(i) for i in range(20)])
    assert (
        writer.batches - before == 2 and writer.failed_transactions == 0
    )  # the gate, then the burst at once
    assert isinstance(results[7], ZeroDivisionError)
    assert all(r.status_code == 201 for i, r in enumerate(results) if i != 7)
    assert (await service.client.get("/api/v1/orders/burst-7")).status_code == 404
    stock = (await service.client.get("/api/v1/skus/mango/stock")).json()
    assert sum(w["reserved"] for w in stock["warehouses"]) == 19


async def test_an_order_whose_time_cannot_be_placed_in_the_calendar_fails_alone_inside_its_batch(
    service: Any,
) -> None:
    await seed_catalog(service)
    ctx, writer = service.ctx, service.ctx.writer
    # The last instant of year 9999 at UTC-12 is past year 9999 in UTC+8: the day it counts for cannot be computed.
    edge = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-12)))

    def place(i: int) -> Callable[[], Awaitable[Any]]:
        request = _request(f"edge-{i}", [("tea", 2)])
        if i == 3:
            request = dataclasses.replace(request, at=edge)
        return lambda: writer.submit(PlaceOrder(request, ctx, order_answer(ctx)))

    before = writer.batches
    results = await together(writer, [place(i) for i in range(8)])
    assert writer.batches - before == 2 and writer.failed_transactions == 0
    assert isinstance(results[3], Exception)  # refused or failed, but alone
    assert [r.status_code for i, r in enumerate(results) if i != 3] == [201] * 7
    async with ctx.engine.connect() as conn:
        stored = {row.order for row in await conn.execute(select(models.orders.c.order))}
        outbox = [row.payload for row in await conn.execute(select(models.outbox.c.payload))]
    assert stored == {f"edge-{i}" for i in range(8) if i != 3}
    assert not [p for p in outbox if p.get("order") == "edge-3"]  # not one of its events either
    stock = (await service.client.get("/api/v1/skus/tea/stock")).json()
    assert sum(w["reserved"] for w in stock["warehouses"]) == 14


async def test_a_visit_refused_inside_a_burst_of_visits_leaves_the_others_bound_in_the_same_commit(
    service: Any,
) -> None:
    await seed_catalog(service)
    code = await share_code(service, "lead-a")
    writer = service.ctx.writer
    # A first-touch binding made on the last days of year 9999 would be protected past the calendar's end.
    too_late = datetime(9999, 12, 30, tzinfo=UTC)

    def visit(i: int) -> Callable[[], Awaitable[Any]]:
        request = VisitRequest(f"fan-{i}", code, too_late if i == 2 else None)
        return lambda: writer.submit(RecordVisit(request))

    before = writer.batches
    results = await together(writer, [visit(i) for i in range(6)])
    assert writer.batches - before == 2 and writer.failed_transactions == 0  # the gate, then the six at once
    assert isinstance(results[2], DomainError)
    assert [r["binding"] for i, r in enumerate(results) if i != 2] == ["new"] * 5
    async with service.ctx.engine.connect() as conn:
        bound = {row.visitor for row in await conn.execute(select(models.bindings.c.visitor))}
    assert bound == {f"fan-{i}" for i in range(6) if i != 2}
