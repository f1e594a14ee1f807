"""Screen and tracking tokens: `ROLE.SUBJECT.ISSUED.EXPIRES.SIGNATURE`, HMAC-SHA256 with LIVEROOM_SECRET.

A token names one role and one subject (a room for `host`, a leader id for `leader`, `-` for `ops`, an order id for
`order`) and opens only that subject's topics, pages and reads. It also carries when it was issued (microseconds
since the epoch, base 36: sub-second, so a token minted right after a revocation is told apart from the ones before
it) and when it expires (seconds since the epoch, base 36); the signature covers role, subject and both times, so
neither can be stretched. Screen tokens live 30 days unless told otherwise; an order's tracking token expires 90
days after the order was placed. A token without those times (the old three-part format) is refused.

Reading a token is one HMAC and a few integer parses: it runs on every page load and WebSocket handshake.
Revocation is not decided here (it needs the database): see server/revocations.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

ROLES = ("host", "leader", "ops", "order")
SCREEN_TTL = timedelta(days=30)
TRACKING_TTL = timedelta(days=90)  # after the order's placing time
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)


class Claim(NamedTuple):
    """What a genuine token says: its role and subject, when it was issued and when it expires."""

    role: str
    subject: str
    issued_us: int  # microseconds since the epoch
    expires_s: int  # seconds since the epoch

    def opens(self, role: str, subject: str) -> bool:
        return self.role == role and self.subject == subject

    def expired(self, now: datetime) -> bool:
        return epoch_us(now) >= self.expires_s * 1_000_000


def epoch_us(when: datetime) -> int:
    """Exact microseconds since the epoch (integer arithmetic: no float rounding at the revocation boundary)."""
    return (when - EPOCH) // _MICRO


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, digit = divmod(number, 36)
        out = digits[digit] + out
        if not number:
            return out


def _signature(secret: str, role: str, subject: str, issued: str, expires: str) -> str:
    message = f"{role}\x00{subject}\x00{issued}\x00{expires}".encode()
    return _b64(hmac.new(secret.encode(), message, hashlib.sha256).digest()[:18])


def mint(
    secret: str,
    role: str,
    subject: str,
    *,
    now: datetime | None = None,
    ttl: timedelta | None = None,
    expires: datetime | None = None,
) -> str:
    """A token for (role, subject) issued at `now` (default: the system clock), expiring at `expires`, else after
    `ttl`, else after the default for its role (30 days for screens, 90 for an order: pass the order's placing time
    + TRACKING_TTL as `expires` for a tracking link)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not subject:
        raise ValueError("subject is required")
    if ttl is not None and ttl <= timedelta(0):
        raise ValueError("ttl must be positive")
    now = now or datetime.now(UTC)
    if expires is None:
        expires = now + (ttl if ttl is not None else TRACKING_TTL if role == "order" else SCREEN_TTL)
    issued = _b36(epoch_us(now))
    until = _b36(max(0, -(-epoch_us(expires) // 1_000_000)))  # rounded up to the second
    return (
        f"{role}.{_b64(subject.encode())}.{issued}.{until}.{_signature(secret, role, subject, issued, until)}"
    )


def read(secret: str, token: str | None) -> Claim | None:
    """The claim of a genuine token, expired or not; None for anything forged, malformed or of the old format."""
    if not token or token.count(".") != 4 or len(token) > 400:
        return None
    role, encoded, issued, until, signature = token.split(".")
    if role not in ROLES or not issued.isalnum() or not until.isalnum():
        return None
    try:
        subject = _unb64(encoded).decode()
        issued_us, expires_s = int(issued, 36), int(until, 36)
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(signature, _signature(secret, role, subject, issued, until)):
        return None
    return Claim(role, subject, issued_us, expires_s)


def verify(secret: str, token: str | None, now: datetime | None = None) -> Claim | None:
    """The claim of a genuine token that has not expired at `now` (default: the system clock), else None."""
    claim = read(secret, token)
    if claim is None or claim.expired(now or datetime.now(UTC)):
        return None
    return claim


class Checked(NamedTuple):
    """A token's verdict: the claim when it may be used, else why not (and, for a genuine but expired or revoked
    token, what it would have opened: a page says "expired" only to a token that was its own)."""

    claim: Claim | None
    problem: str | None = None  # "missing" | "invalid" | "expired" | "revoked" when claim is None
    genuine: Claim | None = None
