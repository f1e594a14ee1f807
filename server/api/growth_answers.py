"""The answers of the growth routes (API.md, "Growth") as the models /openapi.json documents; like
server/api/answers.py, tests/server/test_answers.py validates real answers against them strictly."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from server.api.answers import Answer


class Presence(Answer):
    watched_s: int = Field(description="the visitor's watch time in the room: the sum of gaps ≤ 60 s")


class TaskReward(Answer):
    points: int
    bonus_bp: int = Field(description="extra commission rate on the leader's orders placed after completion")


class Task(Answer):
    room: str
    task: str
    title: str
    goal: int = Field(description="invited visitors who must watch `min_watch_s`")
    min_watch_s: int
    reward: TaskReward


class Recruited(Answer):
    leader: str
    upline: str | None = Field(description="the leader the visitor was bound to")
    code: str = Field(description="the new leader's live share code in the room")


class ProspectNote(Answer):
    leader: str
    visitor: str
    tags: list[str]
    note: str


class Funnel(Answer):
    clicked: int = Field(description="distinct visitors who came through a share code")
    entered: int = Field(description="… who sent a presence heartbeat")
    watched: int = Field(description="… who watched the room's min_watch_s")
    ordered: int
    became_leader: int


class TaskProgress(Answer):
    room: str
    task: str
    title: str
    goal: int
    min_watch_s: int
    reward: TaskReward
    invited: int = Field(description="the leader's visitors in the room who came through a share code")
    watched: int = Field(description="of those, who watched the task's min_watch_s")
    done: bool
    done_at: datetime | None


class Recruit(Answer):
    leader: str
    name: str
    at: datetime


class Growth(Answer):
    leader: str
    room: str | None
    points: int = Field(description="points earned in the room (in every room without `room`)")
    tasks: list[TaskProgress]
    recruits: list[Recruit]
    funnel: Funnel


class Prospect(Answer):
    visitor: str
    first_seen: datetime
    last_seen: datetime
    watched_s: int
    tags: list[str]
    note: str


class Prospects(Answer):
    leader: str
    room: str | None
    prospects: list[Prospect]


class Step(Answer):
    step: Literal["clicked", "entered", "watched", "ordered", "became_leader"]
    at: datetime
    leader: str | None


class Path(Answer):
    visitor: str
    steps: list[Step]
