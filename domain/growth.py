"""The growth engine's rules: watch time, invitation rewards and tasks, recruits, coupons, the visitor's path.

Pure functions over frozen values; the services load what they need, call these, and write what they return.

- Watch time: a visitor's heartbeats in a room, as a set of instants. The watch time is the sum of the gaps of at
  most `MAX_GAP` between consecutive distinct heartbeats; a longer gap counts nothing (the player was closed). A
  set, so any order or repetition of the same heartbeats gives the same total; and adding a heartbeat never lowers
  it (a gap split in two loses nothing: both halves are shorter).
- Invitation reward: the first time a visitor invited by a leader reaches the room's `min_watch_s`, that leader
  earns the room's reward points, once per (room, visitor) — the ledger key says so.
- Tasks: "invite `goal` people who watch `min_watch_s`". Done once `goal` of the leader's invited visitors have
  watched that long; the leader's orders in the room placed after completion earn `bonus_bp` more.
- Coupons: a threshold, an amount off, live-only / invited-only, and a quota that is never exceeded.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.errors import Conflict, DomainError
from domain.times import require_aware

MAX_GAP = timedelta(seconds=60)  # a longer silence between heartbeats counts nothing
HEARTBEAT_EVERY_S = 30  # what the player sends; the server accepts any cadence
DEFAULT_MIN_WATCH_S = 300  # "watched": five minutes
MAX_TAGS = 10
MAX_TAG_CHARS = 20
MAX_NOTE_CHARS = 500
MAX_QUESTION_CHARS = 300


class Step(StrEnum):
    """The visitor's path through a room, in the order it is usually walked."""

    CLICKED = "clicked"
    ENTERED = "entered"
    WATCHED = "watched"
    ORDERED = "ordered"
    BECAME_LEADER = "became_leader"


STEPS: tuple[Step, ...] = tuple(Step)


# --- watch time ---------------------------------------------------------------------------------------------


def _gap_us(earlier: datetime, later: datetime) -> int:
    gap = later - earlier
    return gap // timedelta(microseconds=1) if gap <= MAX_GAP else 0


def watch_us(beats: Iterable[datetime]) -> int:
    """Microseconds watched: the sum of the gaps of at most `MAX_GAP` between consecutive distinct heartbeats."""
    ordered = sorted(set(beats))
    for beat in ordered:
        require_aware(beat, "at")
    return sum(_gap_us(a, b) for a, b in itertools.pairwise(ordered))


def watch_seconds(beats: Iterable[datetime]) -> int:
    return watch_us(beats) // 1_000_000


def beat_gain_us(before: datetime | None, beat: datetime, after: datetime | None) -> int:
    """What one new heartbeat adds to the total, given its nearest neighbours already recorded (None: none on
    that side): the gaps it makes minus the gap it splits. Never negative (see the module's docstring)."""
    require_aware(beat, "at")
    gained = (_gap_us(before, beat) if before else 0) + (_gap_us(beat, after) if after else 0)
    lost = _gap_us(before, after) if before and after else 0
    return gained - lost


def neighbours(
    sorted_beats: Sequence[datetime], beat: datetime
) -> tuple[datetime | None, datetime | None, bool]:
    """The heartbeats just before and just after `beat` in `sorted_beats`, and whether `beat` is already there."""
    i = bisect.bisect_left(sorted_beats, beat)
    present = i < len(sorted_beats) and sorted_beats[i] == beat
    before = sorted_beats[i - 1] if i > 0 else None
    after_index = i + 1 if present else i
    after = sorted_beats[after_index] if after_index < len(sorted_beats) else None
    return before, after, present


def has_watched(watched_s: int, min_watch_s: int) -> bool:
    return watched_s >= min_watch_s


# --- points ---------------------------------------------------------------------------------------------------


class PointsReason(StrEnum):
    INVITE = "invite"  # an invited visitor watched; `ref` is the visitor
    TASK = "task"  # a task was completed; `ref` is the task


@dataclass(frozen=True, slots=True)
class PointsEntry:
    """One credit on a leader's points ledger. Entries are only ever added; `(leader, room, reason, ref)` is
    unique, so a visitor rewards a leader at most once per room and a task at most once."""

    leader: str
    room: str
    reason: PointsReason
    ref: str
    points: int
    at: datetime

    def __post_init__(self) -> None:
        if self.points <= 0:
            raise DomainError("points must be positive", field="points")
        require_aware(self.at, "at")

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.leader, self.room, str(self.reason), self.ref)


