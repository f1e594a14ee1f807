"""The outgoing webhook of pre-live reminders: a JSON POST to `LIVEROOM_NOTIFY_URL`, signed so the receiver can tell
it came from this liveroom.

`X-Liveroom-Signature: sha256=<hex>`, where <hex> is the HMAC-SHA256 of the exact body bytes under
`LIVEROOM_SECRET`. The receiver recomputes it over the raw body it got (before parsing the JSON) and compares in
constant time. Only a 2xx answer acknowledges a reminder; anything else (another status, a timeout, a refused
connection) is a failed attempt that server/services/reminders.py retries later.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

import httpx
import orjson

log = logging.getLogger("liveroom.notifier")

SIGNATURE_HEADER = "X-Liveroom-Signature"
TIMEOUT_S = 5.0  # well inside the claim's lease (reminders.LEASE_S): a slow receiver cannot get a reminder sent twice


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`: `sha256=` and the hex HMAC-SHA256 of the body under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Notifier:
    """POSTs signed JSON to one URL over a kept-alive connection pool; `close` when done."""

    def __init__(self, url: str, secret: str, *, timeout: float = TIMEOUT_S) -> None:
        self.url = url
        self.secret = secret
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def send(self, payload: dict[str, Any]) -> bool:
        """True when the receiver acknowledged (2xx); False for any other answer or no answer."""
        body = orjson.dumps(payload)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self.secret, body)}
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as error:
            log.warning("reminder to %s not delivered: %s", self.url, type(error).__name__)
            return False
        if 200 <= response.status_code < 300:
            return True
        log.warning("reminder to %s answered %d", self.url, response.status_code)
        return False

    async def close(self) -> None:
        await self._client.aclose()
