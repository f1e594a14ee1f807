"""The schema: SQLAlchemy Core tables on one MetaData with a naming convention.

Core rather than ORM because the write path decides many orders in memory and writes them with a handful of
`executemany` statements per transaction; an identity map would only add work. Alembic migrations in `migrations/`
are generated from and checked against this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.expression import false
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, on every backend (SQLite keeps no zone: it is restored here)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime refused: liveroom stores UTC times only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64  # every business id (order, sku, leader, ...) is a string of at most 64 characters


def _id(name: str, *args: object, **kwargs: object) -> Column[str]:
    return Column(name, String(ID), *args, **kwargs)  # type: ignore[arg-type]


def _ts(name: str, nullable: bool = False) -> Column[object]:
    return Column(name, UtcDateTime(), nullable=nullable)


def _cents(name: str) -> Column[int]:
    return Column(name, BigInteger, nullable=False, default=0)


instance = (
    Table(  # settings the instance made up for itself (signing secret, API key) when none was configured
        "instance",
        metadata,
        Column("key", String(64), primary_key=True),
        Column("value", Text, nullable=False),
    )
)

warehouses = Table(
    "warehouses",
    metadata,
    _id("code", primary_key=True),
    Column("name", String(200), nullable=False),
    Column("province", String(32), nullable=False),
    Column("city", String(64)),
    Column("active", Boolean, nullable=False, default=True),
    _ts("updated_at"),
)

skus = Table(
    "skus",
    metadata,
    _id("sku", primary_key=True),
    Column("name", String(200), nullable=False),
    _cents("price_cents"),
    Column("category", String(64)),
    Column("presale_when_sold_out", Boolean, nullable=False, default=False),
    Column("low_stock_units", Integer, nullable=False, default=20),
    _ts("updated_at"),
    CheckConstraint("price_cents >= 0", name="price_not_negative"),
)

stock = Table(
    "stock",
    metadata,
    _id("sku", ForeignKey("skus.sku"), primary_key=True),
    _id("warehouse", ForeignKey("warehouses.code"), primary_key=True),
    Column("on_hand", Integer, nullable=False, default=0),
    Column("reserved", Integer, nullable=False, default=0),
    # The database refuses oversell too: available = on_hand - reserved never drops below zero.
    CheckConstraint("reserved >= 0 AND on_hand >= reserved", name="available_not_negative"),
)

leaders = Table(
    "leaders",
    metadata,
    _id("leader", primary_key=True),
    Column("name", String(200), nullable=False),
    Column("community", String(200)),
    _id("upline", ForeignKey("leaders.leader"), nullable=True),
    Column("pickup_point", JSON),  # {"name", "province", "city", "district", "address"} or null
    Column("phone", String(32)),  # a recruited leader's phone, when given
    _id("visitor", nullable=True),  # the visitor who became this leader in a room, if one did (unique)
    _id("recruited_in", nullable=True),  # that room
    _ts("updated_at"),
    Index("ix_leaders_visitor", "visitor", unique=True),  # an index, not a constraint: added without a rebuild
)

rooms = Table(
    "rooms",
    metadata,
    _id("room", primary_key=True),
    Column("title", String(200), nullable=False),
    _ts("starts_at"),
    _ts("ends_at", nullable=True),
    Column("skus", JSON, nullable=False),
    Column("base_rate_bp", Integer, nullable=False),
    Column("live_rate_bp", Integer),
    Column("first_hour_bonus_bp", Integer, nullable=False, default=0),
    Column("team_rate_bp", Integer, nullable=False, default=0),
    Column("gmv_tiers", JSON, nullable=False),
    Column("after_sale_days", Integer, nullable=False),
    Column("binding_mode", String(16), nullable=False),
    Column("protection_days", Integer, nullable=False, default=7),
    Column("min_watch_s", Integer, nullable=False, default=300, server_default="300"),
    Column("invite_reward_points", Integer, nullable=False, default=0, server_default="0"),
    Column("reminders_queued", Boolean, nullable=False, default=False, server_default=false()),
    _ts("updated_at"),
    # --- tiered stocking (pfore): the room's forecast settings as given, {core_units?, expected_audience?,
    # conversion_bp?, base_units?, selling_minutes?}; null: the defaults (domain/forecast_tiers.py)
    Column("forecast", JSON, nullable=True),
)

deals = Table(
    "deals",
    metadata,
    _id("room", ForeignKey("rooms.room"), primary_key=True),
    _id("sku", ForeignKey("skus.sku"), primary_key=True),
    _id("leader", ForeignKey("leaders.leader"), primary_key=True),
    _cents("price_cents"),
    Column("quota", Integer, nullable=False),
    Column("used", Integer, nullable=False, default=0),
    CheckConstraint("used >= 0 AND used <= quota", name="quota_respected"),
)

links = Table(
    "links",
    metadata,
    Column("code", String(32), primary_key=True),
    _id("room", ForeignKey("rooms.room"), nullable=False),
    _id("leader", ForeignKey("leaders.leader"), nullable=False),
    Column("kind", String(8), nullable=False),
    _ts("created_at"),
    UniqueConstraint("room", "leader", "kind", name="uq_links_room_leader_kind"),
)

bindings = Table(
    "bindings",
    metadata,
    _id("visitor", primary_key=True),
    _id("leader", ForeignKey("leaders.leader"), nullable=False),
    _id("room"),
    _ts("bound_at"),
    _ts("protected_until", nullable=True),
)

# Per room and leader: the figures the leaderboard ranks by, kept in the same transaction as the orders and visits
# that change them, so a restart reads them back instead of re-adding every order.
room_leaders = Table(
    "room_leaders",
    metadata,
    _id("room", primary_key=True),
    _id("leader", primary_key=True),
    _cents("gmv_cents"),
    Column("orders", Integer, nullable=False, default=0),
    Column("invites", Integer, nullable=False, default=0),
    Column("assists", Integer, nullable=False, default=0),
)

orders = Table(
    "orders",
    metadata,
    _id("order", primary_key=True),
    _id("room", ForeignKey("rooms.room"), nullable=False),
    _id("visitor", nullable=False),
    _id("leader", nullable=True),
    Column("code", String(32)),
    Column("status", String(16), nullable=False),  # accepted | held | cancelled
    Column("delivery", String(16), nullable=False),
    Column("buyer", JSON, nullable=False),
    Column("destination", JSON, nullable=False),  # where the parcels go: buyer or pickup point
    _cents("total_cents"),
    _cents("refunded_cents"),
    Column("presale", Boolean, nullable=False, default=False),
    Column("coupon", String(40)),
    Column("discount_cents", BigInteger, nullable=False, default=0, server_default="0"),
    Column("flags", JSON, nullable=False),
    Column("assists", JSON, nullable=False),
    Column("body_hash", String(64), nullable=False),
    Column("response", JSON, nullable=False),
    _ts("placed_at"),
    _ts("signed_at", nullable=True),
    _ts("updated_at"),
    Index("ix_orders_room_leader", "room", "leader"),
)

order_lines = Table(
    "order_lines",
    metadata,
    _id("order", ForeignKey("orders.order"), primary_key=True),
    Column("line", Integer, primary_key=True),
    _id("sku", ForeignKey("skus.sku"), nullable=False),
    Column("qty", Integer, nullable=False),
    _cents("unit_price_cents"),
    _id("deal_leader", nullable=True),
    CheckConstraint("qty > 0", name="qty_positive"),
)

backorders = Table(  # presale lines waiting for replenishment, served first in first out
    "backorders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _id("order", ForeignKey("orders.order"), nullable=False),
    _id("sku", ForeignKey("skus.sku"), nullable=False),
    Column("qty", Integer, nullable=False),
    _ts("at"),
    Column("filled", Boolean, nullable=False, default=False),
    Index("ix_backorders_open", "sku", "filled"),
)

shipments = Table(
    "shipments",
    metadata,
    Column("shipment", String(80), primary_key=True),
    _id("order", ForeignKey("orders.order"), nullable=False, index=True),
    _id("warehouse", ForeignKey("warehouses.code"), nullable=False),
    Column("carrier", String(16), nullable=False),
    Column("waybill", String(40), unique=True),
    Column("state", String(20), nullable=False),
    Column("furthest", String(20), nullable=False),
    Column("items", JSON, nullable=False),  # [[sku, qty], ...]
    _ts("created_at"),
    _ts("last_event_at", nullable=True),
    _ts("state_since", nullable=True),
    _ts("shipped_at", nullable=True),  # left the warehouse: stock moved from reserved out of on_hand
    _ts("stuck_at", nullable=True),  # a stuck exception was raised for the current state
    Index("ix_shipments_state", "state"),
)

tracking_events = Table(
    "tracking_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("shipment", String(80), ForeignKey("shipments.shipment"), nullable=False, index=True),
    Column("state", String(20)),  # the normalized state this event carried, or null for a plain trace line
    Column("code", String(16)),  # the carrier's own status code, kept for support
    _ts("at"),
    Column("station", String(500), nullable=False, default=""),
    Column("source", String(16), nullable=False),  # kdniao | kuaidi100 | api
    # One trace line per parcel and time: a re-push that corrects a line's text replaces it (migration 0004).
    UniqueConstraint("shipment", "at", name="uq_tracking_events_shipment_at"),
)

commission_entries = Table(  # the append-only ledger
    "commission_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    _id("order", ForeignKey("orders.order"), nullable=False, index=True),
    _id("room", nullable=False),
    _id("leader", nullable=False, index=True),
    Column("role", String(8), nullable=False),
    Column("source", String(10)),
    Column("target", String(10), nullable=False),
    _cents("amount_cents"),
    Column("reason", String(16), nullable=False),
    _ts("at"),
    CheckConstraint("amount_cents >= 0", name="amount_not_negative"),
)

after_sales = Table(
    "after_sales",
    metadata,
    _id("after_sale", primary_key=True),
    _id("order", ForeignKey("orders.order"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    _cents("amount_cents"),
    Column("reason", String(500), nullable=False),
    Column("status", String(10), nullable=False),  # open | approved | rejected
    _ts("created_at"),
    _ts("resolved_at", nullable=True),
)

stock_adjustments = (
    Table(  # adjustments sent with an id: a retry with the same id is answered, not applied again
        "stock_adjustments",
        metadata,
        _id("adjustment", primary_key=True),
        _id("sku", nullable=False),
        _id("warehouse", nullable=False),
        Column("delta", Integer, nullable=False),
        Column("reason", Text, nullable=False),
        Column("response", JSON, nullable=False),
        _ts("at"),
    )
)

counters = Table(  # monotonically increasing numbers (waybill serials)
    "counters",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

carrier_days = Table(  # shipments given to each carrier per day: weighted shares and capacity
    "carrier_days",
    metadata,
    Column("carrier", String(16), primary_key=True),
    Column("day", String(10), primary_key=True),
    Column("assigned", Integer, nullable=False, default=0),
)

carriers = Table(  # carriers marked unavailable by operations
    "carriers",
    metadata,
    Column("carrier", String(16), primary_key=True),
    Column("available", Boolean, nullable=False, default=True),
    # --- carrier capacity (issue 13, pcap): parcels per China day (null = unlimited), cost, best provinces ---
    Column("daily_capacity", Integer, nullable=True),
    Column("cost_cents", Integer, nullable=True),
    Column("provinces", JSON, nullable=True),
)

token_revocations = Table(  # every token of (role, subject) issued at or before revoked_at is refused
    "token_revocations",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("role", String(16), nullable=False),
    _id("subject", nullable=False),
    _ts("revoked_at"),
    Index("ix_token_revocations_subject", "role", "subject", "revoked_at"),
)

# --- delay notices (issue 13, pnote) -------------------------------------------------------------------------------
notices = Table(  # ops's delay notices; an order shows every active notice it matches (domain/notices.py)
    "notices",
    metadata,
    _id("notice", primary_key=True),
    Column("text", String(500), nullable=False),
    _id("room", nullable=True),
    _id("warehouse", nullable=True),
    Column("carrier", String(16), nullable=True),
    Column("province", String(32), nullable=True),  # canonical full name
    Column("orders", Integer, nullable=False),  # orders it reached when posted
    _ts("posted_at"),
    _ts("withdrawn_at", nullable=True),
)

outbox = Table(  # domain events, written in the same transaction as the change they describe
    "outbox",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    _ts("created_at"),
)

# PostgreSQL only (store/sequencer.py): a transaction's events wait here, as one row committed with it, until the
# sequencer moves them into `outbox` in `id` order under its lock, so outbox seqs are consecutive and in commit order
# without every writer holding one lock to its commit. `id` is taken at the end of the transaction, after every row
# it shares with others: of two transactions that touch a common row, the later one's row gets the higher id.
outbox_pending = Table(
    "outbox_pending",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("events", JSON, nullable=False),  # the transaction's event records, in order: one row per transaction
    _ts("created_at"),
)

process_marks = Table(  # each server process's follower: the outbox seq it has applied (store/retention.py)
    "process_marks",
    metadata,
    Column("process", String(80), primary_key=True),  # host:pid:random, new at every start
    Column("applied_seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    _ts("seen_at"),  # written every few seconds; a mark not seen for the grace period holds nothing back
)

read_checkpoints = Table(  # a read model folded up to an outbox seq, so the events it folded can be pruned
    "read_checkpoints",  # (realtime/projections/growth_checkpoint.py; store/retention.py)
    metadata,
    Column("name", String(40), primary_key=True),  # growth
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),  # events folded: seq <= this
    Column("state", JSON, nullable=False),
    _ts("taken_at"),
)

# --- shipping promises (pprom) --------------------------------------------------------------------------------
# A room's promise by payment time (domain/promise.py, as its JSON list; null: none) and each order's ship_by.
rooms.append_column(Column("ship_promise", JSON, nullable=True))
orders.append_column(_ts("ship_by", nullable=True))

# The growth engine's tables live in store/growth_models.py (on this MetaData); imported here so that
# `models.heartbeats` and the rest read like every other table. Import store.models, never that module directly.
# The carrier gateways' table and columns (issue 14) live in store/gateway_models.py; imported here likewise.
from store.gateway_models import waybill_requests  # noqa: E402, F401 (re-exported)
from store.growth_models import (  # noqa: E402, F401 (re-exported)
    coupons,
    heartbeats,
    points,
    prospect_notes,
    questions,
    reminders,
    room_tasks,
    task_progress,
    viewers,
)
