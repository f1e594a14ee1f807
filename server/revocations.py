"""Revoking tokens, and checking a presented token: genuine, unexpired and not revoked.

`revoke(role, subject)` writes `(role, subject, revoked_at)` to `token_revocations` and a `TokensRevoked` event to
the outbox in ONE writer transaction. From the moment it answers, every token of that subject issued at or before
`revoked_at` is refused; tokens minted afterwards work (issue times are in microseconds).

Why every check reads the database rather than an in-memory copy: the other server processes learn of a revocation
only when its event reaches them (over Redis, or by their outbox poll). Until then an in-memory set would still
accept the revoked token there, and the contract says "stops working in every process" from the moment the call
answers. A per-process set refreshed only for subjects it already knows as revoked has the same hole for a
subject's first revocation. So the check asks the database, which every process shares:

    SELECT max(revoked_at) FROM token_revocations WHERE role = ? AND subject = ?

answered from the index on (role, subject, revoked_at) alone. What keeps it cheap: only a token whose signature and
expiry already passed is looked up (garbage and forged tokens cost one HMAC and no query; the API key none); it
runs once per page load, WebSocket handshake or token-authenticated request — never per frame; and it is one
point read (tens of microseconds on SQLite, one round trip on PostgreSQL). Sockets already open are not
re-checked: the event, applied by each process's follower, closes those it serves with a revoked token (4401),
and a socket attached while the event was on its way is checked once more against the applied revocations
(realtime/ws.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from domain import tokens
from domain.events import TokensRevoked
from domain.tokens import Checked, Claim
from store import models
from store.uow import Tx, Writer

_REVOKED = models.token_revocations
_LATEST = select(func.max(_REVOKED.c.revoked_at)).where(
    _REVOKED.c.role == bindparam("role"), _REVOKED.c.subject == bindparam("subject")
)


async def revoked_at(engine: AsyncEngine, role: str, subject: str) -> datetime | None:
    """The latest revocation of (role, subject), if any."""
    async with engine.connect() as conn:
        value: datetime | None = (await conn.execute(_LATEST, {"role": role, "subject": subject})).scalar()
    return value


def is_revoked(claim: Claim, revoked: datetime | None) -> bool:
    return revoked is not None and claim.issued_us <= tokens.epoch_us(revoked)


async def check(secret: str, engine: AsyncEngine, now: datetime, token: str | None) -> Checked:
    if not token:
        return Checked(None, "missing")
    claim = tokens.read(secret, token)
    if claim is None:
        return Checked(None, "invalid")
    if claim.expired(now):
        return Checked(None, "expired", claim)
    if is_revoked(claim, await revoked_at(engine, claim.role, claim.subject)):
        return Checked(None, "revoked", claim)
    return Checked(claim, None, claim)


async def revoke(writer: Writer, role: str, subject: str) -> dict[str, Any]:
    """Revoke every token of (role, subject) issued up to now, in one transaction with its event."""

    async def run(tx: Tx) -> dict[str, Any]:
        await tx.conn.execute(insert(_REVOKED).values(role=role, subject=subject, revoked_at=tx.now))
        tx.emit(TokensRevoked(at=tx.now, role=role, subject=subject))
        return {"role": role, "subject": subject, "revoked_at": tx.now.isoformat()}

    return await writer.call(run)

