"""Waybills come from a carrier adapter. The embedded default is a sandbox carrier that numbers waybills the way the
real carriers print them (SF + 13 digits, YT + 13, JT + 13, ZTO 14 digits starting with 7, ...), from one counter
kept in the database, so numbers never repeat across restarts or processes."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select, text

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
_RESERVE_BLOCK = text(
    "INSERT INTO counters (name, value) VALUES (:name, :n) "
    "ON CONFLICT (name) DO UPDATE SET value = counters.value + :n RETURNING value")


class WaybillIssuer(Protocol):
    async def prepare(self, tx: Tx) -> None: ...

    def issue(self, tx: Tx, carriers: list[str]) -> list[str]: ...

    async def reserve(self, tx: Tx, wanted: int, block: int) -> None: ...


class SandboxCarrier:
    """Issues waybill numbers locally; a real adapter would book them with the carrier's API."""

    async def prepare(self, tx: Tx) -> None:
        if _KEY in tx.cache:
            return
        if tx.scoped:  # serials come in blocks, reserved once an order needs them (`reserve`)
            tx.cache[_KEY] = [0, 0, 0]
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

    async def reserve(self, tx: Tx, wanted: int, block: int) -> None:
        """Room-scoped writing: other rooms' transactions issue waybills at the same time, so serials come from a
        block reserved in a short transaction of its own (committed at once: the counter row is never held to this
        commit). When fewer than `wanted` are left, a new block of `block` is taken (the rest of the old one and
        whatever this one leaves unused are gaps in the serials, never a repeat)."""
        _, current, end = tx.cache[_KEY]
        if current + wanted <= end:
            return
        size = max(wanted, block)
        async with tx.conn.engine.begin() as side:
            end = (await side.execute(_RESERVE_BLOCK, {"name": _COUNTER, "n": size})).scalar_one()
        tx.cache[_KEY] = [end - size, end - size, end]

    def issue(self, tx: Tx, carriers: list[str]) -> list[str]:
        numbers = []
        serials = tx.cache[_KEY]
        if len(serials) == 3 and serials[1] + len(carriers) > serials[2]:
            raise RuntimeError("more waybills than the block reserved for this transaction")
        for carrier in carriers:
            tx.cache[_KEY][1] += 1
            prefix, digits = SANDBOX_FORMATS.get(carrier, (carrier[:2].upper(), 12))
            numbers.append(f"{prefix}{10 ** (digits - 1) + tx.cache[_KEY][1]:0{digits}d}")
        return numbers
