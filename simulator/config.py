"""The simulator's settings: where the server is, how big and how fast the session is, the secrets it signs
with. `liveroom simulate` builds one from its flags and the environment."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,20}$")


def default_run_tag() -> str:
    """Order and visitor ids carry a tag per run, so a second session against the same database plays new
    orders instead of replaying the first one's (a replayed order id answers its first answer)."""
    return datetime.now().strftime("%m%d%H%M%S")


@dataclass(frozen=True)
class SimConfig:
    url: str = "http://127.0.0.1:8000"
    api_key: str = ""
    kdniao_appkey: str = ""  # LIVEROOM_KDNIAO_APPKEY, the same as the server's
    kuaidi100_salt: str = ""  # LIVEROOM_KUAIDI100_SALT, the same as the server's
    leaders: int = 300
    orders: int = 5000
    rate: float = 4.0  # calm baseline, orders per second; pulses run at ten times this
    speed: float = 60.0  # carriers' clock: sim seconds per wall second
    # The days after a parcel arrives (when late refunds come) run faster still: at 1,440 a day passes in a wall
    # minute, so a demo a few minutes old already shows them. The server dates each refund on receipt.
    after_speed: float = 1440.0
    seed: int = 7
    concurrency: int = 32
    room: str = "live-1"
    run: str = field(default_factory=default_run_tag)
    pulse_every: float | None = None  # seconds from one pitch to the next (default: about three per session)
    pulse_seconds: float | None = None  # how long a pitch lasts (default: a quarter of pulse_every)
    drain: float = 30.0  # after the last order, seconds to let pending carrier events and follow-ups finish
    wait: float = 30.0  # seconds to wait for the server's /healthz at start
    min_watch_s: int = 120  # the room's "watched" mark (simulated seconds of heartbeats)
    # `--gateway test`: the simulator serves the test carrier gateway (simulator/gateway.py) on this loopback port
    # and learns each shipment's waybill when the server books it there (LIVEROOM_CARRIER_GATEWAY=kdniao).
    gateway: str | None = None
    gateway_port: int = 0  # 0: any free port
    kdniao_business_id: str = ""  # LIVEROOM_KDNIAO_BUSINESS_ID, the same as the server's
    kuaidi100_key: str = ""  # LIVEROOM_KUAIDI100_KEY, the same as the server's

    def __post_init__(self) -> None:
        problems = []
        if self.leaders < 1:
            problems.append("--leaders must be at least 1")
        if self.orders < 1:
            problems.append("--orders must be at least 1")
        if not self.rate > 0:
            problems.append("--rate must be above 0")
        if not self.speed > 0:
            problems.append("--speed must be above 0")
        if not self.after_speed > 0:
            problems.append("--after-speed must be above 0")
        if self.concurrency < 1:
            problems.append("--concurrency must be at least 1")
        if self.pulse_every is not None and not self.pulse_every > 0:
            problems.append("--pulse-every must be above 0")
        if self.pulse_seconds is not None and self.pulse_seconds < 0:
            problems.append("--pulse-seconds must not be negative")
        if self.drain < 0 or self.wait < 0:
            problems.append("--drain and --wait must not be negative")
        if self.min_watch_s < 30:
            problems.append("min_watch_s must be at least 30 (one heartbeat gap)")
        if self.gateway not in (None, "test"):
            problems.append("--gateway must be 'test'")
        if not 0 <= self.gateway_port <= 65535:
            problems.append("--gateway-port must be a port number (0 for any free one)")
        if not _TAG.match(self.run):
            problems.append("--run must be letters, digits, '.', '_' or '-' (at most 21)")
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$", self.room):
            problems.append("--room must be a valid id")
        if not self.url.startswith(("http://", "https://")):
            problems.append("--url must start with http:// or https://")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def signs_pushes(self) -> bool:
        """Without both carrier secrets the pushes would be refused: every parcel reports through the
        normalized API instead."""
        return bool(self.kdniao_appkey and self.kuaidi100_salt)
