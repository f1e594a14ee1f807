"""The carrier gateways' tables (issue 14): the waybill requests the worker drives (server/services/waybill_worker.py)
and, on existing tables, each warehouse's sender block and each carrier's circuit. On store/models.py's MetaData,
which imports them back: import store.models, never this module directly."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint

from store.models import _id, _ts, carriers, metadata, shipments, warehouses

# The sender of every parcel from a warehouse (Kdniao 1007 `Sender`: Name, Mobile, ProvinceName, CityName,
# ExpAreaName, Address). Null until operations fills them in; a gateway refuses to start a request without them.
warehouses.append_column(Column("contact", String(64), nullable=True))
warehouses.append_column(Column("mobile", String(20), nullable=True))
warehouses.append_column(Column("district", String(64), nullable=True))
warehouses.append_column(Column("address", String(200), nullable=True))

# A carrier's gateway circuit (domain/gateway_rules.py): closed | open | half_open, until when it stays open, and the
# failures in a row that opened it. Kept in the database so every process routes around an open circuit.
carriers.append_column(Column("circuit", String(12), nullable=False, default="closed", server_default="closed"))
carriers.append_column(_ts("circuit_until", nullable=True))
carriers.append_column(Column("gateway_failures", Integer, nullable=False, default=0, server_default="0"))

# The gateway order code of a shipment's current booking (Kdniao OrderCode; null: the shipment id). A booking whose
# waybill was cancelled (1147) keeps its code used for good, so the shipment's next booking takes a fresh one.
shipments.append_column(Column("order_code", String(80), nullable=True))

waybill_requests = Table(  # what the worker must ask a gateway; written in the transaction that makes it needed
    "waybill_requests",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("shipment", String(80), nullable=False),
    _id("order", nullable=False),
    Column("kind", String(12), nullable=False),  # issue (Kdniao 1007) | subscribe (1008, Kuaidi100 poll) | cancel
    Column("carrier", String(16), nullable=False),
    Column("waybill", String(40), nullable=True),  # subscribe and cancel: the waybill they are about
    Column("order_code", String(80), nullable=True),  # the booking's gateway order code (null: the shipment id)
    Column("state", String(12), nullable=False),  # queued | done | refused | dropped (no longer wanted)
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_at"),  # due from then; a claim moves it a lease ahead, so one process at a time holds a request
    Column("last_error", Text, nullable=True),
    _ts("created_at"),
    _ts("done_at", nullable=True),
    UniqueConstraint("shipment", "kind", "carrier", name="uq_waybill_requests_shipment_kind_carrier"),
    Index("ix_waybill_requests_due", "state", "next_at"),
)
