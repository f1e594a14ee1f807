"""Growth routes (API.md, "Growth"): presence heartbeats, a room's invitation tasks, a visitor becoming a leader, a
leader's growth and prospects, the funnel and a visitor's path. Parse, authorize, call server/services/.

Writes take the API key, except a leader's tags on a prospect, which the leader's own screen may write. Reads take
the API key, an ops token, or the token of the subject: the leader for their growth and prospects (and their own
funnel), the room's host for the room's funnel and a visitor's path in the room.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import Claim
from server.api import growth_answers as g
from server.api.common import (
    ID_PATTERN,
    Body,
    Bp,
    Id,
    Text,
    When,
    ctx,
    parse,
    path_id,
    require_api_key,
    require_key_or_screen,
    require_reader,
    whole,
)
from server.api.errors import ApiError, json_response
from server.services import growth, growth_reads, presence

_ID = re.compile(ID_PATTERN)
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Tag = Annotated[str, StringConstraints(max_length=20)]  # trimmed, and blanks and repeats dropped, by the rules
Note = Annotated[str, StringConstraints(max_length=500)]


class PresenceBody(Body):
    visitor: Id
    at: When | None = None


class RewardBody(Body):
    points: whole(ge=0, le=1_000_000) = 0
    bonus_bp: Bp = 0


class TaskBody(Body):
    title: Text
    goal: whole(ge=1, le=100_000)
    min_watch_s: whole(ge=1, le=86_400) | None = None  # left out: the stored one, else the room's
    reward: RewardBody


class RecruitBody(Body):
    visitor: Id
    leader: Id
    name: Text
    phone: Phone | None = None
    community: Text | None = None


class ProspectBody(Body):
    tags: Annotated[list[Tag], Field(max_length=10)]
    note: Note | None = None  # left out: the stored note


def _answer(answer: tuple[dict[str, Any], bool]) -> Response:
    body, created = answer
    return json_response(body, 201 if created else 200)


def query_id(request: Request, name: str) -> str | None:
    """An optional id in the query string: 422 naming it when it is not an id."""
    value = request.query_params.get(name)
    if value is not None and not _ID.match(value):
        raise ApiError(422, "invalid_field", f"{name} must be 1-64 letters, digits or _.:-", name)
    return value


def _leader_reader(leader: str) -> Any:
    async def opens(claim: Claim) -> bool:
        return claim.opens("leader", leader)

    return opens


async def record_presence(request: Request) -> Response:
    """A heartbeat from the live or replay player while the visitor watches (about every 30 s).
    The watch time is the sum of the gaps of at most 60 s between the visitor's heartbeats; the same heartbeat
    twice counts once."""
    require_api_key(request)
    room = path_id(request, "room")
    body = await parse(request, PresenceBody)
    return json_response(await presence.heartbeat(ctx(request), presence.Beat(room, body.visitor, body.at)))


async def put_task(request: Request) -> Response:
    """An invitation task: done when `goal` visitors invited by a leader have watched `min_watch_s`; the leader
    then earns `reward.points` once, and `reward.bonus_bp` more on their orders in the room placed after that."""
    require_api_key(request)
    room, task = path_id(request, "room"), path_id(request, "task")
    body = await parse(request, TaskBody)
    return _answer(await growth.put_task(ctx(request), room, task, body.model_dump()))


async def recruit(request: Request) -> Response:
    """A visitor becomes a leader: upline is the leader the visitor is bound to, `code` the new leader's live
    share code. A taken leader id, or a visitor who already became a leader, is 409; the same request again
    answers the same (200)."""
    require_api_key(request)
    room = path_id(request, "room")
    body = await parse(request, RecruitBody)
    made = growth.RecruitRequest(room, body.visitor, body.leader, body.name, body.phone, body.community)
    return _answer(await growth.recruit(ctx(request), made))


async def leader_growth(request: Request) -> Response:
    """A leader's points, tasks with progress, recruits and own funnel (in `room`, or in all of their rooms)."""
    leader = path_id(request, "leader")
    await require_reader(request, _leader_reader(leader))
    room = query_id(request, "room")
    return json_response(await growth_reads.leader_growth(ctx(request), leader, room))


async def prospects(request: Request) -> Response:
    """The leader's visitors who clicked or entered and have not ordered (in `room`), with the leader's tags."""
    leader = path_id(request, "leader")
    await require_reader(request, _leader_reader(leader))
    room = query_id(request, "room")
    return json_response(await growth_reads.prospects(ctx(request), leader, room))


