"""read checkpoints: the growth read model folded up to an outbox seq, so growth events can be pruned too

The growth figures (points, tasks, recruits, prospects, questions, funnels, reminders) are folded from growth events;
a checkpoint of that fold, taken before each pruning run, lets the events it covers go like any other
(realtime/projections/growth_checkpoint.py). Only an addition: downgrading drops it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "read_checkpoints",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_read_checkpoints")),
    )


def downgrade() -> None:
    op.drop_table("read_checkpoints")
