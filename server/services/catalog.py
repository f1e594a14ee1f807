"""The catalog (API.md, "Catalog (idempotent upserts)"): warehouses, SKUs, stock counts, leaders, rooms,
community deals, share links, and a warehouse going down or coming back.

Each change is one transaction through the writer. Upserts are idempotent: a field left out of a body keeps
its stored value (its default when the row is created) and a field sent as null clears it; a replay that
changes nothing writes nothing and announces nothing; the answer says whether the row was created (201).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, select, update

from domain import attribution, commission, forecast_tiers, geo, promise, routing, stock
from domain.deals import Deal
from domain.errors import Conflict, DomainError
from domain.events import CatalogChanged, WarehouseStatusChanged
from domain.stock_alerts import AlertPolicy
from server.context import AppContext
from server.services import catalog_rows, shipping, stock_rows
from server.services.order_book import load_leaders
from server.services.stock_rows import StockGuardTripped
from store import models
from store.uow import Tx

Answer = tuple[dict[str, Any], bool]  # (the resource as JSON, whether this call created it)


def _unknown(what: str, key: str, field: str | None) -> DomainError:
    return DomainError(f"unknown {what}: {key}", field=field, code="not_found")


async def _row(tx: Tx, table: Table, **key: str) -> Any:
    return (await tx.conn.execute(select(table).where(*(table.c[k] == v for k, v in key.items())))).first()


async def _require(tx: Tx, table: Table, what: str, field: str | None, **key: str) -> Any:
    row = await _row(tx, table, **key)
    if row is None:
        raise _unknown(what, next(iter(key.values())), field)
    return row


def _merge(existing: Any, given: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The row's values: what the body gave, else what is stored, else the default of a new row."""
    def value(name: str, default: Any) -> Any:
        if name in given:
            return given[name]
        return getattr(existing, name) if existing is not None else default

    return {name: value(name, default) for name, default in defaults.items()}


async def _save(tx: Tx, table: Table, key: dict[str, str], existing: Any, values: dict[str, Any],
                entity: str) -> bool:
    """Insert or update the row when something differs; announce the change. Returns whether it changed."""
    if existing is not None and all(getattr(existing, name) == value for name, value in values.items()):
        return False
    stamp = {"updated_at": tx.now} if "updated_at" in table.c else {}
    if existing is None:
        await tx.conn.execute(table.insert().values({**key, **values, **stamp}))
    else:
        await tx.conn.execute(update(table).where(*(table.c[k] == v for k, v in key.items()))
                              .values({**values, **stamp}))
    tx.emit(CatalogChanged(at=tx.now, entity=entity, key="/".join(key.values())))
    return True


def _place(province: str, city: str | None, prefix: str = "") -> tuple[str, str | None]:
    """The province's canonical full name, and a city that lies in it (a municipality is its own city)."""
    known = geo.province(province)
    if known is None:
        raise DomainError(f"unknown province: {province}", field=f"{prefix}province", code="unknown_province")
    if city and geo.city_in_province(known.name, city) is False:
        raise DomainError(f"{city} is not a city of {known.name}", field=f"{prefix}city",
                          code="city_not_in_province")
    return known.name, city


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


# --- warehouses ---------------------------------------------------------------------------------------------

WAREHOUSE: dict[str, Any] = {"name": None, "province": None, "city": None, "active": True}
# The sender block a carrier gateway prints on the waybill (issue 14); optional, null until operations sets it.
SENDER: dict[str, Any] = {"contact": None, "mobile": None, "district": None, "address": None}


def _warehouse_view(code: str, values: Mapping[str, Any]) -> dict[str, Any]:
    return {"warehouse": code, **{name: values[name] for name in (*WAREHOUSE, *SENDER)}}


