"""The growth engine's live figures (issue #12): points, invitation tasks, recruits, prospects, questions and the
visitor funnel, folded from growth events only.

Where they travel:
- `leader:{id}` (leader.py adds `growth` to the leader's view): the leader's points, tasks with progress, recruits,
  prospects (their own visitors only), the questions they asked, and their own funnel per room;
- `room:{id}:questions` (`questions_view`): the room's question queue for the host, newest last;
- `ops` (ops.py adds `growth`): each room's funnel and the leaders who invite the most.

Definitions (the same folded live or replayed on load, which is what makes a restart safe):
- a viewer is one visitor in one room; its leader is the one named by the latest `visitor_bound` in the room (or,
  failing that, by `visitor_entered` / `visitor_watching`); first and last seen are the earliest and latest times
  of those events; watch time is the latest `visitor_watching.watched_s`;
- a prospect of a leader is a viewer of theirs with no order in the room (an accepted order, held or not, removes
  them for good); tags and note are the leader's latest `prospect_noted` on that visitor;
- a task's progress is its latest `task_progressed` for the leader; before the first one (or when invitations
  arrive before the next one), invited is the count of the leader's viewers in the room and watched the count of
  those who watched the task's mark — whichever is larger wins, and done stays done;
- pre-live reminders are each (room, visitor)'s latest `reminder_changed` state (queued → sent or failed): per room
  the counts of each state, and per leader the same for the leader the reminder names (their own visitors only);
- funnel steps count distinct visitors: clicked = `visitor_bound`, entered = `visitor_entered`, watched =
  `visitor_watching` with `watched`, ordered = an accepted order, became_leader = `leader_recruited`; per leader,
  the step counts for the leader the event names (the recruit's upline for became_leader).

`load` starts from the growth checkpoint (the fold up to some seq, `dump`ed into the `read_checkpoints` table by
growth_checkpoint.py before each pruning run, so that the events it covers can be pruned), replays the growth events
after it up to the load's seq, and reads who ordered from the orders table (one row per `order_accepted`, in the
same snapshot): no event is read twice and `apply` does no I/O. Who ordered is never in a checkpoint: the orders
table tells it whole, and the fold gives the same figures whichever of orders and growth events comes first.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.growth import STEPS
from realtime.projections.catalog import Catalog
from realtime.projections.times import utc
from store import models

# The events this module folds (order_accepted too, for "ordered").
KINDS = ("visitor_bound", "visitor_entered", "visitor_watching", "points_earned", "task_progressed",
         "leader_recruited", "prospect_noted", "question_asked", "question_answered", "reminder_changed")
PROSPECTS_SHOWN = 50  # a leader's prospects in a frame, latest seen first
QUESTIONS_SHOWN = 20  # a leader's own questions, newest first
ANSWERED_SHOWN = 10  # answered questions the host still sees below the open ones
RECENT_POINTS = 5
STEP_NAMES = tuple(str(s) for s in STEPS)
REMINDER_STATES = ("queued", "sent", "failed")

Record = dict[str, Any]


def _at(record: Record) -> str:
    return utc(record["at"]).isoformat()


@dataclass(slots=True)
class Viewer:
    leader: str | None
    first_seen: str
    last_seen: str
    watched_s: int = 0
    ordered: bool = False


@dataclass(slots=True)
class Progress:
    goal: int
    invited: int
    watched: int
    done: bool


@dataclass(slots=True)
class Funnel:
    steps: dict[str, set[str]] = field(default_factory=lambda: {s: set() for s in STEP_NAMES})

    def add(self, step: str, visitor: str) -> bool:
        seen = self.steps[step]
        if visitor in seen:
            return False
        seen.add(visitor)
        return True

    def counts(self) -> dict[str, int]:
        return {s: len(v) for s, v in self.steps.items()}


@dataclass(slots=True)
class Reminders:
    """How many pre-live reminders are in each state."""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REMINDER_STATES, 0))

    def move(self, before: str | None, after: str | None) -> None:
        if before is not None:
            self.counts[before] = self.counts.get(before, 0) - 1
        if after is not None:
            self.counts[after] = self.counts.get(after, 0) + 1

    def view(self) -> dict[str, int]:
        return {s: self.counts.get(s, 0) for s in REMINDER_STATES}


class Growth:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.points: dict[str, int] = {}  # leader -> balance
        self.points_recent: dict[str, list[dict[str, Any]]] = {}  # leader -> latest entries, newest first
        self.progress: dict[str, dict[tuple[str, str], Progress]] = {}  # leader -> (room, task) -> latest
        self.recruits: dict[str, list[dict[str, Any]]] = {}  # upline -> recruits, in order
        self.viewers: dict[tuple[str, str], Viewer] = {}  # (room, visitor)
        self.bound: dict[tuple[str, str], set[str]] = {}  # (room, leader) -> visitors whose leader it is
        self.ordered: dict[str, set[str]] = {}  # room -> visitors with an order in the room
        self.notes: dict[tuple[str, str], tuple[list[str], str]] = {}  # (leader, visitor) -> (tags, note)
        self.questions: dict[str, dict[str, Any]] = {}
        self.room_questions: dict[str, list[str]] = {}  # room -> question ids, asked order
        self.leader_questions: dict[str, list[str]] = {}
        self.room_funnels: dict[str, Funnel] = {}
        self.leader_funnels: dict[tuple[str, str], Funnel] = {}  # (room, leader)
        self.reminder_states: dict[tuple[str, str], tuple[str | None, str]] = {}  # (room, visitor) -> leader, state
        self.room_reminders: dict[str, Reminders] = {}
        self.leader_reminders: dict[tuple[str, str], Reminders] = {}  # (room, leader)
        self._handlers: dict[str, Callable[[Record, set[str]], None]] = {
            "visitor_bound": self._bound, "visitor_entered": self._entered, "visitor_watching": self._watching,
            "points_earned": self._points, "task_progressed": self._task, "leader_recruited": self._recruited,
            "prospect_noted": self._noted, "question_asked": self._asked, "question_answered": self._answered,
            "order_accepted": self._ordered, "reminder_changed": self._reminder,
        }

    # --- events ----------------------------------------------------------------------------------------------

    def on_event(self, seq: int, record: Record, dirty: set[str]) -> None:
        handler = self._handlers.get(record.get("kind", ""))
        if handler is not None:
            handler(record, dirty)

    def _step(self, room: str, leader: str | None, step: str, visitor: str, dirty: set[str]) -> None:
        if self.room_funnels.setdefault(room, Funnel()).add(step, visitor):
            dirty.add("ops")
        if leader and self.leader_funnels.setdefault((room, leader), Funnel()).add(step, visitor):
            dirty.add(f"leader:{leader}")

    def _seen(self, record: Record, leader: str | None, *, rebind: bool, dirty: set[str]) -> Viewer:
        """The viewer an event names, created or updated: seen times, and its leader (`rebind`: the event says
        whom the visitor is bound to now; otherwise it only fills in a leader not known yet)."""
        room, visitor, at = record["room"], record["visitor"], _at(record)
        viewer = self.viewers.get((room, visitor))
        if viewer is None:
            viewer = self.viewers[(room, visitor)] = Viewer(None, at, at)
            viewer.ordered = visitor in self.ordered.get(room, ())
        else:
            viewer.first_seen, viewer.last_seen = min(viewer.first_seen, at), max(viewer.last_seen, at)
        if leader and viewer.leader != leader and (rebind or viewer.leader is None):
            if viewer.leader is not None:
                self.bound.get((room, viewer.leader), set()).discard(visitor)
                dirty.add(f"leader:{viewer.leader}")
            viewer.leader = leader
            self.bound.setdefault((room, leader), set()).add(visitor)
        if viewer.leader:
            dirty.add(f"leader:{viewer.leader}")
        return viewer

    def _bound(self, record: Record, dirty: set[str]) -> None:
        self._seen(record, record["leader"], rebind=True, dirty=dirty)
        self._step(record["room"], record["leader"], "clicked", record["visitor"], dirty)

    def _entered(self, record: Record, dirty: set[str]) -> None:
        viewer = self._seen(record, record.get("leader"), rebind=False, dirty=dirty)
        self._step(record["room"], record.get("leader") or viewer.leader, "entered", record["visitor"], dirty)

    def _watching(self, record: Record, dirty: set[str]) -> None:
        viewer = self._seen(record, record.get("leader"), rebind=False, dirty=dirty)
        viewer.watched_s = max(viewer.watched_s, int(record["watched_s"]))
        if record.get("watched"):
            self._step(record["room"], record.get("leader") or viewer.leader, "watched", record["visitor"], dirty)

    def _ordered(self, record: Record, dirty: set[str]) -> None:
        visitor = record.get("visitor")
        if visitor:
            self.order_placed(record["room"], visitor, record.get("leader"), dirty)

    def order_placed(self, room: str, visitor: str, leader: str | None, dirty: set[str]) -> None:
        self.ordered.setdefault(room, set()).add(visitor)
        viewer = self.viewers.get((room, visitor))
        if viewer is not None and not viewer.ordered:
            viewer.ordered = True
            if viewer.leader:
                dirty.add(f"leader:{viewer.leader}")
        self._step(room, leader, "ordered", visitor, dirty)

    def _orders_placed(self, rows: Iterable[tuple[str, str | None, str | None]]) -> None:
        """`order_placed` for every (room, visitor, leader) of the orders table at once (load: nothing to mark)."""
        ordered, room_funnels, leader_funnels = self.ordered, self.room_funnels, self.leader_funnels
        for room, visitor, leader in rows:
            if not visitor:
                continue
            seen = ordered.get(room)
            if seen is None:
                seen = ordered[room] = set()
            seen.add(visitor)
            funnel = room_funnels.get(room)
            if funnel is None:
                funnel = room_funnels[room] = Funnel()
            funnel.steps["ordered"].add(visitor)
            if leader:
                funnel = leader_funnels.get((room, leader))
                if funnel is None:
                    funnel = leader_funnels[(room, leader)] = Funnel()
                funnel.steps["ordered"].add(visitor)
        for (room, visitor), viewer in self.viewers.items():  # viewers a checkpoint restored
            if not viewer.ordered and visitor in ordered.get(room, ()):
                viewer.ordered = True

    def _points(self, record: Record, dirty: set[str]) -> None:
        leader = record["leader"]
        self.points[leader] = int(record["balance"])
        recent = self.points_recent.setdefault(leader, [])
        recent.insert(0, {"room": record["room"], "reason": record["reason"], "ref": record["ref"],
                          "points": int(record["points"]), "at": _at(record)})
        del recent[RECENT_POINTS:]
        dirty.add(f"leader:{leader}")

    def _task(self, record: Record, dirty: set[str]) -> None:
        leader = record["leader"]
        tasks = self.progress.setdefault(leader, {})
        key = (record["room"], record["task"])
        before = tasks.get(key)
        tasks[key] = Progress(int(record["goal"]), int(record["invited"]), int(record["watched"]),
                              bool(record["done"]) or bool(before and before.done))
        dirty.add(f"leader:{leader}")

    def _recruited(self, record: Record, dirty: set[str]) -> None:
        upline, room = record.get("upline"), record["room"]
        if upline:
            self.recruits.setdefault(upline, []).append(
                {"leader": record["leader"], "name": record["name"], "room": room, "at": _at(record)})
            dirty.add(f"leader:{upline}")
        self._step(room, upline, "became_leader", record["visitor"], dirty)

    def _noted(self, record: Record, dirty: set[str]) -> None:
        self.notes[(record["leader"], record["visitor"])] = (list(record.get("tags") or ()), record.get("note") or "")
        dirty.add(f"leader:{record['leader']}")

    def _asked(self, record: Record, dirty: set[str]) -> None:
        question, room, leader = record["question"], record["room"], record["leader"]
        if question in self.questions:
            return
        self.questions[question] = {
            "question": question, "room": room, "leader": leader, "leader_name": record.get("leader_name"),
            "text": record["text"], "sku": record.get("sku"), "at": _at(record), "answered": False,
            "answered_at": None}
        self.room_questions.setdefault(room, []).append(question)
        self.leader_questions.setdefault(leader, []).append(question)
        dirty.update((f"room:{room}:questions", f"leader:{leader}"))

    def _answered(self, record: Record, dirty: set[str]) -> None:
        entry = self.questions.get(record["question"])
        if entry is None or entry["answered"]:
            return
        entry["answered"], entry["answered_at"] = True, _at(record)
        dirty.update((f"room:{entry['room']}:questions", f"leader:{entry['leader']}"))

    def _reminder(self, record: Record, dirty: set[str]) -> None:
        """A reminder's new state: it leaves its old state (for the room and for its leader) and counts in the new."""
        room, visitor, leader, state = record["room"], record["visitor"], record.get("leader"), record["state"]
        before = self.reminder_states.get((room, visitor))
        if before == (leader, state):
            return
        old_leader, old_state = before if before is not None else (None, None)
        self.room_reminders.setdefault(room, Reminders()).move(old_state, state)
        if old_leader:
            self.leader_reminders[(room, old_leader)].move(old_state, None)
            dirty.add(f"leader:{old_leader}")
        if leader:
            self.leader_reminders.setdefault((room, leader), Reminders()).move(None, state)
            dirty.add(f"leader:{leader}")
        self.reminder_states[(room, visitor)] = (leader, state)
        dirty.add("ops")

    # --- reading ---------------------------------------------------------------------------------------------

    def leaders(self) -> set[str]:
        """Leaders with anything to show here."""
        return (set(self.points) | set(self.progress) | set(self.recruits) | set(self.leader_questions)
                | {leader for (_, leader), visitors in self.bound.items() if visitors}
                | {leader for _, leader in self.leader_reminders})

    def rooms(self) -> set[str]:
        return set(self.room_funnels) | set(self.room_questions) | set(self.room_reminders)

    def leader_view(self, leader: str, rooms: Iterable[str]) -> dict[str, Any]:
        """The leader's growth figures; `rooms`: the rooms the leader takes part in (their tasks are listed even
        before any progress)."""
        rooms = sorted(set(rooms) | {room for room, _ in self.progress.get(leader, {})}
                       | {room for room, who in self.leader_funnels if who == leader}
                       | {room for room, who in self.leader_reminders if who == leader})
        prospects = self._prospects(leader)
        questions = [self._question(self.questions[q]) for q in reversed(self.leader_questions.get(leader, []))]
        return {
            "points": self.points.get(leader, 0),
            "points_recent": list(self.points_recent.get(leader, [])),
            "tasks": [task for room in rooms for task in self._tasks(leader, room)],
            "recruits": list(reversed(self.recruits.get(leader, []))),
            "prospects": prospects[:PROSPECTS_SHOWN],
            "prospects_total": len(prospects),
            "questions": questions[:QUESTIONS_SHOWN],
            "funnel": [{"room": room, "title": self._title(room),
                        **self.leader_funnels.get((room, leader), Funnel()).counts(),
                        "reminders": self.leader_reminders.get((room, leader), Reminders()).view()}
                       for room in rooms],
        }

    def _title(self, room: str) -> str | None:
        info = self.catalog.rooms.get(room)
        return info.title if info else None

    def _tasks(self, leader: str, room: str) -> list[dict[str, Any]]:
        defined = self.catalog.tasks.get(room, {})
        progress = self.progress.get(leader, {})
        names = sorted(set(defined) | {task for r, task in progress if r == room})
        visitors = self.bound.get((room, leader), set())
        out = []
        for task in names:
            info, latest = defined.get(task), progress.get((room, task))
            goal = info.goal if info else latest.goal if latest else 0
            mark = info.min_watch_s if info else None
            watched = sum(1 for v in visitors if mark is not None and self.viewers[(room, v)].watched_s >= mark)
            invited = max(len(visitors), latest.invited if latest else 0)
            watched = max(watched, latest.watched if latest else 0)
            out.append({"room": room, "task": task, "title": info.title if info else None, "goal": goal,
                        "invited": invited, "watched": watched,
                        "done": bool(latest and latest.done) or (goal > 0 and watched >= goal),
                        "reward_points": info.reward_points if info else None,
                        "bonus_bp": info.bonus_bp if info else None})
        return out

    def _prospects(self, leader: str) -> list[dict[str, Any]]:
        out = []
        for (room, who), visitors in self.bound.items():
            if who != leader:
                continue
            for visitor in visitors:
                viewer = self.viewers[(room, visitor)]
                if viewer.ordered:
                    continue
                tags, note = self.notes.get((leader, visitor), ([], ""))
                out.append({"room": room, "visitor": visitor, "first_seen": viewer.first_seen,
                            "last_seen": viewer.last_seen, "watched_s": viewer.watched_s, "tags": list(tags),
                            "note": note})
        out.sort(key=lambda p: (p["last_seen"], p["room"], p["visitor"]), reverse=True)
        return out

    def _question(self, entry: dict[str, Any]) -> dict[str, Any]:
        sku = entry["sku"]
        return {**entry, "leader_name": self.catalog.leaders.get(entry["leader"]) or entry["leader_name"],
                "sku_name": self.catalog.sku_name(sku) if sku else None}

    def questions_view(self, room: str) -> dict[str, Any] | None:
        if room not in self.catalog.rooms and room not in self.room_questions:
            return None
        entries = [self.questions[q] for q in self.room_questions.get(room, [])]
        waiting = [e for e in entries if not e["answered"]]
        answered = [e for e in entries if e["answered"]][-ANSWERED_SHOWN:]
        shown = sorted(waiting + answered, key=lambda e: (e["at"], e["question"]))
        return {"room": room, "title": self._title(room), "waiting": len(waiting), "asked": len(entries),
                "questions": [self._question(e) for e in shown]}

    def ops_view(self, invites: dict[str, int], top: int = 10) -> dict[str, Any]:
        """Each room's funnel, and the `top` leaders by invitations (`invites`: leader -> invited visitors, from the
        boards) with how many of theirs watched and how many became leaders."""
        rooms = [{"room": room, "title": self._title(room), **self.room_funnels.get(room, Funnel()).counts(),
                  "reminders": self.room_reminders.get(room, Reminders()).view()}
                 for room in sorted(set(self.room_funnels) | set(self.room_reminders))]
        best = heapq.nsmallest(top, ((-n, leader) for leader, n in invites.items() if n > 0))
        inviters = []
        for minus, leader in best:
            funnels = [f for (_, who), f in self.leader_funnels.items() if who == leader]
            inviters.append({"leader": leader, "name": self.catalog.leaders.get(leader), "invites": -minus,
                             "watched": sum(len(f.steps["watched"]) for f in funnels),
                             "recruits": len(self.recruits.get(leader, ())),
                             "points": self.points.get(leader, 0)})
        return {"rooms": rooms, "inviters": inviters}

    # --- checkpoint: the fold as JSON (sets as sorted lists, keys as lists: a JSON object keeps no order) --------

    def dump(self) -> dict[str, Any]:
        """Everything folded from growth events (who ordered is left out: the orders table tells it on load)."""
        def funnel(f: Funnel) -> dict[str, list[str]]:
            return {step: sorted(seen) for step, seen in f.steps.items()}

        return {
            "points": self.points,
            "points_recent": self.points_recent,
            "progress": [[leader, room, task, p.goal, p.invited, p.watched, p.done]
                         for leader, tasks in self.progress.items() for (room, task), p in tasks.items()],
            "recruits": self.recruits,
            "viewers": [[room, visitor, v.leader, v.first_seen, v.last_seen, v.watched_s]
                        for (room, visitor), v in self.viewers.items()],
            "bound": [[room, leader, sorted(visitors)] for (room, leader), visitors in self.bound.items()],
            "notes": [[leader, visitor, tags, note] for (leader, visitor), (tags, note) in self.notes.items()],
            "questions": list(self.questions.values()),
            "room_questions": self.room_questions,
            "leader_questions": self.leader_questions,
            "room_funnels": {room: funnel(f) for room, f in self.room_funnels.items()},
            "leader_funnels": [[room, leader, funnel(f)] for (room, leader), f in self.leader_funnels.items()],
            "reminder_states": [[room, visitor, leader, state]
                                for (room, visitor), (leader, state) in self.reminder_states.items()],
            "room_reminders": {room: r.counts for room, r in self.room_reminders.items()},
            "leader_reminders": [[room, leader, r.counts] for (room, leader), r in self.leader_reminders.items()],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """The fold `dump` wrote, into this blank instance (before who ordered is read)."""
        def funnel(steps: dict[str, list[str]]) -> Funnel:
            f = Funnel()
            for step, seen in steps.items():
                f.steps[step] = set(seen)
            return f

        self.points = {leader: int(n) for leader, n in state["points"].items()}
        self.points_recent = {leader: list(entries) for leader, entries in state["points_recent"].items()}
        for leader, room, task, goal, invited, watched, done in state["progress"]:
            self.progress.setdefault(leader, {})[(room, task)] = Progress(goal, invited, watched, done)
        self.recruits = {upline: list(entries) for upline, entries in state["recruits"].items()}
        for room, visitor, leader, first_seen, last_seen, watched_s in state["viewers"]:
            self.viewers[(room, visitor)] = Viewer(leader, first_seen, last_seen, watched_s)
        self.bound = {(room, leader): set(visitors) for room, leader, visitors in state["bound"]}
        self.notes = {(leader, visitor): (list(tags), note) for leader, visitor, tags, note in state["notes"]}
        self.questions = {entry["question"]: dict(entry) for entry in state["questions"]}
        self.room_questions = {room: list(ids) for room, ids in state["room_questions"].items()}
        self.leader_questions = {leader: list(ids) for leader, ids in state["leader_questions"].items()}
        self.room_funnels = {room: funnel(steps) for room, steps in state["room_funnels"].items()}
        self.leader_funnels = {(room, leader): funnel(steps) for room, leader, steps in state["leader_funnels"]}
        self.reminder_states = {(room, visitor): (leader, st) for room, visitor, leader, st in state["reminder_states"]}
        self.room_reminders = {room: Reminders(dict(counts)) for room, counts in state["room_reminders"].items()}
        self.leader_reminders = {(room, leader): Reminders(dict(counts))
                                 for room, leader, counts in state["leader_reminders"]}

    # --- load ------------------------------------------------------------------------------------------------

    async def load(self, conn: AsyncConnection, records: Iterable[tuple[int, Record]],
                   state: dict[str, Any] | None = None) -> None:
        """The checkpoint's fold (`state`, if any), who ordered where (the orders table), then the growth events
        after the checkpoint replayed in seq order."""
        if state is not None:
            self.restore(state)
        o = models.orders
        dirty: set[str] = set()
        self._orders_placed((await conn.execute(select(o.c.room, o.c.visitor, o.c.leader))).all())
        for seq, record in records:
            self.on_event(seq, record, dirty)


async def growth_records(conn: AsyncConnection, upto: int, after: int = 0) -> list[tuple[int, Record]]:
    """The growth events after `after` (a checkpoint's seq) up to `upto`, oldest first (the feed takes its recruits
    and completed tasks from them)."""
    outbox = models.outbox
    rows = await conn.execute(select(outbox.c.seq, outbox.c.payload)
                              .where(outbox.c.kind.in_(KINDS), outbox.c.seq > after, outbox.c.seq <= upto)
                              .order_by(outbox.c.seq))
    return [(int(seq), payload) for seq, payload in rows]
