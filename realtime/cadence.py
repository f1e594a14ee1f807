"""How often a screen is sent a topic's frames, and what a frame is compared against (issue 16).

A screen's cadence is set by who opened it (the token's role) and what it reads:

| screen | state frames | feed frames |
|---|---|---|
| a leader's phone (`leader`) | at most one a second | — (leaders open no feed) |
| a host or ops wall (`host`, `ops`) | two a second | JSON: 50 ms apart (exact, `since=`); HTML: 2/s, newest rows |
| a buyer's tracking page (`order`) | every beat: its own events, as they come | — |
| anything else (tests, tools) | every beat | every beat |

The limit is leading-edge: a topic that has been quiet for a whole period goes out on the next beat (25 ms), so
a single order shows at once; only a burst is spread out. What a screen is sent is compared with what it was sent
last for that topic: an unchanged view sends nothing, a changed one only what changed (realtime/htmldiff.py).
"""

from __future__ import annotations

LEADER_S = 1.0  # a phone on a data plan: one frame a second is plenty
WALL_S = 0.5  # the host's screen and the ops wall: two a second
FEED_S = 0.05  # a JSON feed: every item, promptly (order to screen), but not a frame per beat in a burst
FEED_ROWS = 12  # newest rows an HTML feed frame carries at most (older ones would scroll off before being read)


def period(role: str | None, fmt: str, topic: str) -> float:
    """Seconds between two frames of `topic` for a screen opened by `role` in format `fmt` (0: every beat)."""
    if role == "leader":
        return LEADER_S
    if role in ("host", "ops"):
        return FEED_S if topic.endswith(":feed") and fmt == "json" else WALL_S
    return 0.0


def is_feed(topic: str) -> bool:
    return topic.endswith(":feed")


def topic_kind(topic: str) -> str:
    """The metrics' name for a topic's kind: room_stock, room_board, room_feed, room_questions, leader, ops, order
    (ids left out: one series per kind, however many rooms and orders)."""
    head, _, rest = topic.partition(":")
    if head == "room":
        return "room_" + rest.rpartition(":")[2]
    return head