async def put_warehouse(app: AppContext, code: str, given: Mapping[str, Any]) -> Answer:
    """Create or change a warehouse; turning `active` off here is an outage like `warehouse_status`."""

    async def run(tx: Tx) -> Answer:
        existing = await _row(tx, models.warehouses, code=code)
        values = _merge(existing, given, WAREHOUSE)
        values["province"], values["city"] = _place(values["province"], values["city"])
        routing.Warehouse(code=code, **values)  # the routing rules must be able to measure distances to it
        values.update(_merge(existing, given, SENDER))
        await _save(tx, models.warehouses, {"code": code}, existing, values, "warehouse")
        if existing is not None and existing.active != values["active"]:
            await _status_changed(tx, app, code, values["active"])
        return _warehouse_view(code, values), existing is None

    return await app.writer.call(run)


async def warehouse_status(app: AppContext, code: str, active: bool) -> dict[str, Any]:
    """An outage (active false) re-routes the warehouse's unshipped parcels; coming back up marks it."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await _require(tx, models.warehouses, "warehouse", None, code=code)
        if row.active != active:
            await tx.conn.execute(update(models.warehouses).where(models.warehouses.c.code == code)
                                  .values(active=active, updated_at=tx.now))
        # An outage called again retries the parcels that were stranded the first time.
        moved = await _status_changed(tx, app, code, active, announce=row.active != active)
        return {"warehouse": code, "active": active, "rerouted": moved.rerouted_orders,
                "stranded": moved.stranded_shipments}

    return await app.writer.call(run)


async def _status_changed(tx: Tx, app: AppContext, code: str, active: bool,
                          announce: bool = True) -> shipping.Reroute:
    moved = shipping.Reroute(0, 0) if active else await shipping.reroute(tx, app, code)
    if announce or moved.rerouted_orders:
        tx.emit(WarehouseStatusChanged(at=tx.now, warehouse=code, active=active,
                                       rerouted_orders=moved.rerouted_orders))
    return moved


# --- SKUs and stock -----------------------------------------------------------------------------------------

SKU: dict[str, Any] = {"name": None, "price_cents": None, "category": None, "presale_when_sold_out": False,
       "low_stock_units": 20}


async def put_sku(app: AppContext, sku: str, given: Mapping[str, Any]) -> Answer:
    async def run(tx: Tx) -> Answer:
        existing = await _row(tx, models.skus, sku=sku)
        values = _merge(existing, given, SKU)
        AlertPolicy(low_stock_units=values["low_stock_units"],
                          presale_when_sold_out=values["presale_when_sold_out"])
        await _save(tx, models.skus, {"sku": sku}, existing, values, "sku")
        return {"sku": sku, **values}, existing is None

    return await app.writer.call(run)


async def set_stock(app: AppContext, sku: str, warehouse: str, on_hand: int) -> Answer:
    """A stock count: on_hand may not fall below what unshipped orders hold (domain.stock.set_on_hand)."""

    async def run(tx: Tx) -> Answer:
        level, missing = await _level(tx, sku, warehouse)
        return await _recount(tx, app, level, stock.set_on_hand(level, on_hand), missing)

    return await app.writer.call(run)


async def adjust_stock(app: AppContext, sku: str, warehouse: str, delta: int, *, reason: str = "",
                       adjustment: str | None = None) -> Answer:
    """Replenishment (+) or shrinkage (−) of on_hand (domain.stock.adjust).

    With an `adjustment` id the change is made once: a retry with the same id and the same change is answered with
    the first answer (200), the same id with another change is refused (409 `idempotency_conflict`)."""

    async def run(tx: Tx) -> Answer:
        if adjustment is not None:
            seen = await _row(tx, models.stock_adjustments, adjustment=adjustment)
            if seen is not None:
                if (seen.sku, seen.warehouse, seen.delta) != (sku, warehouse, delta):
                    raise Conflict(f"adjustment {adjustment} was made with another change",
                                   field="adjustment", code="idempotency_conflict")
                return dict(seen.response), False
        level, missing = await _level(tx, sku, warehouse)
        answer = await _recount(tx, app, level, stock.adjust(level, delta), missing)
        if adjustment is not None:
            await tx.conn.execute(models.stock_adjustments.insert().values(
                adjustment=adjustment, sku=sku, warehouse=warehouse, delta=delta, reason=reason,
                response=answer[0], at=tx.now))
        return answer

    return await app.writer.call(run)


async def _level(tx: Tx, sku: str, warehouse: str) -> tuple[stock.StockLevel, bool]:
    await _require(tx, models.skus, "SKU", "sku", sku=sku)
    await _require(tx, models.warehouses, "warehouse", "warehouse", code=warehouse)
    row = await _row(tx, models.stock, sku=sku, warehouse=warehouse)
    if row is None:
        return stock.StockLevel(sku, warehouse, 0), True
    return catalog_rows.stock_level(row), False


async def _recount(tx: Tx, app: AppContext, before: stock.StockLevel, after: stock.StockLevel,
                   missing: bool) -> Answer:
    """Write the new on_hand; more units first serve the SKU's waiting presale orders."""
    s = models.stock
    if missing:
        await tx.conn.execute(s.insert().values(sku=after.sku, warehouse=after.warehouse,
                                                on_hand=after.on_hand, reserved=0))
    elif after.on_hand != before.on_hand:
        result = await tx.conn.execute(update(s).where(
            s.c.sku == after.sku, s.c.warehouse == after.warehouse, s.c.on_hand == before.on_hand,
            s.c.reserved <= after.on_hand).values(on_hand=after.on_hand))
        if result.rowcount != 1:
            raise StockGuardTripped(f"stock of {after.sku} in {after.warehouse} changed under the writer")
    if missing or after.on_hand != before.on_hand:
        stock_rows.changed(tx, [after])
    filled = await shipping.serve_backorders(tx, app, [after.sku]) if after.on_hand > before.on_hand else 0
    now = catalog_rows.stock_level(await _row(tx, s, sku=after.sku, warehouse=after.warehouse))
    return {**_level_view(now), "backorders_filled": filled}, missing


