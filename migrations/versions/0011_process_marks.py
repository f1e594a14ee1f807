"""process marks: the outbox seq each live server process has applied, so old events can be pruned

The outbox is pruned past a retention period once every live process has applied an event (store/retention.py,
README "Data that lasts"). Each process writes its mark every few seconds. Only an addition: downgrading drops it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-10
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "process_marks",
        sa.Column("process", sa.String(80), nullable=False),
        sa.Column("applied_seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("process", name=op.f("pk_process_marks")),
    )


def downgrade() -> None:
    op.drop_table("process_marks")
