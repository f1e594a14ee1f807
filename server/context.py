"""What a running liveroom process holds: settings, the database engine, the one writer, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain import tokens
from domain.routing import CarrierPolicy
from server import revocations
from server.services.waybills import SandboxCarrier, WaybillIssuer
from server.settings import Settings
from store.uow import Writer


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    writer: Writer
    clock: Callable[[], datetime]
    waybills: WaybillIssuer = field(default_factory=SandboxCarrier)
    carrier_policy: CarrierPolicy = field(default_factory=CarrierPolicy)
    extras: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str, subject: str, *, ttl: timedelta | None = None,
              expires: datetime | None = None) -> str:
        """A token issued now (the injected clock): screens expire after 30 days unless told otherwise."""
        return tokens.mint(self.settings.secret, role, subject, now=self.clock(), ttl=ttl, expires=expires)

    async def check_token(self, token: str | None) -> revocations.Checked:
        """Genuine, unexpired and not revoked (one indexed read of the shared database; see revocations.py)."""
        return await revocations.check(self.settings.secret, self.engine, self.clock(), token)

    async def claim(self, token: str | None) -> tokens.Claim | None:
        return (await self.check_token(token)).claim

    def tracking_url(self, order: str, placed_at: datetime) -> str:
        """The buyer's link: its token opens this order only, and expires 90 days after the order was placed."""
        token = self.token("order", order, expires=placed_at + tokens.TRACKING_TTL)
        return f"{self.settings.public_url}/track/{order}?token={token}"
