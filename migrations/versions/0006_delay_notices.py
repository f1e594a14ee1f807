"""pnote: delay notices (issue 13)

One table, `notices`: a notice's text and criteria (room, warehouse, carrier, province: each optional), how many
orders it reached when posted, and when it was withdrawn. Which orders show a notice is computed when read
(domain/notices.py), so orders placed later match too. Only an addition: downgrading drops it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notices",
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=True),
        sa.Column("warehouse", sa.String(length=64), nullable=True),
        sa.Column("carrier", sa.String(length=16), nullable=True),
        sa.Column("province", sa.String(length=32), nullable=True),
        sa.Column("orders", sa.Integer(), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("notice", name=op.f("pk_notices")),
    )


def downgrade() -> None:
    op.drop_table("notices")
