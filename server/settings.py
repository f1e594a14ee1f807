"""Settings from the environment (API.md, "Running it"). Read once at start; passed down, never re-read."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def _csv(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip().rstrip("/") for part in (value or "").split(",") if part.strip())


GATEWAYS = ("sandbox", "kdniao", "kuaidi100")
# Kdniao's production endpoint for 1007/1008/1147; its test endpoint is
# http://sandboxapi.kdniao.com:8080/kdniaosandbox/gateway/exterfaceInvoke.json (README, "Connecting a carrier gateway").
KDNIAO_API_URL = "https://api.kdniao.com/api/EOrderService"
KUAIDI100_API_URL = "https://poll.kuaidi100.com/poll"  # 快递100 订阅接口 (schema=json, param)


class SettingsError(ValueError):
    """A setting is missing or wrong: the process refuses to start, naming it."""


def _whole(name: str, value: str | None, default: int, what: str) -> int:
    if not value:
        return default
    if not (value.strip().isascii() and value.strip().isdigit()) or int(value) < 1:
        raise SettingsError(f"{name} takes a whole number of {what}, at least 1, not {value!r}")
    return int(value)


def _retention_days(value: str | None) -> int:
    return _whole("LIVEROOM_OUTBOX_RETENTION_DAYS", value, Settings.outbox_retention_days, "days")


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///./liveroom.db"
    redis_url: str | None = None
    api_key: str = ""
    secret: str = ""
    kdniao_appkey: str = ""
    kuaidi100_salt: str = ""
    allowed_origins: tuple[str, ...] = ()
    tick_ms: int = 25
    max_body_bytes: int = 64 * 1024
    public_url: str = "http://127.0.0.1:8000"
    notify_url: str | None = None  # pre-live reminders are POSTed here, signed with `secret` (unset: kept queued)
    # Survival limits (README, "Security and limits"): what one client, or many, may hold of the server.
    header_timeout_s: float = 10.0  # a request's headers complete within this, counted from its first byte
    body_timeout_s: float = 30.0  # and its body within this after the headers
    max_connections: int = 10_000  # open connections in all (HTTP and WebSocket); lowered to fit the file limit
    max_connections_per_address: int = 256  # HTTP connections from one client address
    ws_per_token: int = 20  # WebSockets open with one token
    ws_per_address: int = 1_000  # WebSockets open from one client address
    ws_stall_s: float = 10.0  # a screen that has not taken its frames for this long is cut
    ws_message_budget: int = 20  # messages a screen may send per window (screens send none; pings do not count)
    ws_message_window_s: float = 10.0
    at_risk_hours: float = 6.0  # ops: a parcel not collected this close to its ship_by is at risk
    # Carrier gateways (README, "Connecting a carrier gateway"): sandbox (waybills at once), kdniao or kuaidi100.
    carrier_gateway: str = "sandbox"
    kdniao_business_id: str = ""
    kdniao_api_url: str = KDNIAO_API_URL
    kdniao_pay_type: int = 3  # Kdniao 1007 PayType: 1 现付, 2 到付, 3 月结, 4 第三方支付
    kdniao_exp_type: str = "1"  # Kdniao 1007 ExpType: 1 标准快件
    kuaidi100_customer: str = ""
    kuaidi100_key: str = ""
    kuaidi100_api_url: str = KUAIDI100_API_URL
    kuaidi100_carriers: tuple[str, ...] = ()  # with kdniao: these carriers' tracking subscribes through Kuaidi100
    # The waybill worker (server/services/waybill_worker.py): how long a claimed request is not due again (keep it
    # well above a gateway call's bound, 20 s), and how long an open circuit stops requests to its carrier.
    waybill_lease_s: float = 60.0
    gateway_cool_down_s: float = 30.0
    # The outbox keeps events this many days, then prunes those every live process has applied (README, "Data that
    # lasts"; store/retention.py). A room's post-live review is built from its events: export it within this time.
    outbox_retention_days: int = 14
    room_parallel: int = 2  # PostgreSQL: room transactions a process writes at once (store/uow.py)
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
            tick_ms=int(env.get("LIVEROOM_TICK_MS", "25")),
            public_url=env.get("LIVEROOM_PUBLIC_URL", cls.public_url).rstrip("/"),
            notify_url=env.get("LIVEROOM_NOTIFY_URL") or None,
            header_timeout_s=float(env.get("LIVEROOM_HEADER_TIMEOUT_S", cls.header_timeout_s)),
            body_timeout_s=float(env.get("LIVEROOM_BODY_TIMEOUT_S", cls.body_timeout_s)),
            max_connections=int(env.get("LIVEROOM_MAX_CONNECTIONS", cls.max_connections)),
            max_connections_per_address=int(
                env.get("LIVEROOM_MAX_CONNECTIONS_PER_ADDRESS", cls.max_connections_per_address)
            ),
            ws_per_token=int(env.get("LIVEROOM_WS_PER_TOKEN", cls.ws_per_token)),
            ws_per_address=int(env.get("LIVEROOM_WS_PER_ADDRESS", cls.ws_per_address)),
            ws_stall_s=float(env.get("LIVEROOM_WS_STALL_S", cls.ws_stall_s)),
            ws_message_budget=int(env.get("LIVEROOM_WS_MESSAGE_BUDGET", cls.ws_message_budget)),
            ws_message_window_s=float(env.get("LIVEROOM_WS_MESSAGE_WINDOW_S", cls.ws_message_window_s)),
            at_risk_hours=float(env.get("LIVEROOM_AT_RISK_HOURS", cls.at_risk_hours)),
            carrier_gateway=(env.get("LIVEROOM_CARRIER_GATEWAY") or cls.carrier_gateway).strip().lower(),
            kdniao_business_id=env.get("LIVEROOM_KDNIAO_BUSINESS_ID", ""),
            kdniao_api_url=env.get("LIVEROOM_KDNIAO_API_URL") or cls.kdniao_api_url,
            kdniao_pay_type=int(env.get("LIVEROOM_KDNIAO_PAY_TYPE", cls.kdniao_pay_type)),
            kdniao_exp_type=env.get("LIVEROOM_KDNIAO_EXP_TYPE") or cls.kdniao_exp_type,
            kuaidi100_customer=env.get("LIVEROOM_KUAIDI100_CUSTOMER", ""),
            kuaidi100_key=env.get("LIVEROOM_KUAIDI100_KEY", ""),
            kuaidi100_api_url=env.get("LIVEROOM_KUAIDI100_API_URL") or cls.kuaidi100_api_url,
            kuaidi100_carriers=tuple(c.upper() for c in _csv(env.get("LIVEROOM_KUAIDI100_CARRIERS"))),
            waybill_lease_s=float(env.get("LIVEROOM_WAYBILL_LEASE_S") or cls.waybill_lease_s),
            gateway_cool_down_s=float(env.get("LIVEROOM_GATEWAY_COOL_DOWN_S") or cls.gateway_cool_down_s),
            outbox_retention_days=_retention_days(env.get("LIVEROOM_OUTBOX_RETENTION_DAYS")),
            room_parallel=_whole("LIVEROOM_ROOM_PARALLEL", env.get("LIVEROOM_ROOM_PARALLEL"), Settings.room_parallel,
                                 "transactions"),
        )

    def check_gateway(self) -> None:
        """Refuse to start with a carrier gateway that lacks a setting it needs, naming the setting."""
        if self.carrier_gateway not in GATEWAYS:
            raise SettingsError(
                f"LIVEROOM_CARRIER_GATEWAY must be one of {', '.join(GATEWAYS)}, not {self.carrier_gateway!r}"
            )
        needed: list[tuple[str, str]] = []
        if self.carrier_gateway == "kdniao":
            needed += [("LIVEROOM_KDNIAO_BUSINESS_ID", self.kdniao_business_id),
                       ("LIVEROOM_KDNIAO_APPKEY", self.kdniao_appkey)]
        if self.carrier_gateway == "kuaidi100" or (self.carrier_gateway == "kdniao" and self.kuaidi100_carriers):
            needed += [("LIVEROOM_KUAIDI100_KEY", self.kuaidi100_key)]
        missing = [name for name, value in needed if not value]
        if missing:
            raise SettingsError(
                f"LIVEROOM_CARRIER_GATEWAY={self.carrier_gateway} needs {', '.join(missing)} (not set)"
            )
