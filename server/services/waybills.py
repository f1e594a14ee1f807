"""Waybills come from a carrier adapter. The embedded default is a sandbox carrier that numbers waybills the way the
real carriers print them (SF + 13 digits, YT + 13, JT + 13, ZTO 14 digits starting with 7, ...), from one counter
kept in the database, so numbers never repeat across restarts or processes."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select

from store import models
from store.sql import upsert
from store.uow import Tx

# carrier → (prefix, digits after the prefix)
SANDBOX_FORMATS: dict[str, tuple[str, int]] = {
    "SF": ("SF", 13),
    "YTO": ("YT", 13),
    "JTSD": ("JT", 13),
    "ZTO": ("7", 13),
    "STO": ("77", 11),
    "YD": ("43", 11),
    "EMS": ("1", 12),
    "LOCAL": ("LC", 12),
}
_COUNTER = "waybill"
_KEY = "waybill_serial"


class WaybillIssuer(Protocol):
    async def prepare(self, tx: Tx) -> None: ...

    def issue(self, tx: Tx, carriers: list[str]) -> list[str]: ...


class SandboxCarrier:
    """Issues waybill numbers locally; a real adapter would book them with the carrier's API."""

    async def prepare(self, tx: Tx) -> None:
        if _KEY in tx.cache:
            return
        value = (
            await tx.conn.execute(select(models.counters.c.value).where(models.counters.c.name == _COUNTER))
        ).scalar_one_or_none()
        tx.cache[_KEY] = [value or 0, value or 0]

        async def store() -> None:  # only when a waybill was issued: a refused order leaves no trace
            start, current = tx.cache[_KEY]
            if current != start:
                await upsert(
                    tx.conn, models.counters, [{"name": _COUNTER, "value": current}], ["name"], ["value"]
                )

        tx.before_commit[_KEY] = store

    def issue(self, tx: Tx, carriers: list[str]) -> list[str]:
        numbers = []
        for carrier in carriers:
            tx.cache[_KEY][1] += 1
            prefix, digits = SANDBOX_FORMATS.get(carrier, (carrier[:2].upper(), 12))
            numbers.append(f"{prefix}{10 ** (digits - 1) + tx.cache[_KEY][1]:0{digits}d}")
        return numbers
