"""Carrier capacity (issue 13): what operations sets per carrier — daily capacity, cost, provinces, up/down — and
what it reads back: today's use against capacity and the exception rate (domain/carriers.py defines both).

Today's use is `carrier_days.assigned` for today's China day: the same counter allocation books against, kept in
SQL by a guarded increment (`order_writes.add_carrier_days`), so the figure here is the one the rules saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain import carrier_codes, carriers
from domain.china_time import china_day
from domain.errors import Conflict, DomainError
from domain.events import CarrierChanged
from server.context import AppContext
from store import models
from store.sql import upsert
from store.uow import Tx

_c, _cd, _s = models.carriers, models.carrier_days, models.shipments
_UNSET: Any = object()


def known(app: AppContext, carrier: str) -> str:
    """The carrier code as stored (upper case), or 404 for a carrier liveroom does not ship with."""
    code = carrier.strip().upper()
    if code not in carrier_codes.KNOWN_CARRIERS and code not in app.carrier_policy.carriers():
        raise DomainError(f"unknown carrier: {carrier}", field="carrier", code="not_found")
    return code


async def capacities(conn: AsyncConnection) -> dict[str, int | None]:
    """The daily capacity operations set per carrier (None: unlimited); carriers never configured are absent."""
    return {r.carrier: r.daily_capacity for r in await conn.execute(select(_c.c.carrier, _c.c.daily_capacity))}


async def put_carrier(app: AppContext, carrier: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Set what `given` names (daily_capacity, cost_cents, provinces, active); the rest stays as stored. One event
    when something changed; the same body again changes nothing (safe to retry)."""
    code = known(app, carrier)
    provinces = carriers.covered_provinces(given["provinces"]) if given.get("provinces") is not None else _UNSET

    async def run(tx: Tx) -> dict[str, Any]:
        row = (await tx.conn.execute(select(_c).where(_c.c.carrier == code))).first()
        before = _config(row)
        after = dict(before)
        for name in ("daily_capacity", "cost_cents", "active"):
            if name in given and (given[name] is not None or name != "active"):
                after[name] = given[name]
        if provinces is not _UNSET:
            after["provinces"] = list(provinces)
        if row is None or after != before:
            await _store(tx, code, after)
            tx.emit(_event(tx, code, after))
        return await _view(tx.conn, code, after, china_day(tx.now))

    return await app.writer.call(run)


async def raise_capacity(app: AppContext, carrier: str, by: int) -> dict[str, Any]:
    """The ops wall's +N: today's capacity grows by `by` parcels (a carrier without a capacity has no limit to
    raise: 409)."""
    code = known(app, carrier)
    if not 1 <= by <= carriers.MAX_CAPACITY:
        raise DomainError(f"raise by 1..{carriers.MAX_CAPACITY} parcels, got {by}", field="by")

    async def run(tx: Tx) -> dict[str, Any]:
        config = _config((await tx.conn.execute(select(_c).where(_c.c.carrier == code))).first())
        if config["daily_capacity"] is None:
            raise Conflict(f"carrier {code} has no daily capacity to raise", field="by", code="unlimited")
        config["daily_capacity"] = min(config["daily_capacity"] + by, carriers.MAX_CAPACITY)
        await _store(tx, code, config)
        tx.emit(_event(tx, code, config))
        return await _view(tx.conn, code, config, china_day(tx.now))

    return await app.writer.call(run)


async def set_active(app: AppContext, carrier: str, active: bool) -> dict[str, Any]:
    """Mark a carrier down (it gets no parcel until it is up) or up again."""
    return await put_carrier(app, carrier, {"active": active})


async def list_carriers(app: AppContext) -> list[dict[str, Any]]:
    """Every carrier the policy uses, configured or given parcels: capacity, today's use, state, exception rate."""
    async with app.engine.connect() as conn:
        configs = {r.carrier: _config(r) for r in await conn.execute(select(_c))}
        day = china_day(app.clock())
        used = await _used(conn, day)
        rates = await _exception_rates(conn)
    codes = sorted(set(app.carrier_policy.carriers()) | set(configs) | set(used) | set(rates))
    return [_row(code, configs.get(code) or _config(None), used.get(code, 0), rates.get(code, 0.0))
            for code in codes]


# --- helpers ---------------------------------------------------------------------------------------------------


def _config(row: Any) -> dict[str, Any]:
    if row is None:
        return {"daily_capacity": None, "cost_cents": None, "provinces": [], "active": True}
    return {"daily_capacity": row.daily_capacity, "cost_cents": row.cost_cents,
            "provinces": list(row.provinces or []), "active": bool(row.available)}


async def _store(tx: Tx, code: str, config: Mapping[str, Any]) -> None:
    await upsert(tx.conn, _c, [{"carrier": code, "available": config["active"],
                                "daily_capacity": config["daily_capacity"], "cost_cents": config["cost_cents"],
                                "provinces": config["provinces"]}],
                 ["carrier"], ["available", "daily_capacity", "cost_cents", "provinces"])


def _event(tx: Tx, code: str, config: Mapping[str, Any]) -> CarrierChanged:
    return CarrierChanged(at=tx.now, carrier=code, daily_capacity=config["daily_capacity"],
                          active=config["active"], cost_cents=config["cost_cents"],
                          provinces=tuple(config["provinces"]))


async def _used(conn: AsyncConnection, day: str) -> dict[str, int]:
    return {r.carrier: r.assigned for r in await conn.execute(select(_cd).where(_cd.c.day == day))}


async def _exception_rates(conn: AsyncConnection) -> dict[str, float]:
    """Per carrier, over its parcels not cancelled (every day): problem + returned + stuck over parcels."""
    rows = await conn.execute(
        select(_s.c.carrier, func.count().label("parcels"),
               func.sum(case((_s.c.state == "problem", 1), else_=0)).label("problem"),
               func.sum(case((_s.c.state == "returned", 1), else_=0)).label("returned"),
               func.sum(case((_s.c.stuck_at.is_not(None), 1), else_=0)).label("stuck"))
        .where(_s.c.state != "cancelled").group_by(_s.c.carrier))
    return {r.carrier: carriers.exception_rate(int(r.parcels), int(r.problem or 0), int(r.returned or 0),
                                               int(r.stuck or 0)) for r in rows}


def _row(code: str, config: Mapping[str, Any], used: int, rate: float) -> dict[str, Any]:
    return {"carrier": code, "daily_capacity": config["daily_capacity"], "used_today": used,
            "active": config["active"], "exception_rate": rate, "cost_cents": config["cost_cents"],
            "provinces": list(config["provinces"]),
            "load": str(carriers.load_level(used, config["daily_capacity"]))}


async def _view(conn: AsyncConnection, code: str, config: Mapping[str, Any], day: str) -> dict[str, Any]:
    used = (await _used(conn, day)).get(code, 0)
    rate = (await _exception_rates(conn)).get(code, 0.0)
    return _row(code, config, used, rate)
