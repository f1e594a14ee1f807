"""outbox_pending: on PostgreSQL, events wait here until the sequencer gives them their outbox seq

Writers of different rooms commit side by side (issue 15); each writes its events here in its own transaction, and
the sequencer (store/sequencer.py) moves them into `outbox` under a short lock of its own, so outbox seqs stay
consecutive and in commit order. SQLite (one writer per file) keeps writing the outbox directly. Only an addition:
downgrading drops it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_pending",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox_pending")),
    )


def downgrade() -> None:
    op.drop_table("outbox_pending")
