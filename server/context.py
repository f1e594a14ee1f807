"""What a running liveroom process holds: settings, the database engine, the one writer, the clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.routing import CarrierPolicy
from server import tokens
from server.db.uow import Writer
from server.services.waybills import SandboxCarrier, WaybillIssuer
from server.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: AsyncEngine
    writer: Writer
    clock: Callable[[], datetime]
    waybills: WaybillIssuer = field(default_factory=SandboxCarrier)
    carrier_policy: CarrierPolicy = field(default_factory=CarrierPolicy)
    extras: dict[str, Any] = field(default_factory=dict)

    def token(self, role: str, subject: str) -> str:
        return tokens.mint(self.settings.secret, role, subject)

    def claim(self, token: str | None) -> tuple[str, str] | None:
        return tokens.verify(self.settings.secret, token)

    def tracking_url(self, order: str) -> str:
        return f"{self.settings.public_url}/track/{order}?token={self.token('order', order)}"
