"""The leader's own view (`leader:{id}`): the leader's figures, rank and gap to the next place in each room, the
latest orders with their parcels' states, the orders held for address verification, and commission by state.

Held orders are the one place a buyer's phone and address appear, so the leader can fix them; only this topic,
which only the leader's own token opens, carries them. The `order_held` event carries the screening flags but not
the buyer (events are public inside the system), so a held order is marked stale and `refresh` reads its buyer
fields; `load` reads them for every held order.

Commission per leader and state is the ledger folded: an accrual adds to its state, a move takes from one state
and adds to another — the same sums the ledger table gives with GROUP BY.

Delay notices: the active notices are kept here (NoticePosted adds one, NoticeWithdrawn removes it; `load` reads
the table), and each order row shows those its room, province and parcels match (domain/notices.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import String, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.commission import State
from domain.notices import Criteria, Notice, OrderFacts, notices_for
from realtime.projections.board import TOP, Boards, RoomBoard
from realtime.projections.catalog import Catalog
from realtime.projections.growth import Growth
from realtime.projections.order import parcel_state
from realtime.projections.times import utc
from store import models
from store import notices as notice_rows

RECENT = 50  # latest orders a leader sees
CHUNK = 2_000  # order ids per IN (...) on load: well under SQLite's and asyncpg's bound-parameter limits
STATES = tuple(str(s) for s in State)  # pending, frozen, settled, reversed


def _key(order: dict[str, Any]) -> tuple[datetime, str]:
    return (order["placed"], order["order"])


def _placed_then_id(row: Any) -> tuple[Any, str]:
    """An orders row of `_load_recent` in the order of `_key` (its placed_at as the driver gave it)."""
    return (row[5], row[0])


class CommissionBook:
    def __init__(self) -> None:
        self.by_leader: dict[str, Counter[str]] = {}
        self.totals: Counter[str] = Counter()

    def move(self, leader: str, source: str | None, target: str, cents: int) -> None:
        book = self.by_leader.setdefault(leader, Counter())
        if source is not None:
            book[source] -= cents
            self.totals[source] -= cents
        book[target] += cents
        self.totals[target] += cents

    def view(self, counts: Counter[str] | None) -> dict[str, int]:
        counts = counts or Counter()
        return {f"{state}_cents": counts[state] for state in STATES}

    async def load(self, conn: AsyncConnection) -> None:
        """The ledger folded in one pass: its sums by (leader, source, target)."""
        ce = models.commission_entries
        for leader, source, target, cents in (await conn.execute(
            select(ce.c.leader, ce.c.source, ce.c.target, func.sum(ce.c.amount_cents))
            .group_by(ce.c.leader, ce.c.source, ce.c.target)
        )).all():
            self.move(leader, source, target, int(cents))


class LeaderViews:
    def __init__(self, catalog: Catalog, boards: Boards, commission: CommissionBook, growth: Growth) -> None:
        self.catalog = catalog
        self.boards = boards
        self.commission = commission
        self.growth = growth
        self.orders: dict[str, dict[str, dict[str, Any]]] = {}  # leader -> order -> entry (the latest RECENT)
        self.held: dict[str, dict[str, dict[str, Any]]] = {}  # leader -> order -> held entry
        self.stale_held: dict[str, str] = {}  # order -> leader: buyer fields still to read
        self.notices: dict[str, Notice] = {}  # active delay notices: each order row shows those it matches

    # --- events ----------------------------------------------------------------------------------------------

    def on_order_accepted(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        leader = record["leader"]
        if not leader:
            return
        entry = {"order": record["order"], "room": record["room"], "placed": utc(record["at"]),
                 "status": record["status"], "total_cents": record["total_cents"],
                 "items": [list(line) for line in record["items"]], "parcels": {},
                 "province": record.get("province")}
        if self._keep(leader, entry):
            dirty.add(f"leader:{leader}")

    def _keep(self, leader: str, entry: dict[str, Any]) -> bool:
        """Keep the order if it is among the leader's latest RECENT (by placing time, then id)."""
        orders = self.orders.setdefault(leader, {})
        if len(orders) >= RECENT:
            oldest = min(orders.values(), key=_key)
            if _key(entry) <= _key(oldest):
                return False
            del orders[oldest["order"]]
        orders[entry["order"]] = entry
        return True

    def _order(self, record: dict[str, Any]) -> dict[str, Any] | None:
        leader = record.get("leader")
        return self.orders.get(leader, {}).get(record["order"]) if leader else None

    def on_shipment_planned(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        entry = self._order(record)
        if entry is None:
            return
        parcels = entry["parcels"]
        known = parcels.get(record["shipment"])
        # A re-booked parcel (verified, or moved off a warehouse that went down) keeps its state.
        parcels[record["shipment"]] = {"shipment": record["shipment"], "warehouse": record["warehouse"],
                                       "carrier": record["carrier"], "waybill": record["waybill"],
                                       "state": known["state"] if known else "created"}
        dirty.add(f"leader:{record['leader']}")

    def on_parcel_state_changed(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        entry = self._order(record)
        parcel = entry["parcels"].get(record["shipment"]) if entry else None
        if parcel is not None:
            parcel["state"] = record["state"]
            dirty.add(f"leader:{record['leader']}")

    def on_waybill_requested(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """Asked of a gateway: the parcel has no waybill until it answers."""
        entry = self._order(record)
        parcel = entry["parcels"].get(record["shipment"]) if entry else None
        if parcel is not None:
            parcel["waybill"], parcel["carrier"] = None, record["carrier"]
            dirty.add(f"leader:{record['leader']}")

    def on_waybill_issued(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        entry = self._order(record)
        parcel = entry["parcels"].get(record["shipment"]) if entry else None
        if parcel is not None:
            parcel["waybill"] = record["waybill"]
            dirty.add(f"leader:{record['leader']}")

    def on_waybill_refused(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """Refused: the parcel goes with the next carrier (none left: an OrderHeld follows)."""
        entry = self._order(record)
        parcel = entry["parcels"].get(record["shipment"]) if entry else None
        if parcel is not None and record.get("next_carrier"):
            parcel["carrier"] = record["next_carrier"]
            dirty.add(f"leader:{record['leader']}")

    def on_order_held(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        leader = record["leader"]
        if not leader:
            return
        entry = self._order(record)
        if entry is not None:  # held after it was accepted (no carrier would take its parcel)
            entry["status"] = "held"
        self.held.setdefault(leader, {})[record["order"]] = {
            "order": record["order"], "room": record["room"], "placed": utc(record["at"]),
            "flags": list(record["flags"]), "total_cents": None, "buyer": None}
        self.stale_held[record["order"]] = leader
        dirty.add(f"leader:{leader}")

    def on_order_verified(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self._settle_held(record, "accepted", dirty)

    def on_order_cancelled(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        entry = self._settle_held(record, "cancelled", dirty)
        if entry is not None:
            # Only unshipped orders can be cancelled, and all their parcels go with them.
            for parcel in entry["parcels"].values():
                parcel["state"] = "cancelled"

    def _settle_held(self, record: dict[str, Any], status: str, dirty: set[str]) -> dict[str, Any] | None:
        leader = record.get("leader")
        if not leader:
            return None
        self.held.get(leader, {}).pop(record["order"], None)
        self.stale_held.pop(record["order"], None)
        dirty.add(f"leader:{leader}")
        entry = self._order(record)
        if entry is not None:
            entry["status"] = status
        return entry

    def on_commission_moved(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        self.commission.move(record["leader"], record["source"], record["target"], record["amount_cents"])
        dirty.update((f"leader:{record['leader']}", "ops"))

    def on_notice(self, seq: int, record: dict[str, Any], dirty: set[str]) -> None:
        """A delay notice posted or withdrawn: the leaders with an order it concerns see the change."""
        notice = self.notices.pop(record["notice"], None)
        if record["kind"] == "notice_posted":
            notice = Notice(notice=record["notice"], text=record["text"], at=utc(record["at"]).isoformat(),
                            criteria=Criteria(room=record["room"], warehouse=record["warehouse"],
                                              carrier=record["carrier"], province=record["province"]))
            self.notices[notice.notice] = notice
        if notice is None:
            return
        for leader, orders in self.orders.items():
            if any(notice.matches(_facts(entry)) for entry in orders.values()):
                dirty.add(f"leader:{leader}")

    # --- reading ---------------------------------------------------------------------------------------------

    def snapshot(self, leader: str) -> dict[str, Any] | None:
        name = self.catalog.leaders.get(leader)
        if (name is None and leader not in self.orders and leader not in self.commission.by_leader
                and leader not in self.growth.leaders()):
            return None
        rooms = sorted(self.boards.rooms_of(leader))
        return {
            "leader": leader,
            "name": name,
            "rooms": [self._room(room, leader) for room in rooms],
            "commission": self.commission.view(self.commission.by_leader.get(leader)),
            "orders": [_order_view(o, self.catalog.sku_name, self.notices.values())
                       for o in sorted(self.orders.get(leader, {}).values(), key=_key, reverse=True)],
            "held": [_held_view(h) for h in sorted(self.held.get(leader, {}).values(), key=_key)],
            "growth": self.growth.leader_view(leader, rooms),
        }

    def _room(self, room: str, leader: str) -> dict[str, Any]:
        info = self.catalog.rooms.get(room)
        board = self.boards.rooms.get(room)
        row = board.rows.get(leader) if board else None
        rank = board.rank(leader) if board else None
        return {"room": room, "title": info.title if info else None,
                "skus": [{"sku": sku, "name": self.catalog.sku_name(sku)} for sku in self.catalog.room_skus(room)],
                "rank": rank, "leaders": len(board.rows) if board else 0,
                "gmv_cents": row[0] if row else 0, "orders": row[1] if row else 0, "invites": row[2] if row else 0,
                "gap": self._gap(board, rank, row[0]) if board and rank and row else None}

    def _gap(self, board: RoomBoard, rank: int, gmv_cents: int) -> dict[str, Any] | None:
        """How far the leader is behind the next place up (or, on top, ahead of the second): shown while the
        leader is on the board's frame (the top TOP), where both rows can be seen side by side."""
        if rank > TOP or len(board.ranking) < 2:
            return None
        minus_gmv, other = board.ranking[1 if rank == 1 else rank - 2]
        cents = abs(gmv_cents + minus_gmv)
        if not cents:
            return None
        return {"leader": other, "name": self.catalog.leaders.get(other) or other, "cents": cents,
                "ahead": rank == 1}

    # --- database --------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection) -> None:
        await self._load_recent(conn)
        self.notices = {n.notice: n for n in await notice_rows.active(conn)}
        o = models.orders
        rows = await conn.execute(select(o.c.order, o.c.room, o.c.leader, o.c.placed_at, o.c.flags,
                                         o.c.total_cents, o.c.buyer)
                                  .where(o.c.status == "held", o.c.leader.is_not(None)))
        held = list(rows)
        reasons = await _carrier_reasons(conn, [row.order for row in held])
        for row in held:
            self.held.setdefault(row.leader, {})[row.order] = _held_entry(row, reasons.get(row.order, []))

    async def _load_recent(self, conn: AsyncConnection) -> None:
        """Each leader's latest RECENT orders with their lines and parcels: three plain scans, the choosing done
        here. (A window over the orders by leader, then lines and parcels by order id in chunks, took ~4x as long
        with 1,000 leaders: the sort, the bound IN lists, and a timestamp parsed for every order.)"""
        o, lines, s = models.orders, models.order_lines, models.shipments
        # placed_at as the driver gives it: ISO text on SQLite (sorts as the time does), a datetime elsewhere.
        rows = (await conn.execute(
            select(o.c.order, o.c.room, o.c.leader, o.c.status, o.c.total_cents,
                   type_coerce(o.c.placed_at, String), o.c.destination["province"].as_string())
            .where(o.c.leader.is_not(None))
        )).all()
        by_leader: dict[str, list[Any]] = {}
        for row in rows:
            found = by_leader.get(row[2])
            if found is None:
                by_leader[row[2]] = [row]
            else:
                found.append(row)
        del rows
        entries: dict[str, dict[str, Any]] = {}
        for leader, found in by_leader.items():
            latest = sorted(found, key=_placed_then_id, reverse=True)[:RECENT] if len(found) > RECENT else found
            mine = self.orders.setdefault(leader, {})
            for order, room, _, status, total_cents, placed, province in latest:
                entries[order] = mine[order] = {
                    "order": order, "room": room, "placed": utc(placed), "status": status,
                    "total_cents": total_cents, "items": [], "parcels": {}, "province": province}
        del by_leader
        quantities: dict[tuple[str, str], int] = {}
        for order, sku, qty in (await conn.execute(select(lines.c.order, lines.c.sku, lines.c.qty))).all():
            if order in entries:
                quantities[(order, sku)] = quantities.get((order, sku), 0) + int(qty)
        for (order, sku), qty in sorted(quantities.items()):
            entries[order]["items"].append([sku, qty])
        for shipment, order, warehouse, carrier, waybill, state in (await conn.execute(
            select(s.c.shipment, s.c.order, s.c.warehouse, s.c.carrier, s.c.waybill, s.c.state)
        )).all():
            entry = entries.get(order)
            if entry is not None:
                entry["parcels"][shipment] = {"shipment": shipment, "warehouse": warehouse, "carrier": carrier,
                                              "waybill": waybill, "state": state}

    @property
    def needs_refresh(self) -> bool:
        return bool(self.stale_held)

    async def refresh(self, conn: AsyncConnection) -> set[str]:
        """Read the buyer fields of orders held since the last refresh (or drop them if no longer held)."""
        stale, self.stale_held = self.stale_held, {}
        if not stale:
            return set()
        o = models.orders
        found = {row.order: row for row in await conn.execute(
            select(o.c.order, o.c.room, o.c.leader, o.c.status, o.c.placed_at, o.c.flags, o.c.total_cents,
                   o.c.buyer).where(o.c.order.in_(list(stale))))}
        reasons = await _carrier_reasons(conn, list(stale))
        for order, leader in stale.items():
            held = self.held.get(leader, {})
            row = found.get(order)
            if row is not None and row.status == "held" and order in held:
                held[order] = _held_entry(row, reasons.get(order, []))
            else:  # verified or cancelled meanwhile: its own event removes it too, this only comes first
                held.pop(order, None)
        return {f"leader:{leader}" for leader in stale.values()}


async def _carrier_reasons(conn: AsyncConnection, orders: list[str]) -> dict[str, list[str]]:
    """Each order's carriers' words for refusing its parcels (issue 14: the leader fixes the address knowing why)."""
    r = models.waybill_requests
    reasons: dict[str, list[str]] = {}
    for start in range(0, len(orders), CHUNK):
        rows = await conn.execute(
            select(r.c.order, r.c.carrier, r.c.last_error)
            .where(r.c.order.in_(orders[start : start + CHUNK]), r.c.kind == "issue", r.c.state == "refused")
            .order_by(r.c.order, r.c.carrier)
        )
        for row in rows:
            said = reasons.setdefault(row.order, [])
            if row.last_error and row.last_error not in said:
                said.append(row.last_error)
    return reasons


def _held_entry(row: Any, carrier_reasons: list[str] | None = None) -> dict[str, Any]:
    buyer = row.buyer or {}
    return {"order": row.order, "room": row.room, "placed": utc(row.placed_at), "flags": list(row.flags or ()),
            "total_cents": row.total_cents, "carrier_reasons": list(carrier_reasons or ()),
            "buyer": {k: buyer.get(k) for k in ("name", "phone", "province", "city", "district", "address")}}


def _facts(entry: dict[str, Any]) -> OrderFacts:
    parcels = entry["parcels"].values()
    return OrderFacts.of(entry["room"], entry.get("province"),
                         ((p["warehouse"], p["carrier"]) for p in parcels if p["state"] != "cancelled"),
                         entry["status"])


def _order_view(entry: dict[str, Any], sku_name: Callable[[str], str | None],
                notices: Iterable[Notice] = ()) -> dict[str, Any]:
    return {"order": entry["order"], "room": entry["room"], "placed_at": entry["placed"].isoformat(),
            "status": entry["status"], "total_cents": entry["total_cents"],
            "items": [{"sku": sku, "qty": qty, "name": sku_name(sku)} for sku, qty in entry["items"]],
            "parcels": [{**p, "state": parcel_state(p["state"], p["waybill"], entry["status"])}
                        for p in (entry["parcels"][k] for k in sorted(entry["parcels"]))],
            "notices": notices_for(notices, _facts(entry))}


def _held_view(entry: dict[str, Any]) -> dict[str, Any]:
    return {"order": entry["order"], "room": entry["room"], "placed_at": entry["placed"].isoformat(),
            "flags": entry["flags"], "total_cents": entry["total_cents"], "buyer": entry["buyer"],
            "carrier_reasons": entry.get("carrier_reasons") or []}
