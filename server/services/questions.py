"""Questions for the host (API.md, "Growth"): a leader sends a buyer's question from the phone; the host screen
shows the room's queue and marks each answered; the leader sees that live (the events QuestionAsked and
QuestionAnswered feed the screens).

Asking is one transaction through the writer; a question sent again with its own id and the same content is
answered as before (201 then 200), with another content 409. Answering twice is fine: the second answer changes
nothing and announces nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from domain import growth
from domain.errors import Conflict, DomainError, Forbidden
from domain.events import QuestionAnswered, QuestionAsked
from server.context import AppContext
from store import models
from store.uow import Tx

_q, _l = models.questions, models.leaders
_VIEW = (
    select(
        _q.c.question, _q.c.room, _q.c.leader, _l.c.name.label("leader_name"), _q.c.text, _q.c.sku,
        _q.c.asked_at, _q.c.answered_at,
    )
    .select_from(_q.join(_l, _l.c.leader == _q.c.leader))
)


def new_id() -> str:
    return "q-" + secrets.token_hex(6)


def _iso(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def view(row: Any) -> dict[str, Any]:
    return {
        "question": row.question,
        "room": row.room,
        "leader": row.leader,
        "leader_name": row.leader_name,
        "text": row.text,
        "sku": row.sku,
        "asked_at": _iso(row.asked_at),
        "answered_at": _iso(row.answered_at),
    }


async def _one(tx: Tx, question: str) -> Any:
    return (await tx.conn.execute(_VIEW.where(_q.c.question == question))).first()


async def ask(
    app: AppContext, room: str, leader: str, text: str, sku: str | None, question: str | None = None
) -> tuple[dict[str, Any], bool]:
    """A leader's question in a room: the text cleaned (whitespace folded, at most 300 characters), the SKU (if
    named) one the room sells. Returns the question and whether this call asked it."""
    cleaned = growth.clean_text(text, "text", growth.MAX_QUESTION_CHARS)

    async def run(tx: Tx) -> tuple[dict[str, Any], bool]:
        room_row = (await tx.conn.execute(select(models.rooms.c.skus).where(models.rooms.c.room == room))).first()
        if room_row is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        leader_row = (await tx.conn.execute(select(_l.c.name).where(_l.c.leader == leader))).first()
        if leader_row is None:
            raise DomainError(f"unknown leader: {leader}", field="leader", code="not_found")
        if sku is not None:
            known = (await tx.conn.execute(select(models.skus.c.sku).where(models.skus.c.sku == sku))).first()
            if known is None or (room_row.skus and sku not in room_row.skus):
                raise DomainError(f"SKU {sku} is not sold in room {room}", field="sku", code="sku_not_in_room")
        if question is not None:
            seen = await _one(tx, question)
            if seen is not None:
                if (seen.room, seen.leader, seen.text, seen.sku) != (room, leader, cleaned, sku):
                    raise Conflict(f"question {question} was asked with another body", field="question",
                                   code="idempotency_conflict")
                return view(seen), False
        made = question or new_id()
        await tx.conn.execute(_q.insert().values(
            question=made, room=room, leader=leader, text=cleaned, sku=sku, asked_at=tx.now, answered_at=None))
        tx.emit(QuestionAsked(at=tx.now, room=room, question=made, leader=leader, leader_name=leader_row.name,
                              text=cleaned, sku=sku))
        return {"question": made, "room": room, "leader": leader, "leader_name": leader_row.name, "text": cleaned,
                "sku": sku, "asked_at": tx.now.isoformat(), "answered_at": None}, True

    return await app.writer.call(run)


async def answer(app: AppContext, question: str, host_of: str | None = None) -> dict[str, Any]:
    """Mark a question answered (once: answering again changes nothing). `host_of`: the room of the host screen
    asking (None: the API key); a host may answer only its own room's questions (403)."""

    async def run(tx: Tx) -> dict[str, Any]:
        row = await _one(tx, question)
        if row is None:
            raise DomainError(f"unknown question: {question}", field="question", code="not_found")
        if host_of is not None and row.room != host_of:
            raise Forbidden("this host screen may answer only its own room's questions", field="question")
        if row.answered_at is not None:
            return view(row)
        await tx.conn.execute(update(_q).where(_q.c.question == question).values(answered_at=tx.now))
        tx.emit(QuestionAnswered(at=tx.now, room=row.room, question=question, leader=row.leader))
        return {**view(row), "answered_at": tx.now.isoformat()}

    return await app.writer.call(run)


async def room_of(app: AppContext, question: str) -> str | None:
    async with app.engine.connect() as conn:
        row = (await conn.execute(select(_q.c.room).where(_q.c.question == question))).first()
    return None if row is None else str(row.room)


async def room_questions(app: AppContext, room: str) -> dict[str, Any]:
    """The room's questions, oldest first (the host's queue: newest last)."""
    async with app.engine.connect() as conn:
        if (await conn.execute(select(models.rooms.c.room).where(models.rooms.c.room == room))).first() is None:
            raise DomainError(f"unknown room: {room}", field="room", code="not_found")
        rows = await conn.execute(_VIEW.where(_q.c.room == room).order_by(_q.c.asked_at, _q.c.question))
        return {"questions": [{k: v for k, v in view(r).items() if k != "room"} for r in rows]}
