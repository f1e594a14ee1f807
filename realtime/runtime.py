"""The realtime side of one process: projections, bus, follower, relay and hub, started and stopped together.

    writer.on_commit ─► Relay ─► Bus (in-process │ Redis Stream) ─► Follower ─► Projections ─► Hub.mark_dirty
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.tokens import Checked, Claim
from realtime.bus import Bus, InProcessBus, RedisStreamBus
from realtime.hub import HtmlRenderer, Hub
from realtime.lag import LagSampler
from realtime.marks import ProcessMark
from realtime.projections import Projections
from realtime.relay import Follower, Relay
from store.tasks import cancel_and_wait

log = logging.getLogger("liveroom.realtime")

_ROOM_TOPICS = ("stock", "board", "feed", "questions")  # a host token opens all four of its room's


@dataclass(frozen=True)
class ScreenLimits:
    """What one screen, one token and one client address may hold (README, "Security and limits")."""

    per_token: int = 20
    per_address: int = 1_000
    stall_s: float = 10.0  # frames not taken for this long while there were frames to send: the screen is cut
    message_budget: int = 20  # messages a screen may send per window; screens send none (pings do not count)
    message_window_s: float = 10.0


class SocketCounts:
    """Open WebSockets per token and per client address; every admission is matched by one `leave`."""

    def __init__(self, limits: ScreenLimits) -> None:
        self.limits = limits
        self.by_token: dict[str, int] = {}
        self.by_address: dict[str, int] = {}

    def enter(self, token: str, address: str) -> str | None:
        """Count a socket in, or say why not (nothing counted then)."""
        if self.by_token.get(token, 0) >= self.limits.per_token:
            return "too many connections with this token"
        if self.by_address.get(address, 0) >= self.limits.per_address:
            return "too many connections from this address"
        self.by_token[token] = self.by_token.get(token, 0) + 1
        self.by_address[address] = self.by_address.get(address, 0) + 1
        return None

    def leave(self, token: str, address: str) -> None:
        for counts, key in ((self.by_token, token), (self.by_address, address)):
            left = counts.get(key, 0) - 1
            if left > 0:
                counts[key] = left
            else:
                counts.pop(key, None)


class Realtime:
    def __init__(self, engine: AsyncEngine, clock: Callable[[], datetime], *, redis_url: str | None = None,
                 tick_ms: int = 25, html: HtmlRenderer | None = None,
                 check: Callable[[str | None], Awaitable[Checked]], allowed_origins: tuple[str, ...] = (),
                 screen_limits: ScreenLimits | None = None, at_risk_hours: float = 6.0) -> None:
        self.engine = engine
        self.screen_limits = screen_limits or ScreenLimits()
        self.sockets = SocketCounts(self.screen_limits)
        self.check = check  # a token's verdict: genuine, unexpired, not revoked (server/revocations.py)
        self.allowed_origins = frozenset(filter(None, map(normal_origin, allowed_origins)))
        self.projections = Projections(clock, at_risk_hours=at_risk_hours)
        self.bus: Bus = RedisStreamBus(redis_url) if redis_url else InProcessBus()
        self.hub = Hub(self.projections, tick_ms=tick_ms, html=html, stall_s=self.screen_limits.stall_s)
        self.follower = Follower(engine, self.projections, self.hub.mark_dirty)
        self.relay = Relay(self.bus)
        self.lag = LagSampler(engine, lambda: self.follower.applied, clock)
        self.projections.on_revoked = self.hub.revoke
        self.marks = ProcessMark(engine, clock, lambda: self.follower.applied, self.reload)

    async def start(self) -> Callable[[list[tuple[int, dict[str, object]]]], None]:
        """Load the read models, start following the bus; returns the writer's on-commit hook."""
        await self.projections.load(self.engine)
        await self.bus.start(self.follower.receive)
        await self.follower.start()
        await self.marks.start()
        self.hub.start()
        self.lag.start()
        self._clock_task = asyncio.create_task(self._clock_ticks(), name="liveroom-clock-topics")
        return self.relay.committed

    async def _clock_ticks(self) -> None:
        """Sell rates and per-minute series move with time alone: redraw those topics once a second."""
        while True:
            await asyncio.sleep(1.0)
            self.hub.mark_dirty(self.projections.clock_topics())

    async def reload(self) -> None:
        """Load the read models afresh (events were pruned that this process had not applied) and redraw."""
        await self.projections.load(self.engine)
        self.hub.mark_dirty(set(self.projections.topics()))

    async def stop(self) -> None:
        await cancel_and_wait(self._clock_task)
        await self.lag.stop()
        await self.marks.stop()
        await self.hub.stop()
        await self.follower.stop()
        await self.relay.stop()
        await self.bus.stop()

    # --- who may open what -------------------------------------------------------------------------------

    def origin_allowed(self, origin: str | None, host: str | None, scheme: str = "ws") -> bool:
        """A browser's Origin must be the server's own or a configured one, compared whole: scheme, host and port
        (`https://host:port` is not the origin of an `http://` server on that port). The server's own origin is
        the request's scheme (ws → http, wss → https) and its Host header. A client without Origin relies on its
        token."""
        if origin is None:
            return True
        seen = normal_origin(origin)
        if seen is None:
            return False
        if seen in self.allowed_origins:
            return True
        own = normal_origin(f"{'https' if scheme in ('wss', 'https') else 'http'}://{host}") if host else None
        return seen == own

    def revoked_here(self, claim: Claim) -> bool:
        """Whether a revocation applied here covers `claim` (for a socket attached while its event travelled)."""
        revoked = self.projections.revoked_us(claim.role, claim.subject)
        return revoked is not None and claim.issued_us <= revoked

    async def may_open(self, claim: Claim, topic: str) -> bool:
        role, subject = claim.role, claim.subject
        if role == "ops":
            return await self._exists(topic)
        if role == "host":
            return topic in {f"room:{subject}:{kind}" for kind in _ROOM_TOPICS}
        if role == "leader":
            if topic == f"leader:{subject}":
                return True
            parts = topic.split(":")
            return len(parts) == 3 and parts[0] == "room" and parts[2] == "board" and \
                parts[1] in self.projections.leader_rooms(subject)
        if role == "order":
            return topic == f"order:{subject}" and await self.projections.ensure_order(self.engine, subject)
        return False

    async def _exists(self, topic: str) -> bool:
        if topic.startswith("order:"):
            return await self.projections.ensure_order(self.engine, topic.split(":", 1)[1])
        return valid_topic(topic)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def normal_origin(origin: str) -> str | None:
    """`scheme://host[:port]` in one spelling (lower case, default port left out); None when it is not an http(s)
    origin (a path, credentials, "null", …)."""
    try:
        parts = urlsplit(origin.strip().rstrip("/"))
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path or parts.query or parts.username:
        return None
    host = parts.hostname.lower()
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != _DEFAULT_PORTS[scheme] else "")


def valid_topic(topic: str) -> bool:
    parts = topic.split(":")
    if parts == ["ops"]:
        return True
    if len(parts) == 2 and parts[0] in ("leader", "order"):
        return bool(parts[1])
    return len(parts) == 3 and parts[0] == "room" and bool(parts[1]) and parts[2] in _ROOM_TOPICS