def _level_view(level: stock.StockLevel) -> dict[str, Any]:
    return {"sku": level.sku, "warehouse": level.warehouse, "on_hand": level.on_hand,
            "reserved": level.reserved, "available": level.available}


async def stock_view(app: AppContext, sku: str) -> dict[str, Any]:
    """A SKU's stock per warehouse; the total counts the warehouses that can ship (what buyers can order)."""
    s, w = models.stock, models.warehouses
    async with app.engine.connect() as conn:
        if (await conn.execute(select(models.skus.c.sku).where(models.skus.c.sku == sku))).first() is None:
            raise _unknown("SKU", sku, "sku")
        rows = list(await conn.execute(select(s, w.c.active).join(w, w.c.code == s.c.warehouse)
                                       .where(s.c.sku == sku).order_by(s.c.warehouse)))
    levels = [(catalog_rows.stock_level(r), bool(r.active)) for r in rows]
    warehouses = [{k: v for k, v in _level_view(lv).items() if k != "sku"} | {"active": active}
                  for lv, active in levels]
    return {"sku": sku, "warehouses": warehouses,
            "available": sum(lv.available for lv, active in levels if active)}


# --- leaders ------------------------------------------------------------------------------------------------

LEADER: dict[str, Any] = {"name": None, "community": None, "upline": None, "pickup_point": None}


async def put_leader(app: AppContext, leader: str, given: Mapping[str, Any]) -> Answer:
    async def run(tx: Tx) -> Answer:
        existing = await _row(tx, models.leaders, leader=leader)
        values = _merge(existing, given, LEADER)
        point = values["pickup_point"]
        if point is not None:
            province, city = _place(point["province"], point["city"], "pickup_point.")
            values["pickup_point"] = {**point, "province": province, "city": city}
        await _check_upline(tx, leader, values["upline"])
        await _save(tx, models.leaders, {"leader": leader}, existing, values, "leader")
        return {"leader": leader, **values}, existing is None

    return await app.writer.call(run)


