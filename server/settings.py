"""Settings from the environment (API.md, "Running it"). Read once at start; passed down, never re-read."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in (value or "").split(",") if part.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./liveroom.db"
    redis_url: str | None = None
    api_key: str = ""
    secret: str = ""
    kdniao_appkey: str = ""
    kuaidi100_salt: str = ""
    allowed_origins: tuple[str, ...] = ()
    tick_ms: int = 100
    max_body_bytes: int = 64 * 1024
    public_url: str = "http://127.0.0.1:8000"
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            database_url=env.get("LIVEROOM_DATABASE_URL", cls.database_url),
            redis_url=env.get("LIVEROOM_REDIS_URL") or None,
            # Without a configured key or secret the process makes up its own: safe (nothing opens by accident)
            # and the CLI prints them for the demo. Production sets both.
            api_key=env.get("LIVEROOM_API_KEY") or "",
            secret=env.get("LIVEROOM_SECRET") or "",
            kdniao_appkey=env.get("LIVEROOM_KDNIAO_APPKEY", ""),
            kuaidi100_salt=env.get("LIVEROOM_KUAIDI100_SALT", ""),
            allowed_origins=_csv(env.get("LIVEROOM_ALLOWED_ORIGINS")),
            tick_ms=int(env.get("LIVEROOM_TICK_MS", "100")),
            public_url=env.get("LIVEROOM_PUBLIC_URL", cls.public_url).rstrip("/"),
        )

    def with_generated_secrets(self) -> Settings:
        """Fill a missing API key or signing secret with a random one (never a guessable default)."""
        from dataclasses import replace

        return replace(
            self,
            api_key=self.api_key or secrets.token_urlsafe(24),
            secret=self.secret or secrets.token_urlsafe(32),
        )
