"""growth: watch time, points, invitation tasks, recruits, prospects, coupons, questions, reminders

New tables for the growth engine (domain/growth.py) and new columns: rooms.min_watch_s / invite_reward_points /
reminders_queued, leaders.visitor / recruited_in (a visitor who became a leader), orders.coupon / discount_cents.
Only additions: downgrading drops them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "heartbeats",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room", "visitor", "at", name=op.f("pk_heartbeats")),
    )
    op.create_table(
        "points",
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=8), nullable=False),
        sa.Column("ref", sa.String(length=64), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_points_points_positive")),
        sa.PrimaryKeyConstraint("leader", "room", "reason", "ref", name=op.f("pk_points")),
    )
    op.create_table(
        "prospect_notes",
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("leader", "visitor", name=op.f("pk_prospect_notes")),
    )
    op.create_table(
        "reminders",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("room", "visitor", name=op.f("pk_reminders")),
    )
    op.create_table(
        "task_progress",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("watched", sa.Integer(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("room", "task", "leader", name=op.f("pk_task_progress")),
    )
    op.create_table(
        "viewers",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("visitor", sa.String(length=64), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=True),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("watched_us", sa.BigInteger(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("watched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ordered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("became_leader_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("room", "visitor", name=op.f("pk_viewers")),
    )
    with op.batch_alter_table("viewers", schema=None) as batch_op:
        batch_op.create_index("ix_viewers_room_leader", ["room", "leader"], unique=False)

    op.create_table(
        "coupons",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("coupon", sa.String(length=40), nullable=False),
        sa.Column("threshold_cents", sa.BigInteger(), nullable=False),
        sa.Column("off_cents", sa.BigInteger(), nullable=False),
        sa.Column("live_only", sa.Boolean(), nullable=False),
        sa.Column("invited_only", sa.Boolean(), nullable=False),
        sa.Column("quota", sa.Integer(), nullable=True),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "used >= 0 AND (quota IS NULL OR used <= quota)", name=op.f("ck_coupons_coupon_quota_respected")
        ),
        sa.ForeignKeyConstraint(["room"], ["rooms.room"], name=op.f("fk_coupons_room_rooms")),
        sa.PrimaryKeyConstraint("room", "coupon", name=op.f("pk_coupons")),
    )
    op.create_table(
        "questions",
        sa.Column("question", sa.String(length=64), nullable=False),
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("leader", sa.String(length=64), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["leader"], ["leaders.leader"], name=op.f("fk_questions_leader_leaders")),
        sa.ForeignKeyConstraint(["room"], ["rooms.room"], name=op.f("fk_questions_room_rooms")),
        sa.PrimaryKeyConstraint("question", name=op.f("pk_questions")),
    )
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.create_index("ix_questions_room", ["room", "asked_at"], unique=False)

    op.create_table(
        "room_tasks",
        sa.Column("room", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("goal", sa.Integer(), nullable=False),
        sa.Column("min_watch_s", sa.Integer(), nullable=False),
        sa.Column("reward_points", sa.Integer(), nullable=False),
        sa.Column("bonus_bp", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["room"], ["rooms.room"], name=op.f("fk_room_tasks_room_rooms")),
        sa.PrimaryKeyConstraint("room", "task", name=op.f("pk_room_tasks")),
    )
    # Plain ADD COLUMN and CREATE INDEX, never a batch "move and copy": on SQLite that recreates the table, and
    # DROP TABLE of leaders, orders or rooms with rows is refused by the foreign keys of the tables naming them.
    op.add_column("leaders", sa.Column("visitor", sa.String(length=64), nullable=True))
    op.add_column("leaders", sa.Column("recruited_in", sa.String(length=64), nullable=True))
    op.add_column("leaders", sa.Column("phone", sa.String(length=32), nullable=True))
    op.create_index("ix_leaders_visitor", "leaders", ["visitor"], unique=True)

    op.add_column("orders", sa.Column("coupon", sa.String(length=40), nullable=True))
    op.add_column("orders", sa.Column("discount_cents", sa.BigInteger(), server_default="0", nullable=False))

    op.add_column("rooms", sa.Column("min_watch_s", sa.Integer(), server_default="300", nullable=False))
    op.add_column("rooms", sa.Column("invite_reward_points", sa.Integer(), server_default="0", nullable=False))
    op.add_column("rooms", sa.Column("reminders_queued", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # The new tables first: they name rooms and leaders.
    op.drop_table("room_tasks")
    with op.batch_alter_table("questions", schema=None) as batch_op:
        batch_op.drop_index("ix_questions_room")

    op.drop_table("questions")
    op.drop_table("coupons")
    with op.batch_alter_table("viewers", schema=None) as batch_op:
        batch_op.drop_index("ix_viewers_room_leader")

    op.drop_table("viewers")
    op.drop_table("task_progress")
    op.drop_table("reminders")
    op.drop_table("prospect_notes")
    op.drop_table("points")
    op.drop_table("heartbeats")

    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), for the reason the upgrade adds them without a batch.
    for column in ("reminders_queued", "invite_reward_points", "min_watch_s"):
        op.drop_column("rooms", column)
    for column in ("discount_cents", "coupon"):
        op.drop_column("orders", column)
    op.drop_index("ix_leaders_visitor", table_name="leaders")
    for column in ("phone", "recruited_in", "visitor"):
        op.drop_column("leaders", column)
