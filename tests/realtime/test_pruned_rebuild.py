"""A rebuild survives pruning (issue 15, "Data that lasts"): the outbox pruned as far as it can go (retention zero,
every process caught up), a process loaded afterwards shows every topic exactly as one that never stopped.

The read models load their snapshot from the tables; what they read from the outbox itself (each room's newest
orders for its feed, the ops exceptions, the growth events, the gateway panel's recent waybills) is what
realtime/projections/retention.py keeps. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from realtime.projections import Projections
from realtime.projections.retention import read_by_load
from store import models, retention
from tests.realtime.test_rebuild import (
    assert_same_views,
    open_order_pages,
    run_first_half,
    run_second_half,
)


async def outbox_rows(app: Any) -> int:
    async with app.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(models.outbox))).scalar_one())


async def test_a_process_loaded_after_the_outbox_was_pruned_shows_every_topic_as_one_that_never_stopped(
    recorded_app: Any,
) -> None:
    app = recorded_app
    never_stopped = Projections(app.clock)
    await never_stopped.load(app.engine)
    answers = await run_first_half(app)
    await app.follow(never_stopped)
    await run_second_half(app, answers)
    await app.follow(never_stopped)
    await open_order_pages(never_stopped, app.engine)
    async with app.engine.begin() as conn:  # the only live process, caught up with every event
        await retention.write_mark(conn, "never-stopped", never_stopped.applied, app.clock())

    before = await outbox_rows(app)
    report = await retention.prune_outbox(app.ctx.writer, now=app.clock(), retention=timedelta(0),
                                          keep=read_by_load)
    assert report.floor == never_stopped.applied
    assert report.deleted > before // 3 and await outbox_rows(app) == before - report.deleted

    restarted = Projections(app.clock)
    await restarted.load(app.engine)
    await open_order_pages(restarted, app.engine)
    assert_same_views(never_stopped, restarted)
