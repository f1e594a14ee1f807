"""shipping promises: rooms.ship_promise, orders.ship_by

A room's shipping promise by payment time (domain/promise.py) and the ship_by each order was promised. Only
additions: downgrading drops them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("ship_promise", sa.JSON(), nullable=True))
    op.add_column("orders", sa.Column("ship_by", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "ship_by")
    op.drop_column("rooms", "ship_promise")
