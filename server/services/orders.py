"""Placing orders: the domain decides (`domain.ordering.decide`), many orders in one transaction (group commit).

A batch of orders loads once what the rules need (`order_book.load_book`: rooms, SKUs, stock, bindings, leaders,
deals, counters, as the domain's frozen values), decides each order in arrival order against that state in
memory — so the second order of a batch sees the stock the first one took — and then writes all of them with a
handful of statements (`order_writes`). An order the rules refuse changes nothing: every decision is computed
first and applied to the in-memory state only once nothing can fail any more. Stock is still guarded in SQL:
each changed row is a conditional update that must match, or the batch rolls back.

The HTTP answer is the API's (`server/api/order_answers.py`): it comes with the command, because it is stored
with the order for idempotent replays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from domain import ordering
from domain.errors import Conflict, DomainError
from server.context import AppContext
from server.services import waybill_rows
from server.services.order_book import OrderBook, load_book
from server.services.order_writes import flush, record
from server.settings import Settings
from store import models
from store.sql import insert_many
from store.uow import Command, Tx, log_failure

_REQUESTS = "waybill_requests"  # tx.cache: the requests the batch's orders queue, inserted with the batch
_DECIDED = "room_decisions"  # tx.cache (room transactions): order id → the decision made with its serials reserved
# How the API answers an order it decided (stored with the order, returned again for a replay of its body).
Answering = Callable[[ordering.OrderDecision], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class OrderRequest(ordering.OrderRequest):
    """An order as the API validated it. `body_hash` identifies the body for idempotent replays."""

    body_hash: str = ""


@dataclass(frozen=True)
class OrderAnswer:
    status_code: int  # 201 first time, 200 for a replay of the same body
    body: dict[str, Any]


async def place(app: AppContext, request: OrderRequest, answer: Answering) -> OrderAnswer:
    """Decide and commit one order (with whatever other orders are waiting), answering after the commit."""
    return await app.writer.submit(PlaceOrder(request, app, answer))


def body_hash(payload: dict[str, Any]) -> str:
    return hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()


class PlaceOrder(Command[OrderAnswer]):
    batch_group = "orders"

    def __init__(self, request: OrderRequest, app: AppContext, answer: Answering) -> None:
        self.request = request
        self.app = app
        self.answer = answer

    def rooms(self) -> frozenset[str]:
        """Orders of different rooms run side by side (PostgreSQL): what they share is locked or guarded, see
        `order_book.load_book` (visitors) and `order_writes.flush` (stock and carrier days in the tail)."""
        return frozenset((self.request.room,))

    @classmethod
    async def run_batch(cls, tx: Tx, commands: Sequence[Command[Any]]) -> list[Any]:
        orders = [c for c in commands if isinstance(c, PlaceOrder)]
        book = await load_book(tx, [c.request for c in orders])
        if orders:
            await orders[0].app.waybills.prepare(tx)
            snapshot = book.snapshot(tx.now, orders[0].app.carrier_policy)
        results: list[Any] = []
        for i, command in enumerate(orders):
            # An order changes the book only once nothing about it can fail any more (see `order_writes.record`),
            # so one that raises, refused or failing for any other reason, is simply left out: the others still
            # commit together, with the same few statements.
            try:
                if tx.scoped:  # decided first: waybill serials are reserved only once an order needs some
                    decision = await command.decide_scoped(tx, book, snapshot, orders[i:])
                    if decision is not None:
                        tx.cache.setdefault(_DECIDED, {})[command.request.order] = decision
                results.append(command.decide(tx, book, snapshot))
            except DomainError as refused:
                results.append(refused)
            except Exception as failure:  # this order's caller gets it; the batch goes on
                log_failure(command, failure)
                results.append(failure)
        await flush(tx, book)
        # The waybill requests the batch's orders queued for the gateway (issue 14; none in sandbox mode).
        await insert_many(tx.conn, models.waybill_requests, tx.cache.pop(_REQUESTS, []))
        return results

    async def decide_scoped(self, tx: Tx, book: OrderBook, snapshot: ordering.Snapshot,
                            rest: Sequence[PlaceOrder]) -> ordering.OrderDecision | None:
        """The decision, for a room-scoped transaction, with enough waybill serials reserved for it (a block for
        the rest of the batch: at most one parcel per warehouse and per unit each). None for a replay."""
        if self.request.order in book.existing:
            return None
        decision = ordering.decide(self.request, snapshot)
        wanted = len(decision.waybills_wanted)
        if wanted and not waybill_rows.issued_by_gateway(self.app.settings):
            block = sum(min(len(book.warehouses), sum(q for _, q in c.request.items)) for c in rest)
            await self.app.waybills.reserve(tx, wanted, block)
        return decision

    def decide(self, tx: Tx, book: OrderBook, snapshot: ordering.Snapshot) -> OrderAnswer:
        request = self.request
        seen = book.existing.get(request.order)
        if seen is not None:
            if seen[0] != request.body_hash:
                raise Conflict(
                    f"order {request.order} was placed with another body",
                    field="order",
                    code="idempotency_conflict",
                )
            return OrderAnswer(200, seen[1])
        decision = tx.cache.get(_DECIDED, {}).pop(request.order, None) or ordering.decide(request, snapshot)
        settings = self.app.settings
        gateway_issues = waybill_rows.issued_by_gateway(settings)
        # An order failing after this leaves a gap in the waybill serials, never a repeat. With a gateway that
        # issues waybills (kdniao) the parcels get theirs after the commit: the answer shows them awaiting.
        if decision.waybills_wanted and not gateway_issues:
            decision = decision.with_waybills(self.app.waybills.issue(tx, list(decision.waybills_wanted)))
        answer = self.answer(decision)
        wanted = _requests(decision, settings, tx.now)
        record(tx, book, decision, request.body_hash, answer)
        book.existing[request.order] = (request.body_hash, answer)
        if wanted:
            tx.cache.setdefault(_REQUESTS, []).extend(wanted)
            if gateway_issues:
                tx.emit(*waybill_rows.requested_events(decision.order, decision.room, decision.leader,
                                                       ((p.shipment, p.carrier) for p in decision.shipments),
                                                       tx.now))
        return OrderAnswer(201, answer)


def _requests(decision: ordering.OrderDecision, settings: Settings, now: Any) -> list[dict[str, Any]]:
    """What the gateway must be asked for this order's parcels: an `issue` each (kdniao), a `subscribe` for each
    local waybill (kuaidi100), nothing in sandbox mode or while the order is held."""
    if settings.carrier_gateway == waybill_rows.SANDBOX or not decision.waybills_wanted:
        return []
    if waybill_rows.issued_by_gateway(settings):
        return [waybill_rows.request_row("issue", p.shipment, decision.order, p.carrier, now)
                for p in decision.shipments]
    return [waybill_rows.request_row("subscribe", p.shipment, decision.order, p.carrier, now, p.waybill)
            for p in decision.shipments if p.waybill]
