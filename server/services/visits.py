"""Visits through share links: bind the visitor to the link's leader under the room's binding mode.

Visits come in the same bursts as orders (a host's pitch sends thousands of people through links at once), so they
are decided in batches like orders: one load, decisions in memory in arrival order, one write per table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from domain import attribution
from domain.errors import DomainError
from domain.events import VisitorBound
from server.context import AppContext
from server.services import catalog_rows
from server.services.order_book import load_leaders
from server.services.viewers import clicked, load_viewers
from store import models
from store.room_locks import VISITOR_NS, lock_names
from store.sql import accumulate, upsert
from store.uow import Command, Tx, log_failure


@dataclass(frozen=True)
class VisitRequest:
    visitor: str
    code: str
    at: datetime | None


_ROOMS_OF_CODES = "visits.room_of_code"  # AppContext.extras: share code -> its room (a link never changes room)


async def record(app: AppContext, request: VisitRequest) -> dict[str, Any]:
    return await app.writer.submit(RecordVisit(request, await room_of_code(app, request.code)))


async def room_of_code(app: AppContext, code: str) -> str | None:
    """The room a share code belongs to (remembered once read), so its visit is written under that room's lock and
    visits of other rooms run side by side (store/uow.py); None for a code that does not exist (yet)."""
    known: dict[str, str] = app.extras.setdefault(_ROOMS_OF_CODES, {})
    room = known.get(code)
    if room is None:
        async with app.engine.connect() as conn:
            room = (await conn.execute(select(models.links.c.room).where(models.links.c.code == code))).scalar()
        if room is not None:
            if len(known) >= 100_000:
                known.clear()
            known[code] = room
    return room


class RecordVisit(Command[dict[str, Any]]):
    batch_group = "visits"

    def __init__(self, request: VisitRequest, room: str | None = None) -> None:
        self.request = request
        self.room = room

    def rooms(self) -> frozenset[str] | None:
        """Its link's room: what it writes is that room's (viewers, invites) or locked (the visitor's binding)."""
        return frozenset((self.room,)) if self.room is not None else None

    @classmethod
    async def run_batch(cls, tx: Tx, commands: Sequence[Command[Any]]) -> list[Any]:
        requests = [c.request for c in commands if isinstance(c, RecordVisit)]
        links = {
            row.code: row
            for row in await tx.conn.execute(
                select(models.links).where(models.links.c.code.in_({r.code for r in requests}))
            )
        }
        rooms = {
            row.room: row
            for row in await tx.conn.execute(
                select(models.rooms).where(models.rooms.c.room.in_({link.room for link in links.values()}))
            )
        }
        if tx.scoped:  # a visitor's binding is shared by every room: one writer per visitor until the commit
            await lock_names(tx.conn, VISITOR_NS, sorted({r.visitor for r in requests}))
        bindings = {
            row.visitor: catalog_rows.binding(row)
            for row in await tx.conn.execute(
                select(models.bindings).where(models.bindings.c.visitor.in_({r.visitor for r in requests}))
            )
        }
        uplines = {
            lead: row.upline
            for lead, row in (await load_leaders(tx, {link.leader for link in links.values()})).items()
        }
        viewers = await load_viewers(tx, {(link.room, r.visitor) for r in requests
                                          if (link := links.get(r.code)) is not None})
        seen: dict[tuple[str, str], dict[str, Any]] = {}
        changed: dict[str, tuple[attribution.Binding, str]] = {}
        invites: Counter[tuple[str, str]] = Counter()
        results: list[Any] = []
        for command in commands:
            assert isinstance(command, RecordVisit)
            request = command.request
            # Decided and worked out first; the batch's state changes only after, so a visit that fails (refused,
            # or for any other reason) is simply left out and the others still commit together.
            try:
                link = links.get(request.code)
                if link is None:
                    raise DomainError(f"unknown share code: {request.code}", field="code", code="not_found")
                at = request.at or tx.now
                decision = attribution.visit(
                    bindings.get(request.visitor),
                    request.visitor,
                    link.leader,
                    at,
                    catalog_rows.binding_policy(rooms[link.room]),
                    uplines,
                )
                binding = decision.binding
                event = None
                if binding is not None and decision.outcome != attribution.BindingOutcome.KEPT:
                    event = VisitorBound(
                        at=at, room=link.room, visitor=request.visitor, leader=binding.leader,
                        outcome=str(decision.outcome),
                    )
                result = {
                    "leader": binding.leader if binding else None,
                    "binding": str(decision.outcome),
                    "room": link.room,
                }
            except DomainError as refused:
                results.append(refused)
                continue
            except Exception as failure:  # this visit's caller gets it; the batch goes on
                log_failure(command, failure)
                results.append(failure)
                continue
            if binding is not None and event is not None:
                bindings[request.visitor] = binding
                changed[request.visitor] = (binding, link.room)
                invites[(link.room, binding.leader)] += 1
                tx.emit(event)
            elif binding is not None and binding != bindings.get(request.visitor):
                bindings[request.visitor] = binding  # same leader, protection renewed
                changed[request.visitor] = (binding, link.room)
            seen[(link.room, request.visitor)] = clicked(
                seen.get((link.room, request.visitor)) or viewers.get((link.room, request.visitor)),
                link.room, request.visitor, binding.leader if binding else None, at)
            results.append(result)
        await upsert(
            tx.conn,
            models.bindings,
            [catalog_rows.binding_row(b, room) for b, room in changed.values()],
            ["visitor"],
            ["leader", "room", "bound_at", "protected_until"],
        )
        await accumulate(
            tx.conn,
            models.room_leaders,
            [
                {"room": room, "leader": lead, "gmv_cents": 0, "orders": 0, "invites": n, "assists": 0}
                for (room, lead), n in sorted(invites.items())
            ],
            ["room", "leader"],
            ["invites"],
        )
        await upsert(tx.conn, models.viewers, list(seen.values()), ["room", "visitor"],
                     ["leader", "first_seen", "last_seen", "clicked_at"])
        return results
