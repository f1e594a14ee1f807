"""Questions for the host (API.md, "Growth"): a leader asks from the phone, the host answers from the wall.

- `POST /api/v1/rooms/{room}/questions` — the API key, or the asking leader's own screen token (bearer or the
  leader page's cookie).
- `POST /api/v1/questions/{question}/answer` — the API key, or the host token of the question's room.
- `GET /api/v1/rooms/{room}/questions` — the API key, an ops token, the room's host token; a leader's token reads
  that leader's own questions only.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.tokens import Claim
from server.api.common import Body, Id, ctx, has_api_key, parse, path_id, require_api_key, require_reader
from server.api.errors import ApiError, json_response
from server.services import questions

QuestionText = Annotated[str, StringConstraints(max_length=2000)]  # cleaned and bounded to 300 by the rules


class QuestionBody(Body):
    leader: Id
    text: QuestionText = Field(description="the buyer's question, at most 300 characters once whitespace is folded")
    sku: Id | None = Field(default=None, description="a SKU the room sells, when the question is about one")
    question: Id | None = Field(default=None, description="an id of your own, so that a retry asks only once")


async def _screen(request: Request, role: str) -> Claim | None:
    """None for the API key; else the claim of a genuine `role` token (bearer, or the page cookie): 401 without
    any credential or with a bad one, 403 for a token of another role."""
    if has_api_key(request):
        return None
    token = request.headers.get("authorization", "").partition(" ")[2].strip() or request.cookies.get(
        "liveroom_token"
    )
    checked = await ctx(request).check_token(token or None)
    if checked.claim is None:
        if checked.problem in ("expired", "revoked"):
            raise ApiError(401, "unauthorized", f"the token was {checked.problem}; ask for a new link")
        require_api_key(request)  # nothing is 401, a wrong key 403, as everywhere
        raise ApiError(401, "unauthorized", f"an API key or the {role}'s token is required")
    if checked.claim.role != role:
        raise ApiError(403, "forbidden", f"only the API key or a {role} token may do this")
    return checked.claim


async def ask(request: Request) -> Response:
    """A leader sends a buyer's question to the host: 201 with the question's id."""
    room = path_id(request, "room")
    claim = await _screen(request, "leader")
    body = await parse(request, QuestionBody)
    if claim is not None and claim.subject != body.leader:
        raise ApiError(403, "forbidden", "a leader's token asks only in that leader's name", "leader")
    answer, created = await questions.ask(ctx(request), room, body.leader, body.text, body.sku, body.question)
    return json_response(answer, 201 if created else 200)


async def answer(request: Request) -> Response:
    """The host marks a question answered (again: no change)."""
    question = path_id(request, "question")
    claim = await _screen(request, "host")
    return json_response(await questions.answer(ctx(request), question, None if claim is None else claim.subject))


async def room_questions(request: Request) -> Response:
    """The room's questions, oldest first."""
    room = path_id(request, "room")

    async def opens(claim: Claim) -> bool:
        return claim.role in ("host", "leader") and (claim.role == "leader" or claim.subject == room)

    claim = await require_reader(request, opens)
    listed = await questions.room_questions(ctx(request), room)
    if claim is not None and claim.role == "leader":
        listed["questions"] = [q for q in listed["questions"] if q["leader"] == claim.subject]
    return json_response(listed)


async def questions_of_room(request: Request) -> Response:
    """A room's questions for the host: POST asks one (201 with its id), GET lists them oldest first.

    Asking: the API key or the asking leader's own token. Rules JSON Schema cannot state (422 naming the field):
    the text must hold more than whitespace and at most 300 characters once its whitespace is folded; the SKU,
    when given, must be one the room sells. Listing: the API key, an ops token or the room's host token (a
    leader's token lists that leader's own questions)."""
    return await (ask(request) if request.method == "POST" else room_questions(request))


# One route for both methods, so that a method it does not take is answered with both in `Allow`.
routes = [
    Route("/api/v1/rooms/{room}/questions", questions_of_room, methods=["GET", "POST"]),
    Route("/api/v1/questions/{question}/answer", answer, methods=["POST"]),
]
BODIES = {("POST", "/api/v1/rooms/{room}/questions"): QuestionBody}
