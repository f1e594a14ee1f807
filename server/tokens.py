"""Screen and tracking tokens: `ROLE.SUBJECT.SIGNATURE`, HMAC-SHA256 with LIVEROOM_SECRET.

A token names one role and one subject (a room for `host`, a leader id for `leader`, `-` for `ops`, an order id for
`order`) and opens only that subject's topics and pages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

ROLES = ("host", "leader", "ops", "order")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, role: str, subject: str) -> str:
    mac = hmac.new(secret.encode(), f"{role}\x00{subject}".encode(), hashlib.sha256).digest()
    return _b64(mac[:18])


def mint(secret: str, role: str, subject: str) -> str:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if not subject:
        raise ValueError("subject is required")
    return f"{role}.{_b64(subject.encode())}.{_signature(secret, role, subject)}"


def verify(secret: str, token: str | None) -> tuple[str, str] | None:
    """(role, subject) for a genuine token, None for anything else."""
    if not token or token.count(".") != 2:
        return None
    role, encoded, signature = token.split(".")
    if role not in ROLES:
        return None
    try:
        subject = _unb64(encoded).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not hmac.compare_digest(signature, _signature(secret, role, subject)):
        return None
    return role, subject