async def _check_upline(tx: Tx, leader: str, upline: str | None) -> None:
    """The upline exists and is neither the leader nor below them (attribution.validate_upline)."""
    if upline is None:
        return
    chain = await load_leaders(tx, {upline})
    if upline != leader and upline not in chain:
        raise _unknown("leader", upline, "upline")
    attribution.validate_upline(leader, upline, {name: row.upline for name, row in chain.items()})


# --- rooms --------------------------------------------------------------------------------------------------

ROOM: dict[str, Any] = {"title": None, "starts_at": None, "ends_at": None, "skus": None, "base_rate_bp": None,
        "live_rate_bp": None, "first_hour_bonus_bp": 0, "team_rate_bp": 0, "gmv_tiers": [],
        "after_sale_days": None,
        "binding_mode": None, "protection_days": 7, "min_watch_s": 300, "invite_reward_points": 0,
        "ship_promise": None, "forecast": None}


def _room_columns(given: Mapping[str, Any]) -> dict[str, Any]:
    columns = {k: v for k, v in given.items() if k not in ("binding", "invite_reward")}
    for name in ("starts_at", "ends_at"):
        if name in columns:
            columns[name] = _utc(columns[name])
    if "binding" in given:
        columns["binding_mode"] = given["binding"]["mode"]
        columns["protection_days"] = given["binding"].get("protection_days", ROOM["protection_days"])
    if "invite_reward" in given:
        columns["invite_reward_points"] = (given["invite_reward"] or {}).get("points", 0)
    if "ship_promise" in given:  # kept sorted by paid_before; none or [] is no promise
        columns["ship_promise"] = promise.as_json(promise.parse(given["ship_promise"])) or None
    return columns


async def put_room(app: AppContext, room: str, given: Mapping[str, Any]) -> Answer:
    async def run(tx: Tx) -> Answer:
        existing = await _row(tx, models.rooms, room=room)
        values = _merge(existing, _room_columns(given), ROOM)
        values["skus"] = await _room_skus(tx, values["skus"])
        values["gmv_tiers"] = _checked_rates(values)
        attribution.BindingPolicy(attribution.BindingMode(values["binding_mode"]), values["protection_days"])
        forecast_tiers.TierSettings.of(values["forecast"])  # the domain accepts the forecast settings
        await _save(tx, models.rooms, {"room": room}, existing, values, "room")
        return _room_view(room, values), existing is None

    return await app.writer.call(run)


async def _room_skus(tx: Tx, skus: list[str]) -> list[str]:
    """Every SKU of the room exists; a SKU listed twice counts once."""
    t = models.skus
    known = {r.sku for r in await tx.conn.execute(select(t.c.sku).where(t.c.sku.in_(skus)))}
    for i, sku in enumerate(skus):
        if sku not in known:
            raise _unknown("SKU", sku, f"skus[{i}]")
    return list(dict.fromkeys(skus))


def _checked_rates(values: Mapping[str, Any]) -> list[dict[str, int]]:
    """The commission rules accept the room's rates; the GMV tiers come back in threshold order."""
    if values["ends_at"] is not None and values["ends_at"] <= values["starts_at"]:
        raise DomainError("ends_at must be after starts_at", field="ends_at", code="invalid_field")
    rates = commission.RoomRates(
        base_rate_bp=values["base_rate_bp"], starts_at=values["starts_at"],
        after_sale_days=values["after_sale_days"], ends_at=values["ends_at"],
        live_rate_bp=values["live_rate_bp"],
        first_hour_bonus_bp=values["first_hour_bonus_bp"], team_rate_bp=values["team_rate_bp"],
        gmv_tiers=tuple(commission.GmvTier(t["gmv_cents"], t["bonus_bp"]) for t in values["gmv_tiers"]))
    return [{"gmv_cents": t.gmv_cents, "bonus_bp": t.bonus_bp} for t in rates.gmv_tiers]


