"""token revocations: every token of a (role, subject) issued at or before revoked_at is refused

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "token_revocations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_revocations")),
    )
    op.create_index("ix_token_revocations_subject", "token_revocations", ["role", "subject", "revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_token_revocations_subject", table_name="token_revocations")
    op.drop_table("token_revocations")
