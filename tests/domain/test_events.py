"""Events survive the outbox: what a consumer reads back is the fact the service wrote."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from domain import events

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_every_event_kind_is_registered_once() -> None:
    kinds = [cls.kind for cls in events.EVENT_TYPES.values()]
    assert len(kinds) == len(set(kinds))
    assert "event" not in kinds


def test_order_event_round_trips_through_json_with_its_tuples_and_times() -> None:
    event = events.OrderAccepted(
        at=AT,
        order="o1",
        room="r1",
        leader="L1",
        assists=("L2",),
        buyer_masked="张*",
        province="广东省",
        city="广州",
        delivery="express",
        items=(("sku-1", 2), ("sku-2", 1)),
        total_cents=12_900,
        status="accepted",
    )
    record = json.loads(json.dumps(events.to_record(event)))
    assert record["kind"] == "order_accepted"
    assert events.from_record(record) == event


def test_optional_fields_and_nested_times_round_trip() -> None:
    stuck = events.ParcelStuck(
        at=AT,
        shipment="s1",
        order="o1",
        waybill="SF1",
        carrier="SF",
        state="in_transit",
        since=datetime(2026, 11, 22, 8, 0, tzinfo=UTC),
    )
    moved = events.CommissionMoved(
        at=AT,
        order="o1",
        room="r1",
        leader="L1",
        role="leader",
        source=None,
        target="pending",
        amount_cents=150,
        reason="paid",
    )
    for event in (stuck, moved):
        assert events.from_record(json.loads(json.dumps(events.to_record(event)))) == event


def test_unknown_event_kind_is_refused_not_guessed() -> None:
    with pytest.raises(KeyError):
        events.from_record({"kind": "order_teleported", "at": AT.isoformat()})
