"""The growth engine's tables (domain/growth.py): heartbeats and viewers, the points ledger, invitation tasks,
prospects' notes, coupons, questions and pre-live reminders. On store/models.py's MetaData, which imports them back:
import store.models, never this module directly."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from store.models import UtcDateTime, _cents, _id, _ts, metadata

heartbeats = Table(  # the presence heartbeats a visitor's watch time is the sum of the short gaps between
    "heartbeats",
    metadata,
    _id("room", primary_key=True),
    _id("visitor", primary_key=True),
    Column("at", UtcDateTime(), primary_key=True),
)

viewers = Table(  # one visitor in one room: the leader they are bound to, their watch time and their path
    "viewers",
    metadata,
    _id("room", primary_key=True),
    _id("visitor", primary_key=True),
    _id("leader", nullable=True),
    _ts("first_seen"),
    _ts("last_seen"),
    Column("watched_us", BigInteger, nullable=False, default=0),
    _ts("clicked_at", nullable=True),
    _ts("entered_at", nullable=True),
    _ts("watched_at", nullable=True),
    _ts("ordered_at", nullable=True),
    _ts("became_leader_at", nullable=True),
    Index("ix_viewers_room_leader", "room", "leader"),
)

points = Table(  # the points ledger: credits only, one per (leader, room, reason, ref)
    "points",
    metadata,
    _id("leader", primary_key=True),
    _id("room", primary_key=True),
    Column("reason", String(8), primary_key=True),  # invite | task
    _id("ref", primary_key=True),  # the visitor, or the task
    Column("points", Integer, nullable=False),
    _ts("at"),
    CheckConstraint("points > 0", name="points_positive"),
)

room_tasks = Table(
    "room_tasks",
    metadata,
    _id("room", ForeignKey("rooms.room"), primary_key=True),
    _id("task", primary_key=True),
    Column("title", String(200), nullable=False),
    Column("goal", Integer, nullable=False),
    Column("min_watch_s", Integer, nullable=False),
    Column("reward_points", Integer, nullable=False),
    Column("bonus_bp", Integer, nullable=False),
    _ts("updated_at"),
)

task_progress = (
    Table(  # per leader: invitees who watched the task's min_watch_s, and when the goal was reached
        "task_progress",
        metadata,
        _id("room", primary_key=True),
        _id("task", primary_key=True),
        _id("leader", primary_key=True),
        Column("watched", Integer, nullable=False, default=0),
        _ts("done_at", nullable=True),
    )
)

prospect_notes = Table(
    "prospect_notes",
    metadata,
    _id("leader", primary_key=True),
    _id("visitor", primary_key=True),
    Column("tags", JSON, nullable=False),
    Column("note", String(500), nullable=False, default=""),
    _ts("updated_at"),
)

coupons = Table(
    "coupons",
    metadata,
    _id("room", ForeignKey("rooms.room"), primary_key=True),
    Column("coupon", String(40), primary_key=True),
    _cents("threshold_cents"),
    _cents("off_cents"),
    Column("live_only", Boolean, nullable=False),
    Column("invited_only", Boolean, nullable=False),
    Column("quota", Integer),
    Column("used", Integer, nullable=False, default=0),
    _ts("updated_at"),
    CheckConstraint("used >= 0 AND (quota IS NULL OR used <= quota)", name="coupon_quota_respected"),
)

questions = Table(
    "questions",
    metadata,
    _id("question", primary_key=True),
    _id("room", ForeignKey("rooms.room"), nullable=False),
    _id("leader", ForeignKey("leaders.leader"), nullable=False),
    Column("text", String(300), nullable=False),
    _id("sku", nullable=True),
    _ts("asked_at"),
    _ts("answered_at", nullable=True),
    Index("ix_questions_room", "room", "asked_at"),
)

reminders = Table(  # visitors who clicked before the room started and had not entered when it did
    "reminders",
    metadata,
    _id("room", primary_key=True),
    _id("visitor", primary_key=True),
    _id("leader", nullable=True),
    Column("state", String(8), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    _ts("next_at", nullable=True),
    _ts("sent_at", nullable=True),
    _ts("created_at"),
)

__all__ = [
    "coupons", "heartbeats", "points", "prospect_notes", "questions", "reminders", "room_tasks", "task_progress",
    "viewers",
]
