"""The four screens: /host/{room}, /leader/{leader}, /ops, /track/{order}; and the post-live review /review/{room}.

Each takes `?token=` once — the token goes into a cookie scoped to the page and the browser is sent to the clean
URL — and `?lang=en` (Chinese by default). The page is rendered complete from the read models, so it shows the
truth at once; its WebSocket then replaces fragments by id as frames arrive (htmx ws extension, out-of-band swaps).
A page opened without a valid token says so plainly and shows nothing else: a missing or foreign token, or an
expired or revoked one, each in the page's language.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from domain.errors import DomainError
from web import review_view
from web.i18n import locale_of
from web.render import TEMPLATES, dom_id, render

STATIC = TEMPLATES.parent / "static"
COOKIE = "liveroom_token"
ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$")


def _token(request: Request) -> str | None:
    return request.query_params.get("token") or request.cookies.get(COOKIE)


def _denied(locale: str, status: int = 403, reason: str = "invalid") -> Response:
    """reason: "invalid" (missing, forged or another page's token), "expired" or "revoked"."""
    return HTMLResponse(render("denied.html", locale, reason=reason), status_code=status,
                        headers={"Cache-Control": "no-store"})


def _clean_redirect(request: Request, token: str, lifetime_s: int) -> Response:
    """Drop the token from the address bar (and history); keep it in a cookie scoped to this page for as long as
    the token lives."""
    query = {k: v for k, v in request.query_params.items() if k != "token"}
    target = request.url.path + (f"?{urlencode(query)}" if query else "")
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, path=request.url.path, httponly=True, samesite="lax",
                        max_age=max(1, lifetime_s))
    return response


async def _screen(request: Request, role: str, subject: str, template: str, topics: list[str],
                  more: Callable[[str], Awaitable[dict[str, Any]]] | None = None, **context: Any) -> Response:
    """`more`, once the token is known good: what else the page draws (given the page's locale)."""
    locale = locale_of(request.query_params.get("lang"))
    realtime = request.app.state.realtime
    token = _token(request)
    if not (subject == "-" or ID.match(subject)):
        return _denied(locale)
    checked = await realtime.check(token)
    if checked.genuine is None or not checked.genuine.opens(role, subject):
        return _denied(locale)  # missing, forged, or another page's token
    if checked.claim is None:
        return _denied(locale, reason=checked.problem or "invalid")  # this page's token, expired or revoked
    assert token is not None
    if "token" in request.query_params:
        now_s = int(request.app.state.ctx.clock().timestamp())
        return _clean_redirect(request, token, checked.claim.expires_s - now_s)
    if role == "order" and not await realtime.projections.ensure_order(realtime.engine, subject):
        return _denied(locale, 404)
    data = {topic: realtime.projections.snapshot(topic) or {} for topic in topics}
    if more is not None:
        context.update(await more(locale))
    query = urlencode([("topic", t) for t in topics] + [("format", "html"), ("lang", locale), ("token", token)])
    html = render(template, locale, data=data, topics=topics, ids={t: dom_id(t) for t in topics},
                  ws_url=f"/ws?{query}", token=token, subject=subject, **context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def host_screen(request: Request) -> Response:
    room = request.path_params["room"]
    topics = [f"room:{room}:stock", f"room:{room}:board", f"room:{room}:feed", f"room:{room}:questions"]
    return await _screen(request, "host", room, "host.html", topics, room=room)


async def leader_screen(request: Request) -> Response:
    leader = request.path_params["leader"]
    rooms = sorted(request.app.state.realtime.projections.leader_rooms(leader)) if ID.match(leader) else []
    topics = [f"leader:{leader}", *(f"room:{room}:board" for room in rooms[:3])]
    asked = request.query_params.get("room")
    room = asked if asked in rooms else (rooms[0] if rooms else None)

    async def share_kit(locale: str) -> dict[str, Any]:
        """The share kit of the room the page shows (?room=, else the first of the leader's rooms)."""
        if room is None:
            return {"kit": None}
        try:
            answer = await request.app.state.screen_actions.share_kit(leader, room, locale)
        except DomainError:
            return {"kit": None}
        return {"kit": {**answer, "room": room}}

    return await _screen(request, "leader", leader, "leader.html", topics, share_kit, leader=leader)


async def ops_screen(request: Request) -> Response:
    return await _screen(request, "ops", "-", "ops.html", ["ops"])


async def review_screen(request: Request) -> Response:
    """The post-live review of a room (ops token): rendered whole from GET /api/v1/rooms/{room}/review's data, no
    live updates (the night is over); the export links carry the token to the API."""
    room = request.path_params["room"]
    locale = locale_of(request.query_params.get("lang"))
    if not ID.match(room):
        return _denied(locale)
    token = _token(request)
    checked = await request.app.state.realtime.check(token)
    if checked.genuine is None or not checked.genuine.opens("ops", "-"):
        return _denied(locale)
    if checked.claim is None:
        return _denied(locale, reason=checked.problem or "invalid")
    assert token is not None
    if "token" in request.query_params:
        now_s = int(request.app.state.ctx.clock().timestamp())
        return _clean_redirect(request, token, checked.claim.expires_s - now_s)
    try:
        page = await request.app.state.screen_actions.review_page(room)
    except DomainError:
        return _denied(locale, 404)
    html = render("review.html", locale, view=review_view.view(page["review"], page["names"]), room=room,
                  token=token, ws_url="", export=f"/api/v1/rooms/{room}/review?{urlencode({'token': token})}")
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


async def track_screen(request: Request) -> Response:
    order = request.path_params["order"]
    return await _screen(request, "order", order, "track.html", [f"order:{order}"], order=order)


routes: list[BaseRoute] = [
    Route("/host/{room}", host_screen),
    Route("/leader/{leader}", leader_screen),
    Route("/ops", ops_screen),
    Route("/track/{order}", track_screen),
    Route("/review/{room}", review_screen),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]
