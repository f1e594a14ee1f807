"""one trace line per parcel and time: the key of tracking_events is (shipment, at)

The key was (shipment, at, station), so a carrier re-pushing a trace with the same times but corrected station
text added every line again (3 lines became 6) and the buyer's timeline showed both texts. A trace line is what
the carrier says happened to the parcel at one moment, so the key is (shipment, at), and the newest push's
text wins (the service writes it with INSERT ... ON CONFLICT (shipment, at) DO UPDATE SET station).

Why not the state as well: `state` (and `code`) is set only on the line that was the newest of its report, and
null on the others, so the same line carries a state in one push and none in the next; a key with it would
store the line twice again on the next re-push. Lines of one report that share a time are joined into one line
by the service.

Upgrading keeps, for each (shipment, at), the row with the newest id (the last text written), after giving it
the newest state and code among its duplicates when it has none of its own; the others are deleted. Downgrading
restores the old key, which the deduplicated rows satisfy.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_NEWEST_STATED = (
    "SELECT d.{column} FROM tracking_events d WHERE d.shipment = tracking_events.shipment"
    " AND d.at = tracking_events.at AND d.state IS NOT NULL ORDER BY d.id DESC LIMIT 1"
)


def upgrade() -> None:
    op.execute(
        "UPDATE tracking_events SET"
        f" state = ({_NEWEST_STATED.format(column='state')}),"
        f" code = ({_NEWEST_STATED.format(column='code')})"
        " WHERE state IS NULL AND EXISTS (SELECT 1 FROM tracking_events o WHERE o.shipment = tracking_events.shipment"
        " AND o.at = tracking_events.at AND o.id <> tracking_events.id)"
        " AND NOT EXISTS (SELECT 1 FROM tracking_events n WHERE n.shipment = tracking_events.shipment"
        " AND n.at = tracking_events.at AND n.id > tracking_events.id)"
    )
    op.execute(
        "DELETE FROM tracking_events WHERE EXISTS (SELECT 1 FROM tracking_events n"
        " WHERE n.shipment = tracking_events.shipment AND n.at = tracking_events.at AND n.id > tracking_events.id)"
    )
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tracking_events_shipment_at_station", type_="unique")
        batch_op.create_unique_constraint("uq_tracking_events_shipment_at", ["shipment", "at"])


def downgrade() -> None:
    with op.batch_alter_table("tracking_events", schema=None) as batch_op:
        batch_op.drop_constraint("uq_tracking_events_shipment_at", type_="unique")
        batch_op.create_unique_constraint("uq_tracking_events_shipment_at_station", ["shipment", "at", "station"])
