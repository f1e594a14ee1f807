"""GET /openapi.json: the API described from the same pydantic models that validate the requests (`BODIES` of each
api module) and that describe the answers (server/api/answers.py), with what each route answers (`DOCS` below):
every status, path patterns, query parameters, credentials, the carriers' signed forms, and links from each create
to its reads."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api import answers as a
from server.api.common import ID_PATTERN
from server.api.errors import json_response

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"}},
    "description": "Every refusal: a code, a sentence, and the field at fault when there is one.",
}
ERRORS = {
    "400": "malformed body (not JSON, not an object, not a readable form)",
    "401": "no credential, or one that does not open this (reads); expired and revoked tokens open nothing; "
    "for a carrier push, no valid signature",
    "403": "a credential that does not open this",
    "404": "unknown id (in the path or the body)",
    "409": "conflict (sold out, id reused with another body, quota or stock below what is used)",
    "413": "body over the size limit (64 KiB)",
    "422": "invalid field (named in `field`), or a business rule the request breaks",
    "500": "unexpected server error",
}
READ_ERRORS = ("401", "403", "404", "422", "500")
WRITE_ERRORS = ("400", "401", "403", "404", "409", "413", "422", "500")

KEY = [{"apiKey": []}]
KEY_OR_SCREEN = [{"apiKey": []}, {"screenToken": []}]
READ = [{"apiKey": []}, {"screenToken": []}, {"screenTokenQuery": []}]
SECURITY_SCHEMES = {
    "apiKey": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer $LIVEROOM_API_KEY`"},
    "screenToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "A screen token (`liveroom token ROLE SUBJECT`: host, leader, ops) or an order's tracking "
        "token, as `Authorization: Bearer TOKEN`; it opens only its own subject.",
    },
    "screenTokenQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "token",
        "description": "The same screen or tracking token as `?token=`.",
    },
    "leaderCookie": {
        "type": "apiKey",
        "in": "cookie",
        "name": "liveroom_token",
        "description": "The leader page's token cookie (set by `/leader/{leader}?token=`).",
    },
    "posterSig": {
        "type": "apiKey",
        "in": "query",
        "name": "sig",
        "description": "The poster's signed address, as the kit's `poster_url` gives it: hex HMAC-SHA256 of "
        "`poster|LEADER|ROOM` with LIVEROOM_SECRET.",
    },
    "kdniaoDataSign": {
        "type": "apiKey",
        "in": "header",
        "name": "DataSign",
        "description": "Kdniao signs the form, not a header: form field `DataSign` = base64 of the lowercase hex "
        "MD5 of `RequestData + LIVEROOM_KDNIAO_APPKEY`. OpenAPI has no scheme for a signed body; the form "
        "fields are in the request body. A missing or wrong signature answers 401 in Kdniao's format.",
    },
    "kuaidi100Sign": {
        "type": "apiKey",
        "in": "header",
        "name": "sign",
        "description": "Kuaidi100 signs the form, not a header: form field `sign` = uppercase hex MD5 of "
        "`param + LIVEROOM_KUAIDI100_SALT`. A missing or wrong signature answers 401 in Kuaidi100's format.",
    },
}


@dataclass(frozen=True)
class Doc:
    """What one route answers: its success statuses and their model, who may call it, its query parameters and
    the links from its answer to the operations that read or change what it made."""

    ok: dict[str, type[BaseModel]]
    security: list[dict[str, list[str]]]
    query: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)  # name → (method, path, params)
    body_optional: bool = False
    errors_as: type[BaseModel] | None = None  # a carrier's own answer shape for its refusals
    form: tuple[type[BaseModel], str, dict[str, Any]] | None = None  # (JSON field model, its field, other fields)
    media: str | None = None  # the success answer is this binary type (an image), not JSON of `ok`'s model
    also: dict[str, dict[str, Any]] = field(default_factory=dict)  # other media types the success answer may take


def _upsert(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    return {"201": model, "200": model}


def _id(name: str) -> str:
    return f"$response.body#/{name}"


ORDER_LINKS = {
    "GetOrder": ("GET", "/api/v1/orders/{order}", {"order": _id("order")}),
    "CancelOrder": ("POST", "/api/v1/orders/{order}/cancel", {"order": _id("order")}),
    "VerifyOrder": ("POST", "/api/v1/orders/{order}/verify", {"order": _id("order")}),
    "OpenAfterSale": ("POST", "/api/v1/orders/{order}/after-sales", {"order": _id("order")}),
}
BOARD_QUERY = [
    {"name": "by", "in": "query", "required": False,
     "schema": {"type": "string", "enum": ["gmv", "orders", "invites"], "default": "gmv"},
     "description": "rank by GMV, orders or invited visitors"},
    {"name": "limit", "in": "query", "required": False,
     "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 20}},
]
KIT_QUERY = [
    {"name": "room", "in": "query", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN},
     "description": "the room the kit shares"},
    {"name": "lang", "in": "query", "required": False, "schema": {"type": "string", "enum": ["zh-CN", "en"]},
     "description": "the language of the words (Chinese by default)"},
]
POSTER_SIG = {"posterSig": []}
QUESTION_LINK = ("POST", "/api/v1/questions/{question}/answer", {"question": _id("question")})
KDNIAO_FIELDS = {
    "DataSign": {"type": "string", "minLength": 1,
                 "description": "base64(lowercase hex MD5(RequestData + LIVEROOM_KDNIAO_APPKEY))"},
    "RequestType": {"type": "string", "enum": ["101"], "default": "101"},
}
KUAIDI100_FIELDS = {
    "sign": {"type": "string", "minLength": 1, "description": "uppercase hex MD5(param + LIVEROOM_KUAIDI100_SALT)"},
}


def _docs() -> dict[tuple[str, str], Doc]:
    from server.api import carrier_capacity, growth, review
    from server.api.carriers import KdniaoPush, Kuaidi100Push

    return {
        **growth.docs(),
        **review.docs(),
        **carrier_capacity.docs(),
        ("PUT", "/api/v1/warehouses/{code}"): Doc(_upsert(a.Warehouse), KEY, links={
            "SetWarehouseStatus": ("POST", "/api/v1/warehouses/{code}/status", {"code": _id("warehouse")})}),
        ("POST", "/api/v1/warehouses/{code}/status"): Doc({"200": a.WarehouseStatus}, KEY_OR_SCREEN),
        ("PUT", "/api/v1/skus/{sku}"): Doc(_upsert(a.Sku), KEY_OR_SCREEN, links={
            "GetStock": ("GET", "/api/v1/skus/{sku}/stock", {"sku": _id("sku")})}),
        ("GET", "/api/v1/skus/{sku}/stock"): Doc({"200": a.Stock}, READ),
        ("PUT", "/api/v1/skus/{sku}/stock/{warehouse}"): Doc(_upsert(a.StockLevel), KEY, links={
            "GetStock": ("GET", "/api/v1/skus/{sku}/stock", {"sku": _id("sku")}),
            "AdjustStock": ("POST", "/api/v1/skus/{sku}/stock/{warehouse}/adjust",
                            {"sku": _id("sku"), "warehouse": _id("warehouse")})}),
        ("POST", "/api/v1/skus/{sku}/stock/{warehouse}/adjust"): Doc(_upsert(a.StockLevel), KEY_OR_SCREEN, links={
            "GetStock": ("GET", "/api/v1/skus/{sku}/stock", {"sku": _id("sku")})}),
        ("PUT", "/api/v1/leaders/{leader}"): Doc(_upsert(a.Leader), KEY, links={
            "GetCommission": ("GET", "/api/v1/leaders/{leader}/commission", {"leader": _id("leader")})}),
        ("PUT", "/api/v1/rooms/{room}"): Doc(_upsert(a.Room), KEY, links={
            "GetLeaderboard": ("GET", "/api/v1/rooms/{room}/leaderboard", {"room": _id("room")}),
            "GetForecast": ("GET", "/api/v1/rooms/{room}/forecast", {"room": _id("room")}),
            "PutDeal": ("POST", "/api/v1/rooms/{room}/deals", {"room": _id("room")}),
            "ShareLink": ("POST", "/api/v1/rooms/{room}/links", {"room": _id("room")})}),
        ("POST", "/api/v1/rooms/{room}/deals"): Doc(_upsert(a.Deal), KEY, links={
            "GetStock": ("GET", "/api/v1/skus/{sku}/stock", {"sku": _id("sku")}),
            "GetCommission": ("GET", "/api/v1/leaders/{leader}/commission", {"leader": _id("leader")})}),
        ("POST", "/api/v1/rooms/{room}/links"): Doc(_upsert(a.Link), KEY, links={
            "GetLeaderboard": ("GET", "/api/v1/rooms/{room}/leaderboard", {"room": _id("room")}),
            "GetCommission": ("GET", "/api/v1/leaders/{leader}/commission", {"leader": _id("leader")})}),
        ("POST", "/api/v1/visits"): Doc({"200": a.Visit}, KEY, links={
            "GetLeaderboard": ("GET", "/api/v1/rooms/{room}/leaderboard", {"room": _id("room")})}),
        ("POST", "/api/v1/orders"): Doc({"201": a.OrderPlaced, "200": a.OrderPlaced}, KEY, links=ORDER_LINKS),
        ("GET", "/api/v1/orders/{order}"): Doc({"200": a.OrderView}, READ),
        ("POST", "/api/v1/orders/{order}/cancel"): Doc({"200": a.Cancelled}, KEY, links={
            "GetOrder": ORDER_LINKS["GetOrder"]}),
        ("POST", "/api/v1/orders/{order}/verify"): Doc(
            {"200": a.Verified}, [*KEY_OR_SCREEN, {"leaderCookie": []}], links={"GetOrder": ORDER_LINKS["GetOrder"]}),
        ("POST", "/api/v1/orders/{order}/after-sales"): Doc(_upsert(a.AfterSale), KEY, links={
            "ResolveAfterSale": ("POST", "/api/v1/after-sales/{after_sale}/resolve",
                                 {"after_sale": _id("after_sale")}),
            "GetOrder": ORDER_LINKS["GetOrder"]}),
        ("POST", "/api/v1/after-sales/{after_sale}/resolve"): Doc({"200": a.AfterSale}, KEY, links={
            "GetOrder": ORDER_LINKS["GetOrder"]}),
        ("POST", "/api/v1/carriers/kdniao/push"): Doc(
            {"200": a.KdniaoAnswer}, [{"kdniaoDataSign": []}], errors_as=a.KdniaoAnswer,
            form=(KdniaoPush, "RequestData", KDNIAO_FIELDS)),
        ("POST", "/api/v1/carriers/kuaidi100/push"): Doc(
            {"200": a.Kuaidi100Answer}, [{"kuaidi100Sign": []}], errors_as=a.Kuaidi100Answer,
            form=(Kuaidi100Push, "param", KUAIDI100_FIELDS)),
        ("POST", "/api/v1/tracking"): Doc({"200": a.Tracked}, KEY, links={"GetOrder": ORDER_LINKS["GetOrder"]}),
        ("GET", "/api/v1/rooms/{room}/leaderboard"): Doc({"200": a.Leaderboard}, READ, query=BOARD_QUERY),
        ("GET", "/api/v1/leaders/{leader}/commission"): Doc({"200": a.Commission}, READ),
        ("GET", "/api/v1/rooms/{room}/forecast"): Doc({"200": a.Forecast}, READ),
        ("GET", "/api/v1/leaders/{leader}/kit"): Doc({"200": a.Kit}, READ, query=KIT_QUERY),
        ("GET", "/api/v1/leaders/{leader}/kit/poster.png"): Doc(
            {"200": a.Kit}, [*READ, POSTER_SIG], query=KIT_QUERY, media="image/png"),
        ("GET", "/api/v1/rooms/{room}/reminders"): Doc({"200": a.Reminders}, READ),
        ("POST", "/api/v1/admin/settle"): Doc({"200": a.Settled}, KEY, body_optional=True),
        ("POST", "/api/v1/admin/tokens/revoke"): Doc({"200": a.Revoked}, KEY),
        ("PUT", "/api/v1/rooms/{room}/coupons/{coupon}"): Doc(_upsert(a.Coupon), KEY),
        ("POST", "/api/v1/rooms/{room}/questions"): Doc(
            _upsert(a.Question), [*KEY_OR_SCREEN, {"leaderCookie": []}], links={"AnswerQuestion": QUESTION_LINK}),
        ("GET", "/api/v1/rooms/{room}/questions"): Doc({"200": a.Questions}, READ),
        ("POST", "/api/v1/questions/{question}/answer"): Doc({"200": a.Question}, KEY_OR_SCREEN),
        ("POST", "/api/v1/notices"): Doc(_upsert(a.Notice), KEY, links={
            "WithdrawNotice": ("DELETE", "/api/v1/notices/{notice}", {"notice": _id("notice")})}),
        ("DELETE", "/api/v1/notices/{notice}"): Doc({"200": a.Notice}, KEY),
        ("GET", "/metrics"): Doc({"200": BaseModel}, KEY, media="text/plain"),
    }


def modules() -> list[Any]:
    """Every API router, in the order its routes match (liveroom/app.py mounts them from here)."""
    from server.api import (
        admin,
        carrier_capacity,
        carriers,
        catalog,
        coupons,
        growth,
        kit,
        metrics,
        notices,
        orders,
        questions,
        reads,
        reminders,
        review,
        visits,
    )

    return [catalog, coupons, questions, visits, orders, carriers, carrier_capacity, reads, growth, kit, reminders,
            notices, review,
            admin, metrics]


def operation_id(method: str, path: str) -> str:
    return f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', path.lower()).strip('_')}"


class _Schemas:
    """components/schemas, filled from pydantic models; one name is one schema."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {"Error": ERROR}

    def ref(self, model: type[BaseModel], mode: str = "validation") -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        for name, sub in {**schema.pop("$defs", {}), model.__name__: schema}.items():
            if self.schemas.setdefault(name, sub) != sub:
                raise RuntimeError(f"two different schemas are both named {name}")
        return {"$ref": f"#/components/schemas/{model.__name__}"}


