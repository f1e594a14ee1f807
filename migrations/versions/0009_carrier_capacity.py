"""carrier capacity: carriers.daily_capacity / cost_cents / provinces

Operations sets each carrier's daily capacity (parcels per China day; null = unlimited), its cost per parcel and
the provinces it covers best (`PUT /api/v1/carriers/{carrier}`); per-day usage stays in carrier_days.assigned.
Only additions: downgrading drops them.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("carriers", sa.Column("daily_capacity", sa.Integer(), nullable=True))
    op.add_column("carriers", sa.Column("cost_cents", sa.Integer(), nullable=True))
    op.add_column("carriers", sa.Column("provinces", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("carriers", "provinces")
    op.drop_column("carriers", "cost_cents")
    op.drop_column("carriers", "daily_capacity")
