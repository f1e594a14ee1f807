"""The simulator's only way into liveroom: HTTP requests to the public API, at most `concurrency` at a time.

Writes carry the API key; carrier pushes do not (aggregators sign their pushes instead). A request that cannot
reach the server answers None and counts as an error; many in a row mean the server is gone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx

UNREACHABLE_AFTER = 25  # consecutive failed requests before the session gives up on the server


class Api:
    def __init__(
        self,
        url: str,
        api_key: str,
        concurrency: int,
        on_error: Callable[[str], None],
        timeout: float = 30.0,
    ) -> None:
        self.http = httpx.AsyncClient(
            base_url=url.rstrip("/"),
            timeout=httpx.Timeout(timeout, connect=5.0),
            limits=httpx.Limits(
                max_connections=concurrency + max(2, concurrency // 2),
                max_keepalive_connections=concurrency + max(2, concurrency // 2),
            ),
        )
        self.auth = {"Authorization": f"Bearer {api_key}"}
        self.gate = asyncio.Semaphore(concurrency)
        # Carriers push from their own systems: their requests have a gate of their own, so that a burst of
        # pushes never holds buyers' orders back.
        self.carrier_gate = asyncio.Semaphore(max(2, concurrency // 2))
        self.on_error = on_error
        self.in_flight = 0
        self.failures_in_a_row = 0

    @property
    def unreachable(self) -> bool:
        return self.failures_in_a_row >= UNREACHABLE_AFTER

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        key: bool = True,
        carrier: bool = False,
    ) -> httpx.Response | None:
        async with self.carrier_gate if carrier else self.gate:
            self.in_flight += 1
            try:
                response = await self.http.request(
                    method, path, json=json, data=data, headers=self.auth if key else None
                )
            except httpx.HTTPError as error:
                self.failures_in_a_row += 1
                self.on_error(f"{method} {path}: {type(error).__name__} {error}".strip())
                return None
            finally:
                self.in_flight -= 1
        self.failures_in_a_row = 0
        if response.status_code >= 500:
            self.on_error(f"{method} {path}: {response.status_code} {response.text[:200]}")
        return response

    async def get(self, path: str) -> httpx.Response | None:
        return await self.request("GET", path)

    async def put(self, path: str, body: Any) -> httpx.Response | None:
        return await self.request("PUT", path, json=body)

    async def post(self, path: str, body: Any = None) -> httpx.Response | None:
        return await self.request("POST", path, json=body)

    async def delete(self, path: str) -> httpx.Response | None:
        return await self.request("DELETE", path)

    async def push(self, path: str, form: dict[str, str]) -> httpx.Response | None:
        """A carrier aggregator's signed form push: no API key."""
        return await self.request("POST", path, data=form, key=False, carrier=True)

    async def track(self, body: Any) -> httpx.Response | None:
        """The same-city courier's report in liveroom's normalized form (API key)."""
        return await self.request("POST", "/api/v1/tracking", json=body, carrier=True)

    async def healthy(self) -> bool:
        try:
            response = await self.http.get("/healthz", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    async def wait_until_healthy(self, seconds: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while True:
            if await self.healthy():
                return True
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.25)

    async def close(self) -> None:
        await self.http.aclose()


def answer_of(response: httpx.Response) -> dict[str, Any]:
    """The JSON object a response carries, or {} when it carries none."""
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def error_code(response: httpx.Response) -> str:
    return str(answer_of(response).get("error") or "")