@cache
def document() -> dict[str, Any]:
    docs = _docs()
    schemas = _Schemas()
    paths: dict[str, dict[str, Any]] = {}
    for module in modules():
        bodies: dict[tuple[str, str], type[BaseModel]] = getattr(module, "BODIES", {})
        for route in module.routes:
            for method in sorted((route.methods or set()) - {"HEAD"}):
                doc = docs[(method, route.path)]
                paths.setdefault(route.path, {})[method.lower()] = _operation(
                    route, method, doc, bodies.get((method, route.path)), schemas
                )
    return {
        "openapi": "3.1.0",
        "info": {"title": "liveroom", "version": "1",
                 "description": "The realtime back office of a live-commerce room (see API.md)."},
        "paths": paths,
        "components": {"schemas": schemas.schemas, "securitySchemes": SECURITY_SCHEMES},
    }


def _operation(route: Route, method: str, doc: Doc, body: type[BaseModel] | None, schemas: _Schemas) -> dict[str, Any]:
    text = (route.endpoint.__doc__ or route.name or "").strip()
    summary, _, description = text.partition("\n")
    operation: dict[str, Any] = {
        "operationId": operation_id(method, route.path),
        "summary": summary.strip(),
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "pattern": ID_PATTERN}}
            for name in re.findall(r"{(\w+)}", route.path)
        ] + doc.query,
        "responses": {},
        "security": doc.security,
    }
    if description.strip():
        operation["description"] = " ".join(description.split())
    for status, model in doc.ok.items():
        if doc.media is not None:  # an image, or text (the Prometheus format of /metrics)
            binary = {"type": "string"} if doc.media.startswith("text/") else {
                "type": "string", "contentMediaType": doc.media}
            operation["responses"][status] = {"description": "OK", "content": {doc.media: {"schema": binary}}}
            continue
        answer: dict[str, Any] = {
            "description": "created" if status == "201" else "OK",
            "content": {"application/json": {"schema": schemas.ref(model, "serialization")},
                        **{media: {"schema": schema} for media, schema in doc.also.items()}},
        }
        if doc.links:
            answer["links"] = {
                name: {"operationId": operation_id(m, p), "parameters": params}
                for name, (m, p, params) in doc.links.items()
            }
        operation["responses"][status] = answer
    error = schemas.ref(doc.errors_as, "serialization") if doc.errors_as else {"$ref": "#/components/schemas/Error"}
    for status in READ_ERRORS if method == "GET" else WRITE_ERRORS:
        shape = error if status != "500" else {"$ref": "#/components/schemas/Error"}
        content = {"application/json": {"schema": shape}}
        operation["responses"][status] = {"description": ERRORS[status], "content": content}
    if body is not None:
        operation["requestBody"] = {
            "required": not doc.body_optional,
            "content": {"application/json": {"schema": schemas.ref(body)}},
        }
    if doc.form is not None:
        model, json_field, others = doc.form
        operation["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": {
            "type": "object",
            "required": [json_field, *[n for n in others if n in ("DataSign", "sign")]],
            "properties": {
                json_field: {"type": "string", "contentMediaType": "application/json",
                             "contentSchema": schemas.ref(model), "description": "the push, as JSON text"},
                **others,
            },
        }}}}
        signature = SECURITY_SCHEMES[next(iter(doc.security[0]))]["description"]
        operation["description"] = f"{operation.get('description', '')} Signature: {signature}".strip()
    return operation


async def openapi(_request: Request) -> Response:
    return json_response(document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