def _room_view(room: str, values: Mapping[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in values.items()
            if k not in ("binding_mode", "protection_days", "invite_reward_points")}
    return {"room": room, **view, "starts_at": _iso(values["starts_at"]), "ends_at": _iso(values["ends_at"]),
            "binding": {"mode": values["binding_mode"], "protection_days": values["protection_days"]},
            "invite_reward": {"points": values["invite_reward_points"]},
            "forecast": forecast_tiers.TierSettings.of(values["forecast"]).as_dict()}


# --- community deals ----------------------------------------------------------------------------------------


async def put_deal(app: AppContext, room: str, sku: str, leader: str, price_cents: int, quota: int) -> Answer:
    """A community-exclusive price in a room; changing it keeps the units already sold at it (`used`)."""

    async def run(tx: Tx) -> Answer:
        room_row = await _require(tx, models.rooms, "room", "room", room=room)
        await _require(tx, models.skus, "SKU", "sku", sku=sku)
        if room_row.skus and sku not in room_row.skus:
            raise DomainError(f"SKU {sku} is not sold in room {room}", field="sku", code="sku_not_in_room")
        await _require(tx, models.leaders, "leader", "leader", leader=leader)
        existing = await _row(tx, models.deals, room=room, sku=sku, leader=leader)
        used = existing.used if existing is not None else 0
        if quota < used:
            raise Conflict(f"{used} units were already sold at this price; the quota cannot be lower",
                           field="quota", code="quota_below_used")
        deal = Deal(room, sku, leader, price_cents, quota, used)
        values = {"price_cents": deal.price_cents, "quota": deal.quota, "used": deal.used}
        await _save(tx, models.deals, {"room": room, "sku": sku, "leader": leader}, existing, values, "deal")
        view = {"room": room, "sku": sku, "leader": leader, **values, "remaining": deal.remaining}
        return view, existing is None

    return await app.writer.call(run)


# --- share links --------------------------------------------------------------------------------------------


async def share_link(app: AppContext, room: str, leader: str, kind: str) -> Answer:
    """A leader's share code for a room (attribution.share_code); asking again answers the same code."""

    async def run(tx: Tx) -> Answer:
        await _require(tx, models.rooms, "room", "room", room=room)
        await _require(tx, models.leaders, "leader", "leader", leader=leader)
        return await ensure_link(tx, app, room, leader, kind)

    return await app.writer.call(run)


async def ensure_link(tx: Tx, app: AppContext, room: str, leader: str, kind: str) -> Answer:
    """Inside a command: the leader's link of `kind` in the room, made (and announced) when it is missing."""
    existing = await _row(tx, models.links, room=room, leader=leader, kind=kind)
    if existing is not None:
        return _link_view(app, existing.code, room, leader, kind), False
    code = attribution.share_code(room, leader, attribution.LinkKind(kind), app.settings.secret).code
    await tx.conn.execute(models.links.insert().values(code=code, room=room, leader=leader, kind=kind,
                                                       created_at=tx.now))
    tx.emit(CatalogChanged(at=tx.now, entity="link", key=code))
    return _link_view(app, code, room, leader, kind), True


def _link_view(app: AppContext, code: str, room: str, leader: str, kind: str) -> dict[str, Any]:
    return {"code": code, "url": f"{app.settings.public_url}/r/{code}", "room": room, "leader": leader,
            "kind": kind}


async def room_sells(app: AppContext, room: str, sku: str) -> bool:
    """Whether `sku` is on the room's list (an empty list means every SKU)."""
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(models.rooms.c.skus).where(models.rooms.c.room == room))).first()
    return row is not None and (not row.skus or sku in row.skus)
