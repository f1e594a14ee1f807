"""tiered stocking: rooms.forecast (the room's forecast settings: core threshold, expected audience, conversion)

Only an addition: downgrading drops it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("rooms", sa.Column("forecast", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("rooms", "forecast")
