"""The growth read models (issue #12, "The screens"): what the leader's phone, the host's question queue, the room
feed, the board's invitations sidebar and the ops funnel show, folded from growth events alone (built by the
domain's own classes, exactly what the writer puts in the outbox), with no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from domain.events import (
    Event,
    LeaderRecruited,
    OrderAccepted,
    PointsEarned,
    ProspectNoted,
    QuestionAnswered,
    QuestionAsked,
    ReminderChanged,
    TaskProgressed,
    VisitorBound,
    VisitorEntered,
    VisitorWatching,
    to_record,
)
from realtime.projections import Projections

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return NOW + timedelta(minutes=minutes)


class Folder:
    def __init__(self) -> None:
        self.views = Projections(lambda: NOW)
        self.views.m.catalog.leaders.update({"lead-a": "张姐", "lead-b": "李哥"})  # as `load` reads them
        self.seq = 0

    def __call__(self, *events: Event) -> set[str]:
        dirty: set[str] = set()
        for event in events:
            self.seq += 1
            dirty |= self.views.apply(self.seq, to_record(event))
        return dirty

    def leader(self, leader: str) -> dict[str, Any]:
        view = self.views.snapshot(f"leader:{leader}")
        assert view is not None, leader
        return dict(view["growth"])


def bound(visitor: str, leader: str, minutes: float = 0, room: str = "r1", outcome: str = "new") -> VisitorBound:
    return VisitorBound(at=at(minutes), room=room, visitor=visitor, leader=leader, outcome=outcome)


def watching(visitor: str, leader: str | None, seconds: int, watched: bool = False, room: str = "r1") -> Event:
    return VisitorWatching(at=at(seconds / 60), room=room, visitor=visitor, leader=leader, watched_s=seconds,
                           watched=watched)


def order(order_id: str, visitor: str, leader: str | None, minutes: float = 30) -> OrderAccepted:
    return OrderAccepted(at=at(minutes), order=order_id, room="r1", leader=leader, assists=(), buyer_masked="张*",
                         province="广东", city="广州", delivery="express", items=(("tea", 1),), total_cents=9_900,
                         status="accepted", visitor=visitor)


def test_prospects_are_the_leaders_own_visitors_who_have_not_ordered_with_watch_time_and_tags() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-2", "lead-a", 1), bound("v-9", "lead-b", 2),
         VisitorEntered(at=at(3), room="r1", visitor="v-1", leader="lead-a"),
         watching("v-1", "lead-a", 360, watched=True),
         ProspectNoted(at=at(7), leader="lead-a", visitor="v-1", tags=("宝妈", "要蓝色"), note="晚上八点后联系"))
    prospects = fold.leader("lead-a")["prospects"]
    assert [(p["visitor"], p["watched_s"], p["tags"], p["note"]) for p in prospects] == [
        ("v-1", 360, ["宝妈", "要蓝色"], "晚上八点后联系"),  # last seen 6 minutes in: first
        ("v-2", 0, [], ""),
    ]
    assert prospects[0]["first_seen"] == at(0).isoformat() and prospects[0]["last_seen"] == at(6).isoformat()

    dirty = fold(order("o-1", "v-1", "lead-a"))
    assert "leader:lead-a" in dirty
    assert [p["visitor"] for p in fold.leader("lead-a")["prospects"]] == ["v-2"]
    fold(watching("v-1", "lead-a", 420))  # still watching after ordering: stays off the list
    assert [p["visitor"] for p in fold.leader("lead-a")["prospects"]] == ["v-2"]


def test_a_leader_never_sees_another_leaders_prospects_and_a_rebound_visitor_moves() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-9", "lead-b"),
         ProspectNoted(at=at(1), leader="lead-b", visitor="v-9", tags=("秘密标签",), note="b 的私人备注"))
    assert "v-9" not in str(fold.leader("lead-a")) and "秘密标签" not in str(fold.leader("lead-a"))
    fold(bound("v-1", "lead-b", 5, outcome="rebound"))
    assert fold.leader("lead-a")["prospects"] == []
    assert sorted(p["visitor"] for p in fold.leader("lead-b")["prospects"]) == ["v-1", "v-9"]


def test_points_tasks_and_recruits_show_on_the_inviters_phone() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-2", "lead-a"))
    tasks = fold.leader("lead-a")["tasks"]
    assert tasks == []  # no task defined in the catalog and no progress yet
    fold(TaskProgressed(at=at(1), room="r1", task="t-3", leader="lead-a", goal=3, invited=2, watched=1, done=False),
         bound("v-3", "lead-a", 2))
    [task] = fold.leader("lead-a")["tasks"]
    assert (task["task"], task["goal"], task["invited"], task["watched"], task["done"]) == ("t-3", 3, 3, 1, False)

    dirty = fold(TaskProgressed(at=at(8), room="r1", task="t-3", leader="lead-a", goal=3, invited=3, watched=3,
                                done=True),
                 PointsEarned(at=at(8), room="r1", leader="lead-a", reason="task", ref="t-3", points=50, balance=80),
                 LeaderRecruited(at=at(9), room="r1", leader="lead-new", name="新团长小王", upline="lead-a",
                                 visitor="v-2"))
    assert {"leader:lead-a", "room:r1:feed", "ops"} <= dirty
    growth = fold.leader("lead-a")
    assert growth["points"] == 80 and growth["points_recent"][0]["points"] == 50
    assert growth["tasks"][0]["done"] is True
    assert [(r["leader"], r["name"]) for r in growth["recruits"]] == [("lead-new", "新团长小王")]
    [funnel] = growth["funnel"]
    assert (funnel["clicked"], funnel["became_leader"]) == (3, 1)

    # The host sees both in the feed, once each (a later progress report of a done task is no news).
    fold(TaskProgressed(at=at(10), room="r1", task="t-3", leader="lead-a", goal=3, invited=4, watched=3, done=True))
    feed = fold.views.snapshot("room:r1:feed")
    assert feed is not None
    assert [(i["kind"], i["leader"]) for i in feed["items"]] == [("task_done", "lead-a"), ("recruit", "lead-new")]
    assert feed["items"][1]["upline"] == "lead-a"


def test_questions_queue_newest_last_and_the_asker_sees_the_answer() -> None:
    fold = Folder()
    dirty = fold(
        QuestionAsked(at=at(1), room="r1", question="q-1", leader="lead-a", leader_name="张姐", text="蓝色上身效果？",
                      sku="tea"),
        QuestionAsked(at=at(2), room="r1", question="q-2", leader="lead-b", leader_name="李哥", text="能包邮吗",
                      sku=None),
    )
    assert {"room:r1:questions", "leader:lead-a", "leader:lead-b"} <= dirty
    queue = fold.views.snapshot("room:r1:questions")
    assert queue is not None
    assert [(q["question"], q["leader_name"], q["sku"], q["answered"]) for q in queue["questions"]] == [
        ("q-1", "张姐", "tea", False), ("q-2", "李哥", None, False)]
    assert queue["waiting"] == 2

    fold(QuestionAnswered(at=at(3), room="r1", question="q-1", leader="lead-a"))
    assert fold.views.snapshot("room:r1:questions")["waiting"] == 1
    mine = fold.leader("lead-a")["questions"]
    assert [(q["question"], q["answered"]) for q in mine] == [("q-1", True)]
    assert "能包邮吗" not in str(fold.leader("lead-a"))  # another leader's question


def test_ops_shows_each_rooms_funnel_and_the_board_the_most_inviting_leaders() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-2", "lead-a"), bound("v-3", "lead-b"),
         VisitorEntered(at=at(1), room="r1", visitor="v-1", leader="lead-a"),
         VisitorEntered(at=at(1), room="r1", visitor="walk-in", leader=None),
         watching("v-1", "lead-a", 300, watched=True), order("o-1", "v-1", "lead-a"),
         order("o-2", "v-1", "lead-a", 31),  # the same visitor again: distinct visitors
         LeaderRecruited(at=at(40), room="r1", leader="lead-c", name="小陈", upline="lead-b", visitor="v-3"))
    growth = fold.views.snapshot("ops")["growth"]
    [room] = growth["rooms"]
    assert {k: room[k] for k in ("clicked", "entered", "watched", "ordered", "became_leader")} == {
        "clicked": 3, "entered": 2, "watched": 1, "ordered": 1, "became_leader": 1}
    assert [(i["leader"], i["invites"], i["watched"], i["recruits"]) for i in growth["inviters"]] == [
        ("lead-a", 2, 1, 0), ("lead-b", 1, 0, 1)]
    board = fold.views.snapshot("room:r1:board")
    assert [(i["leader"], i["invites"]) for i in board["inviters"]] == [("lead-a", 2), ("lead-b", 1)]


def reminder(visitor: str, leader: str | None, state: str, minutes: float = 60, room: str = "r1") -> Event:
    return ReminderChanged(at=at(minutes), room=room, visitor=visitor, leader=leader, state=state)


def test_pre_live_reminders_count_each_visitors_latest_state_per_room_and_per_leader() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-2", "lead-a"), bound("v-3", "lead-a"), bound("v-9", "lead-b"))
    dirty = fold(reminder("v-1", "lead-a", "queued"), reminder("v-2", "lead-a", "queued"),
                 reminder("v-3", "lead-a", "queued"), reminder("v-9", "lead-b", "queued"),
                 reminder("v-0", None, "queued"))  # a visitor with no leader: the room's count only
    assert {"ops", "leader:lead-a", "leader:lead-b"} <= dirty
    [room] = fold.views.snapshot("ops")["growth"]["rooms"]
    assert room["reminders"] == {"queued": 5, "sent": 0, "failed": 0}

    fold(reminder("v-1", "lead-a", "sent", 61), reminder("v-2", "lead-a", "failed", 70),
         reminder("v-9", "lead-b", "sent", 61),
         reminder("v-1", "lead-a", "sent", 62))  # told twice: counted once
    [room] = fold.views.snapshot("ops")["growth"]["rooms"]
    assert room["reminders"] == {"queued": 2, "sent": 2, "failed": 1}
    [mine] = fold.leader("lead-a")["funnel"]
    assert mine["reminders"] == {"queued": 1, "sent": 1, "failed": 1}


def test_a_leaders_frame_carries_only_the_reminders_of_their_own_visitors_room_by_room() -> None:
    fold = Folder()
    fold(bound("v-1", "lead-a"), bound("v-9", "lead-b"), bound("n-1", "lead-b", room="r2"),
         reminder("v-9", "lead-b", "queued"), reminder("n-1", "lead-b", "queued", room="r2"),
         reminder("n-2", "lead-b", "queued", room="r2"))
    a = fold.leader("lead-a")
    assert [(f["room"], f["reminders"]) for f in a["funnel"]] == [("r1", {"queued": 0, "sent": 0, "failed": 0})]
    assert "n-1" not in str(a) and "v-9" not in str(a)
    b = {f["room"]: f["reminders"] for f in fold.leader("lead-b")["funnel"]}
    assert b == {"r1": {"queued": 1, "sent": 0, "failed": 0}, "r2": {"queued": 2, "sent": 0, "failed": 0}}
    rooms = {r["room"]: r["reminders"]["queued"] for r in fold.views.snapshot("ops")["growth"]["rooms"]}
    assert rooms == {"r1": 1, "r2": 2}