def invite_reward(
    *,
    room: str,
    visitor: str,
    inviter: str | None,
    watched_before_s: int,
    watched_after_s: int,
    min_watch_s: int,
    reward_points: int,
    at: datetime,
) -> PointsEntry | None:
    """The entry earned when this heartbeat carries an invited visitor across the room's watched mark, else None.
    Crossing happens once; the ledger's key refuses a second entry for the same (room, visitor) anyway."""
    if inviter is None or reward_points <= 0:
        return None
    if has_watched(watched_before_s, min_watch_s) or not has_watched(watched_after_s, min_watch_s):
        return None
    return PointsEntry(inviter, room, PointsReason.INVITE, visitor, reward_points, at)


def post(ledger: Mapping[tuple[str, str, str, str], PointsEntry], entry: PointsEntry) -> bool:
    """Whether `entry` may be added to `ledger`: never a second entry with the same key."""
    return entry.key not in ledger


def balance(entries: Iterable[PointsEntry], leader: str) -> int:
    return sum(e.points for e in entries if e.leader == leader)


# --- invitation tasks ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InviteTask:
    room: str
    task: str
    title: str
    goal: int
    min_watch_s: int
    reward_points: int
    bonus_bp: int

    def __post_init__(self) -> None:
        if not 1 <= self.goal <= 100_000:
            raise DomainError("goal must be between 1 and 100000", field="goal")
        if not 1 <= self.min_watch_s <= 86_400:
            raise DomainError("min_watch_s must be between 1 and 86400", field="min_watch_s")
        if not 0 <= self.reward_points <= 1_000_000:
            raise DomainError("reward.points must be between 0 and 1000000", field="reward.points")
        if not 0 <= self.bonus_bp <= 10_000:
            raise DomainError("reward.bonus_bp must be between 0 and 10000", field="reward.bonus_bp")


@dataclass(frozen=True, slots=True)
class TaskProgress:
    task: str
    goal: int
    invited: int
    watched: int
    done: bool


def progress(task: InviteTask, watched_s_of_invited: Iterable[int], completed: bool) -> TaskProgress:
    """A leader's progress: how many visitors they invited to the room, how many of those watched the task's
    `min_watch_s`. `completed` is sticky: once done, a task stays done."""
    times = list(watched_s_of_invited)
    watched = sum(1 for s in times if has_watched(s, task.min_watch_s))
    return TaskProgress(task.task, task.goal, len(times), watched, completed or watched >= task.goal)


def completes(task: InviteTask, watched_before: int, watched_after: int, completed: bool) -> bool:
    """Whether this change of the count of watched invitees completes the task now."""
    return not completed and watched_before < task.goal <= watched_after


def task_bonus_bp(completions: Mapping[str, datetime], bonuses: Mapping[str, int], at: datetime) -> int:
    """The extra rate on an order placed at `at`: the bonus of every task the leader had completed before it
    (never for earlier orders)."""
    return sum(bonuses.get(task, 0) for task, done_at in completions.items() if done_at < at)


# --- become a leader -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Recruit:
    leader: str
    upline: str | None
    visitor: str


def recruit(
    *,
    visitor: str,
    leader: str,
    bound_to: str | None,
    leader_exists: bool,
    visitor_already_leader: bool,
    uplines: Mapping[str, str | None],
) -> Recruit:
    """A visitor becomes leader `leader`, with the leader they are bound to as upline. Refused (409) when the id
    is taken or the visitor already became a leader; the upline chain must not loop back to the new leader."""
    if leader_exists:
        raise Conflict(f"leader id {leader} is taken", field="leader")
    if visitor_already_leader:
        raise Conflict(f"visitor {visitor} is already a leader", field="visitor")
    if bound_to == leader:
        raise DomainError("a leader cannot be their own upline", field="leader")
    seen = {leader}
    current = bound_to
    while current is not None:  # an upline chain that reaches the new id would make a loop
        if current in seen:
            raise DomainError("upline chain would loop", field="leader")
        seen.add(current)
        current = uplines.get(current)
    return Recruit(leader, bound_to, visitor)


# --- prospects, questions ---------------------------------------------------------------------------------------


