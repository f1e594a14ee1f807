"""The post-live review of a room (GET /api/v1/rooms/{room}/review, the /review/{room} page): the outbox's events in
sequence order and the room's configuration, folded by domain/review.py into the answer of domain/review_report.py.

Configuration read here: the room's SKUs, the SKUs' list prices, the pre-stock forecast (the existing
recommendation, server/services/reads.room_forecast, as it reads now), and the carriers' cost and capacity when the
`carriers` table has those columns (absent: every carrier's cost is unknown and scores 100).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from domain import review, review_report
from domain.errors import DomainError
from server.context import AppContext
from server.services import reads
from store import models

CHUNK = 5_000


async def room_review(app: AppContext, room: str) -> dict[str, Any]:
    async with app.engine.connect() as conn:
        room_row = (await conn.execute(select(models.rooms).where(models.rooms.c.room == room))).first()
        if room_row is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        skus = tuple(room_row.skus)
        prices = {r.sku: int(r.price_cents) for r in await conn.execute(
            select(models.skus.c.sku, models.skus.c.price_cents).where(models.skus.c.sku.in_(skus)))}
        carriers = await _carrier_terms(conn)
    forecast = await reads.room_forecast(app, room)
    config = review.ReviewConfig(
        room=room, as_of=app.clock(), skus=skus, prices=prices, carriers=carriers,
        forecast={(r["sku"], r["warehouse"]): int(r["units"]) for r in forecast["recommendations"]})
    night = review.fold(await _records(app), config)
    return review_report.report(night)


async def page_names(app: AppContext, room: str, answer: dict[str, Any]) -> dict[str, Any]:
    """What the /review/{room} page shows instead of ids (the API answer keeps the ids): the room's title and the
    names of the SKUs, warehouses and leaders the review mentions. An id without a row is left out (the page
    shows the id)."""
    leaders = sorted({r["leader"] for r in answer["after_sales"]["by_leader"] if r["leader"]}
                     | {h["leader"] for h in answer["exceptions"]["held"]["list"] if h.get("leader")})
    skus = sorted({r["sku"] for r in answer["stock"]} | {r["sku"] for r in answer["skus"]})
    async with app.engine.connect() as conn:
        title = (await conn.execute(select(models.rooms.c.title).where(models.rooms.c.room == room))).scalar()
        sku_names = {r.sku: r.name for r in await conn.execute(
            select(models.skus.c.sku, models.skus.c.name).where(models.skus.c.sku.in_(skus)))}
        warehouses = {r.code: r.name for r in await conn.execute(
            select(models.warehouses.c.code, models.warehouses.c.name))}
        leader_names: dict[str, str] = {}
        for start in range(0, len(leaders), 500):
            leader_names.update({r.leader: r.name for r in await conn.execute(
                select(models.leaders.c.leader, models.leaders.c.name)
                .where(models.leaders.c.leader.in_(leaders[start:start + 500])))})
    return {"room": title or room, "skus": sku_names, "warehouses": warehouses, "leaders": leader_names}


async def _records(app: AppContext) -> list[dict[str, Any]]:
    """Every event the review reads, in sequence order (commit order), read in chunks by sequence."""
    out = models.outbox
    records: list[dict[str, Any]] = []
    after = 0
    async with app.engine.connect() as conn:
        while True:
            rows = (await conn.execute(
                select(out.c.seq, out.c.payload).where(out.c.seq > after, out.c.kind.in_(sorted(review.KINDS)))
                .order_by(out.c.seq).limit(CHUNK))).all()
            records.extend(dict(row.payload) for row in rows)
            if len(rows) < CHUNK:
                return records
            after = rows[-1].seq


async def _carrier_terms(conn: Any) -> dict[str, review.CarrierTerms]:
    table = models.carriers
    capacity, cost = table.c.get("daily_capacity"), table.c.get("cost_cents")
    if capacity is None and cost is None:
        return {}
    columns = [table.c.carrier, *(c for c in (capacity, cost) if c is not None)]
    terms = {}
    for row in (await conn.execute(select(*columns))).mappings():
        terms[row["carrier"]] = review.CarrierTerms(
            daily_capacity=row.get("daily_capacity"), cost_cents=row.get("cost_cents"))
    return terms
