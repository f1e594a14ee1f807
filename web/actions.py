"""What the screens change, as htmx form posts answered with HTML fragments.

Each route sits under its page's path (/host/{room}/…, /leader/{leader}/…, /ops/…), so the page's token cookie
(scoped to that path, web/pages.py) goes with the post; a bearer token works too. Only htmx posts are taken (the
`HX-Request` header, which a cross-site form cannot send). The work is done by the composition root's
`screen_actions` (server/api/screens.py: the services the JSON API calls); a refusal comes back as a fragment that
names its code and field (`data-error`, `data-error-field`), drawn in the page's language — never as text to parse.
Answers are 200 either way: htmx swaps them, and the browser logs no failed request.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from domain.errors import DomainError
from web.i18n import locale_of
from web.pages import COOKIE, ID
from web.render import adjustment_id, render

VERIFY_FIELDS = ("phone", "province", "city", "district", "address")


def _token(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else request.cookies.get(COOKIE)


def _answer(locale: str, macro: str, **context: Any) -> Response:
    html = render("actions.html", locale, macro=macro, **context)
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})


async def _allowed(request: Request, role: str, subject: str) -> str | None:
    """None when this page's token may act, else the refusal's code."""
    if request.headers.get("hx-request") != "true":
        return "forbidden"
    if not (subject == "-" or ID.match(subject)) or not all(ID.match(v) for v in request.path_params.values()):
        return "invalid_field"
    checked = await request.app.state.realtime.check(_token(request))
    claim = checked.claim
    if claim is None:
        return "unauthorized"
    if claim.role != role or (subject != "-" and claim.subject != subject):
        return "forbidden"
    return None


async def _act(request: Request, role: str, subject: str, macro: str, work: Any,
               **context: Any) -> Response:
    locale = locale_of(request.query_params.get("lang"))
    refused = await _allowed(request, role, subject)
    if refused is not None:
        return _answer(locale, macro, error=refused, field=None, **context)
    try:
        await work(request.app.state.screen_actions)
    except DomainError as error:
        return _answer(locale, macro, error=error.code, field=error.field, detail=error.detail,
                       flags=list(getattr(error, "flags", ()) or ()), **context)
    return _answer(locale, macro, error=None, field=None, **context)


def _int(form: FormData, name: str) -> int | None:
    try:
        return int(str(form.get(name, "")).strip())
    except ValueError:
        return None


async def replenish(request: Request) -> Response:
    room, sku = request.path_params["room"], request.path_params["sku"]
    form = await request.form()
    delta, warehouse = _int(form, "delta"), str(form.get("warehouse", ""))
    adjustment = str(form.get("adjustment", "")) or None

    async def work(actions: Any) -> None:
        if delta is None:
            raise DomainError("delta must be a whole number", field="delta", code="invalid_field")
        if not ID.match(warehouse):
            raise DomainError("pick a warehouse", field="warehouse", code="invalid_field")
        await actions.replenish(room, sku, warehouse, delta, str(form.get("reason", "")), adjustment)

    return await _act(request, "host", room, "replenished", work, sku=sku, next_id=adjustment_id())


async def presale(request: Request) -> Response:
    room, sku = request.path_params["room"], request.path_params["sku"]
    on = (await request.form()).get("presale") == "true"

    async def work(actions: Any) -> None:
        await actions.set_presale(room, sku, on)

    return await _act(request, "host", room, "saved", work)


async def warehouse_status(request: Request) -> Response:
    code = request.path_params["code"]
    active = (await request.form()).get("active") == "true"

    async def work(actions: Any) -> None:
        await actions.set_warehouse(code, active)

    return await _act(request, "ops", "-", "sent", work)


async def carrier_capacity(request: Request) -> Response:
    carrier = request.path_params["carrier"]
    by = _int(await request.form(), "by")

    async def work(actions: Any) -> None:
        if by is None:
            raise DomainError("by must be a whole number", field="by", code="invalid_field")
        await actions.raise_carrier(carrier, by)

    return await _act(request, "ops", "-", "sent", work)


async def carrier_status(request: Request) -> Response:
    carrier = request.path_params["carrier"]
    active = (await request.form()).get("active") == "true"

    async def work(actions: Any) -> None:
        await actions.set_carrier(carrier, active)

    return await _act(request, "ops", "-", "sent", work)


async def verify(request: Request) -> Response:
    leader, order = request.path_params["leader"], request.path_params["order"]
    form = await request.form()
    fields = {name: str(form.get(name, "")).strip() for name in VERIFY_FIELDS}
    snapshot = request.app.state.realtime.projections.snapshot(f"leader:{leader}") or {}
    held = next((h for h in snapshot.get("held") or [] if h.get("order") == order), {"order": order})
    item = {**held, "order": order, "buyer": {**(held.get("buyer") or {}), **fields}}

    async def work(actions: Any) -> None:
        await actions.verify(leader, order, fields)

    return await _act(request, "leader", leader, "verified", work, h=item, leader=leader)


# --- growth (issue #12) -----------------------------------------------------------------------------------------


def _tags(text: str) -> list[str]:
    """Tags as typed on a phone: separated by commas (either width) or 、."""
    for mark in ("，", "、"):
        text = text.replace(mark, ",")
    return [tag.strip() for tag in text.split(",") if tag.strip()]


async def prospect_note(request: Request) -> Response:
    leader, visitor = request.path_params["leader"], request.path_params["visitor"]
    form = await request.form()
    tags, note = _tags(str(form.get("tags", ""))), str(form.get("note", "")).strip()

    async def work(actions: Any) -> None:
        await actions.set_prospect_note(leader, visitor, tags, note)

    return await _act(request, "leader", leader, "saved", work)


async def ask(request: Request) -> Response:
    leader, room = request.path_params["leader"], request.path_params["room"]
    form = await request.form()
    text, sku = str(form.get("text", "")).strip(), str(form.get("sku", "")).strip() or None
    snapshot = request.app.state.realtime.projections.snapshot(f"leader:{leader}") or {}
    skus = next((r.get("skus") or [] for r in snapshot.get("rooms") or [] if r.get("room") == room), [])

    async def work(actions: Any) -> None:
        if not text:
            raise DomainError("write the question", field="text", code="invalid_field")
        if sku is not None and not ID.match(sku):
            raise DomainError("pick a product", field="sku", code="invalid_field")
        await actions.ask(room, leader, text, sku)

    return await _act(request, "leader", leader, "asked", work, leader=leader, skus=skus, text=text)


async def answer(request: Request) -> Response:
    room, question = request.path_params["room"], request.path_params["question"]
    asked = request.app.state.realtime.projections.m.growth.questions.get(question)

    async def work(actions: Any) -> None:
        if asked is None or asked["room"] != room:  # a host answers only its own room's questions
            raise DomainError(f"no question {question} in room {room}", field="question", code="not_found")
        await actions.answer(question)

    return await _act(request, "host", room, "answered", work)


routes: list[BaseRoute] = [
    Route("/host/{room}/skus/{sku}/replenish", replenish, methods=["POST"]),
    Route("/host/{room}/skus/{sku}/presale", presale, methods=["POST"]),
    Route("/ops/warehouses/{code}/status", warehouse_status, methods=["POST"]),
    Route("/ops/carriers/{carrier}/capacity", carrier_capacity, methods=["POST"]),
    Route("/ops/carriers/{carrier}/status", carrier_status, methods=["POST"]),
    Route("/leader/{leader}/orders/{order}/verify", verify, methods=["POST"]),
    Route("/leader/{leader}/prospects/{visitor}", prospect_note, methods=["POST"]),
    Route("/leader/{leader}/rooms/{room}/questions", ask, methods=["POST"]),
    Route("/host/{room}/questions/{question}/answer", answer, methods=["POST"]),
]