def clean_tags(tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as the leader typed them, trimmed, without blanks or repeats, order kept; bounded."""
    out: list[str] = []
    for i, tag in enumerate(tags):
        text = tag.strip()
        if not text:
            continue
        if len(text) > MAX_TAG_CHARS:
            raise DomainError(f"a tag has at most {MAX_TAG_CHARS} characters", field=f"tags[{i}]")
        if text not in out:
            out.append(text)
    if len(out) > MAX_TAGS:
        raise DomainError(f"at most {MAX_TAGS} tags", field="tags")
    return tuple(out)


def clean_text(text: str, field: str, limit: int) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise DomainError(f"{field} must not be empty", field=field)
    if len(cleaned) > limit:
        raise DomainError(f"{field} has at most {limit} characters", field=field)
    return cleaned


# --- coupons ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Coupon:
    room: str
    coupon: str
    threshold_cents: int
    off_cents: int
    live_only: bool
    invited_only: bool
    quota: int | None  # None: unlimited
    used: int = 0

    def __post_init__(self) -> None:
        if self.threshold_cents < 0:
            raise DomainError("threshold_cents must not be negative", field="threshold_cents")
        if self.off_cents <= 0:
            raise DomainError("off_cents must be positive", field="off_cents")
        if self.quota is not None and self.quota < 0:
            raise DomainError("quota must not be negative", field="quota")
        if self.used < 0 or (self.quota is not None and self.used > self.quota):
            raise DomainError("a coupon's use stays within its quota", field="quota")


def coupon_discount(
    coupon: Coupon | None,
    *,
    name: str,
    room: str,
    subtotal_cents: int,
    live: bool,
    invited: bool,
) -> int:
    """The amount off an order of `subtotal_cents`, or a refusal naming why: unknown or another room's coupon,
    below the threshold, not live, not invited (422 `coupon_…`), quota spent (409). Never more than the subtotal."""
    if coupon is None or coupon.room != room:
        raise DomainError(f"no coupon {name} in room {room}", field="coupon", code="coupon_unknown")
    if subtotal_cents < coupon.threshold_cents:
        raise DomainError(
            f"coupon {name} needs an order of at least {coupon.threshold_cents} cents",
            field="coupon",
            code="coupon_below_threshold",
        )
    if coupon.live_only and not live:
        raise DomainError(
            f"coupon {name} is only for orders while the room is live", field="coupon", code="coupon_not_live"
        )
    if coupon.invited_only and not invited:
        raise DomainError(
            f"coupon {name} is only for buyers invited by a leader", field="coupon", code="coupon_not_invited"
        )
    if coupon.quota is not None and coupon.used >= coupon.quota:
        raise Conflict(f"coupon {name} is all used", field="coupon", code="coupon_exhausted")
    return min(coupon.off_cents, subtotal_cents)


def use(coupon: Coupon) -> Coupon:
    """The coupon with one more use; refuses to go past the quota."""
    if coupon.quota is not None and coupon.used >= coupon.quota:
        raise Conflict(f"coupon {coupon.coupon} is all used", field="coupon", code="coupon_exhausted")
    return Coupon(
        coupon.room,
        coupon.coupon,
        coupon.threshold_cents,
        coupon.off_cents,
        coupon.live_only,
        coupon.invited_only,
        coupon.quota,
        coupon.used + 1,
    )


# --- reminders ------------------------------------------------------------------------------------------------------

RETRY_AFTER_S = (10, 30, 120, 600, 3_600)  # backoff between delivery attempts; then the reminder has failed


def needs_reminder(clicked_at: datetime, entered_at: datetime | None, starts_at: datetime) -> bool:
    """A visitor who clicked a share code before the room started and had not entered when it started."""
    return clicked_at < starts_at and (entered_at is None or entered_at > starts_at)


def next_attempt(attempts: int, now: datetime, retry_after: Sequence[float] = RETRY_AFTER_S) -> datetime | None:
    """When to try again after `attempts` failed deliveries; None once the retries are used up. `retry_after`:
    the waits, the first after the first failure (a shorter schedule for tests)."""
    if attempts < 1:
        raise ValueError("a retry follows at least one failed delivery")
    if attempts > len(retry_after):
        return None
    return now + timedelta(seconds=retry_after[attempts - 1])
