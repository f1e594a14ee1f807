"""carrier gateways: waybill_requests, warehouses' sender block, carriers' circuit

Waybills booked with Kdniao / Kuaidi100 after the order's commit (issue 14): the requests the worker drives, each
warehouse's sender (contact, mobile, district, address) and each carrier's circuit breaker. Only additions:
downgrading drops them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("warehouses", sa.Column("contact", sa.String(64), nullable=True))
    op.add_column("warehouses", sa.Column("mobile", sa.String(20), nullable=True))
    op.add_column("warehouses", sa.Column("district", sa.String(64), nullable=True))
    op.add_column("warehouses", sa.Column("address", sa.String(200), nullable=True))
    op.add_column("carriers", sa.Column("circuit", sa.String(12), nullable=False, server_default="closed"))
    op.add_column("carriers", sa.Column("circuit_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("carriers", sa.Column("gateway_failures", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("shipments", sa.Column("order_code", sa.String(80), nullable=True))
    op.create_table(
        "waybill_requests",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("shipment", sa.String(80), nullable=False),
        sa.Column("order", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("carrier", sa.String(16), nullable=False),
        sa.Column("waybill", sa.String(40), nullable=True),
        sa.Column("order_code", sa.String(80), nullable=True),
        sa.Column("state", sa.String(12), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waybill_requests")),
        sa.UniqueConstraint("shipment", "kind", "carrier", name=op.f("uq_waybill_requests_shipment_kind_carrier")),
    )
    op.create_index("ix_waybill_requests_due", "waybill_requests", ["state", "next_at"])


def downgrade() -> None:
    op.drop_index("ix_waybill_requests_due", table_name="waybill_requests")
    op.drop_table("waybill_requests")
    op.drop_column("shipments", "order_code")
    op.drop_column("carriers", "gateway_failures")
    op.drop_column("carriers", "circuit_until")
    op.drop_column("carriers", "circuit")
    op.drop_column("warehouses", "address")
    op.drop_column("warehouses", "district")
    op.drop_column("warehouses", "mobile")
    op.drop_column("warehouses", "contact")