async def note_prospect(request: Request) -> Response:
    """A leader's tags and note on a visitor of theirs (the API key or that leader's token). Another leader's
    visitor is not found."""
    leader, visitor = path_id(request, "leader"), path_id(request, "visitor")

    async def own(subject: str) -> bool:
        return subject == leader

    await require_key_or_screen(request, "leader", own)
    body = await parse(request, ProspectBody)
    return _answer(await growth.note_prospect(ctx(request), leader, visitor, list(body.tags), body.note))


async def funnel(request: Request) -> Response:
    """Distinct visitors per step in the room: clicked → entered → watched → ordered → became a leader; with
    `leader`, that leader's visitors only (their own token may read that)."""
    room = path_id(request, "room")
    leader = query_id(request, "leader")

    async def opens(claim: Claim) -> bool:
        if claim.role == "host":
            return claim.subject == room
        return claim.role == "leader" and leader is not None and claim.subject == leader

    await require_reader(request, opens)
    return json_response(await growth_reads.room_funnel(ctx(request), room, leader))


async def visitor_path(request: Request) -> Response:
    """The steps a visitor took (in `room`), with when and under which leader, in time order."""
    visitor = path_id(request, "visitor")
    room = query_id(request, "room")

    async def opens(claim: Claim) -> bool:
        return claim.role == "host" and room is not None and claim.subject == room

    await require_reader(request, opens)
    return json_response(await growth_reads.visitor_path(ctx(request), visitor, room))


routes = [
    Route("/api/v1/rooms/{room}/presence", record_presence, methods=["POST"]),
    Route("/api/v1/rooms/{room}/tasks/{task}", put_task, methods=["PUT"]),
    Route("/api/v1/rooms/{room}/leaders", recruit, methods=["POST"]),
    Route("/api/v1/rooms/{room}/funnel", funnel, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/growth", leader_growth, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/prospects", prospects, methods=["GET"]),
    Route("/api/v1/leaders/{leader}/prospects/{visitor}", note_prospect, methods=["PUT"]),
    Route("/api/v1/visitors/{visitor}/path", visitor_path, methods=["GET"]),
]

BODIES = {
    ("POST", "/api/v1/rooms/{room}/presence"): PresenceBody,
    ("PUT", "/api/v1/rooms/{room}/tasks/{task}"): TaskBody,
    ("POST", "/api/v1/rooms/{room}/leaders"): RecruitBody,
    ("PUT", "/api/v1/leaders/{leader}/prospects/{visitor}"): ProspectBody,
}


def _query(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": {"type": "string", "pattern": ID_PATTERN},
            "description": description}


def docs() -> dict[tuple[str, str], Any]:
    """What each route answers, for /openapi.json (server/api/openapi.py)."""
    from server.api.openapi import KEY, KEY_OR_SCREEN, READ, Doc, _id, _upsert

    room_q = _query("room", "one room (all rooms when left out)")
    growth_link = ("GET", "/api/v1/leaders/{leader}/growth", {"leader": _id("leader")})
    return {
        ("POST", "/api/v1/rooms/{room}/presence"): Doc({"200": g.Presence}, KEY),
        ("PUT", "/api/v1/rooms/{room}/tasks/{task}"): Doc(_upsert(g.Task), KEY, links={
            "GetFunnel": ("GET", "/api/v1/rooms/{room}/funnel", {"room": _id("room")})}),
        ("POST", "/api/v1/rooms/{room}/leaders"): Doc(_upsert(g.Recruited), KEY, links={
            "GetGrowth": growth_link,
            "GetProspects": ("GET", "/api/v1/leaders/{leader}/prospects", {"leader": _id("leader")})}),
        ("GET", "/api/v1/rooms/{room}/funnel"): Doc({"200": g.Funnel}, READ, query=[
            _query("leader", "only this leader's visitors")]),
        ("GET", "/api/v1/leaders/{leader}/growth"): Doc({"200": g.Growth}, READ, query=[room_q]),
        ("GET", "/api/v1/leaders/{leader}/prospects"): Doc({"200": g.Prospects}, READ, query=[room_q]),
        ("PUT", "/api/v1/leaders/{leader}/prospects/{visitor}"): Doc(_upsert(g.ProspectNote), KEY_OR_SCREEN),
        ("GET", "/api/v1/visitors/{visitor}/path"): Doc({"200": g.Path}, READ, query=[room_q]),
    }
