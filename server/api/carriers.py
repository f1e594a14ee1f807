"""Carrier tracking: Kdniao and Kuaidi100 pushes, and the normalized form (API.md, "Carriers").

Pushes come from the carriers' aggregators, not from our clients, so they carry no API key: each is
signed with a secret we share with the aggregator, and the signature is checked on the raw field before
anything in it is parsed. Each aggregator gets its answer in its own format (it retries until it reads
success), with our error keys beside its own on a refusal.

Each waybill of a push stands on its own: one whose times cannot be read (not a time, a carrier's "no date"
0001-01-01 00:00:00, outside the supported range) or lie outside the order's window (server/services/tracking.py)
is refused and named in the answer, while the others apply.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain import carrier_codes, tracking
from domain.china_time import CHINA, china_time
from domain.errors import DomainError
from server.api.common import Body, When, ctx, parse, read_body, require_api_key
from server.api.errors import ApiError, error_body, from_domain, from_validation, json_response
from server.api.times import field_time
from server.services.tracking import Outcome, Report, Trace, apply_reports
from telemetry.metrics import CARRIER_PUSHES

Waybill = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9-]{1,40}$")]


def beijing_text(at: datetime) -> str:
    return china_time(at).strftime("%Y-%m-%d %H:%M:%S")


def carrier_time(text: str, field: str) -> datetime:
    """A carrier's "yyyy-MM-dd HH:mm:ss" (Beijing unless it names a zone) as UTC, in the supported range; else
    422 naming `field` (a carrier's "no date", 0001-01-01 00:00:00, is out of range)."""
    return field_time(text, field, zone=CHINA)


async def read_form(request: Request) -> FormData:
    """The form, read within the body limit (413 past it)."""
    raw = await read_body(request, ctx(request).settings.max_body_bytes)

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    try:
        return await Request(request.scope, replay).form()
    except Exception as error:  # the multipart parser's own errors: the request is malformed
        raise ApiError(400, "malformed_form", f"request body is not a readable form: {error}") from None


def form_field(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def require_field(value: str | None, name: str) -> str:
    if value is None or not value.strip():
        raise ApiError(422, "missing_field", f"form field {name} is required", name)
    return value


def check_signature(presented: str | None, expected: Callable[[str], str], secret: str, name: str,
                    setting: str) -> None:
    """401 unless `presented` is what `expected(secret)` computes; an unset secret verifies nothing."""
    if not secret:
        raise ApiError(401, "unauthorized", f"{setting} is not configured: pushes cannot be verified", name)
    if not presented:
        raise ApiError(401, "unauthorized", f"form field {name} (the push's signature) is required", name)
    if not hmac.compare_digest(presented.encode(), expected(secret).encode()):
        raise ApiError(401, "unauthorized", f"{name} does not match the pushed data", name)


def json_field(model: type[BaseModel], raw: str, name: str) -> Any:
    try:
        return model.model_validate(orjson.loads(raw))
    except orjson.JSONDecodeError:
        raise ApiError(400, "malformed_json", f"form field {name} is not JSON", name) from None
    except ValidationError as error:
        refused = from_validation(error)
        if refused.field is None:
            raise ApiError(400, "malformed_json", f"form field {name} is not a JSON object", name) from None
        raise refused from None


def refusal(error: DomainError) -> ApiError:
    return error if isinstance(error, ApiError) else from_domain(error)


def named_state(convert: Callable[[], tracking.ParcelState], field: str) -> tracking.ParcelState:
    try:
        return convert()
    except DomainError as error:
        raise ApiError(422, "invalid_field", f"{field}: {error.detail}", field) from None


class Carrier(BaseModel):
    """Carrier JSON is loose by nature (numbers as strings or not, extra keys): read what we need."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)


# --- Kdniao (快递鸟), RequestType 101 ----------------------------------------------------------------------


class KdniaoTrace(Carrier):
    AcceptTime: str
    AcceptStation: str = ""


class KdniaoItem(Carrier):
    ShipperCode: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=16)]
    LogisticCode: Waybill
    State: str
    StateEx: str | None = None
    Traces: list[KdniaoTrace] = Field(default_factory=list)


class KdniaoPush(Carrier):
    EBusinessID: str = ""
    PushTime: str | None = None
    Data: Annotated[list[KdniaoItem], Field(min_length=1, max_length=500)]


def kdniao_sign(request_data: str) -> Callable[[str], str]:
    """Base64 of the lowercase hex MD5 of RequestData + AppKey, as Kdniao's own demos compute it."""
    def sign(key: str) -> str:
        digest = hashlib.md5((request_data + key).encode()).hexdigest()
        return base64.b64encode(digest.encode()).decode()

    return sign


def kdniao_report(item: KdniaoItem, i: int, pushed_at: datetime | None) -> Report:
    """One waybill of a push (Data[i]); 422 naming the field when a part of it cannot be read."""
    state = named_state(lambda: carrier_codes.from_kdniao(item.State, item.StateEx or None), f"Data[{i}].State")
    traces = []
    for j, line in enumerate(item.Traces):
        field = f"Data[{i}].Traces[{j}].AcceptTime"
        traces.append(Trace(carrier_time(line.AcceptTime, field), line.AcceptStation, field))
    return Report(carrier=item.ShipperCode.upper(), waybill=item.LogisticCode, state=state, source="kdniao",
                  traces=tuple(traces), code=item.StateEx or item.State, reported_at=pushed_at,
                  reported_field="PushTime")


def kdniao_reports(push: KdniaoPush) -> tuple[list[Report], list[tuple[str, DomainError]]]:
    """The push's waybills that could be read, and those refused already (waybill, why)."""
    pushed_at = carrier_time(push.PushTime, "PushTime") if push.PushTime else None
    reports: list[Report] = []
    refused: list[tuple[str, DomainError]] = []
    for i, item in enumerate(push.Data):
        try:
            reports.append(kdniao_report(item, i, pushed_at))
        except ApiError as error:
            refused.append((item.LogisticCode, error))
    return reports, refused


def refused_view(outcome: Outcome) -> list[dict[str, Any]]:
    """The refused waybills of a push with our error keys, beside the carrier's own answer."""
    return [{"waybill": waybill, **error_body(refusal(error).code, error.detail, error.field)}
            for waybill, error in outcome.refused]


async def kdniao_push(request: Request) -> Response:
    """Kdniao tracking push (RequestType 101, signed with DataSign): the whole trace of each waybill."""
    app = ctx(request)
    business_id = ""

    def answer(status: int, success: bool, reason: str, **extra: Any) -> Response:
        return json_response({"EBusinessID": business_id, "UpdateTime": beijing_text(app.clock()),
                              "Success": success, "Reason": reason, **extra}, status)

    try:
        form = await read_form(request)
        request_data = form_field(form, "RequestData")
        check_signature(form_field(form, "DataSign"), kdniao_sign(request_data or ""),
                        app.settings.kdniao_appkey, "DataSign", "LIVEROOM_KDNIAO_APPKEY")
        request_data = require_field(request_data, "RequestData")
        if (form_field(form, "RequestType") or "101").strip() != "101":
            raise ApiError(422, "invalid_field", "only RequestType 101 (tracking push) is accepted",
                           "RequestType")
        push: KdniaoPush = json_field(KdniaoPush, request_data, "RequestData")
        business_id = push.EBusinessID
        reports, unread = kdniao_reports(push)
        outcome: Outcome = await app.writer.call(
            lambda tx: apply_reports(tx, reports, unread, refuse_when_none_applied=False))
    except DomainError as error:
        refused = refusal(error)
        return answer(refused.status, False, refused.detail,
                      **error_body(refused.code, refused.detail, refused.field, **refused.extra))
    extra = {"refused": refused_view(outcome)} if outcome.refused else {}
    failure = outcome.failure()
    if failure is not None:  # nothing applied: the first refusal (or 404) says why, the Reason names them all
        refused = refusal(failure)
        return answer(refused.status, False, outcome.note() or refused.detail,
                      **error_body(refused.code, refused.detail, refused.field, **refused.extra), **extra)
    return answer(200, True, outcome.note(), **extra)


# --- Kuaidi100 (快递100) -----------------------------------------------------------------------------------


class Kuaidi100Line(Carrier):
    ftime: str | None = None
    time: str | None = None
    context: str = ""


class Kuaidi100Result(Carrier):
    com: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
    nu: Waybill
    state: str
    data: Annotated[list[Kuaidi100Line], Field(max_length=1000)] = Field(default_factory=list)


class Kuaidi100Push(Carrier):
    status: str = ""
    message: str = ""
    lastResult: Kuaidi100Result


def kuaidi100_sign(param: str) -> Callable[[str], str]:
    """Uppercase hex MD5 of param + salt."""
    return lambda salt: hashlib.md5((param + salt).encode()).hexdigest().upper()


def kuaidi100_report(push: Kuaidi100Push, received_at: datetime) -> Report:
    result = push.lastResult
    try:
        carrier = carrier_codes.carrier_from_kuaidi100(result.com)
    except DomainError as error:
        raise ApiError(422, "invalid_field", f"lastResult.com: {error.detail}", "lastResult.com") from None
    state = named_state(lambda: carrier_codes.from_kuaidi100(result.state), "lastResult.state")
    traces = []
    for i, line in enumerate(result.data):
        when = line.ftime or line.time
        if not when:
            raise ApiError(422, "missing_field", f"lastResult.data[{i}].ftime is required",
                           f"lastResult.data[{i}].ftime")
        field = f"lastResult.data[{i}].ftime"
        traces.append(Trace(carrier_time(when, field), line.context, field))
    # Kuaidi100 stamps no push time: an empty trace's state is stamped with the time we received it.
    return Report(carrier=carrier, waybill=result.nu, state=state, source="kuaidi100", traces=tuple(traces),
                  code=result.state, reported_at=received_at)


async def kuaidi100_push(request: Request) -> Response:
    """Kuaidi100 tracking push (signed with sign): one waybill's state and trace."""
    app = ctx(request)

    def answer(status: int, success: bool, message: str, **extra: Any) -> Response:
        body = {"result": success, "returnCode": str(status), "message": message, **extra}
        return json_response(body, status)

    try:
        form = await read_form(request)
        param = form_field(form, "param")
        presented = form_field(form, "sign")
        check_signature(presented.upper() if presented else presented, kuaidi100_sign(param or ""),
                        app.settings.kuaidi100_salt, "sign", "LIVEROOM_KUAIDI100_SALT")
        param = require_field(param, "param")
        report = kuaidi100_report(json_field(Kuaidi100Push, param, "param"), app.clock())
        outcome: Outcome = await app.writer.call(lambda tx: apply_reports(tx, [report]))
    except DomainError as error:
        refused = refusal(error)
        return answer(refused.status, False, refused.detail,
                      **error_body(refused.code, refused.detail, refused.field, **refused.extra))
    return answer(200, True, outcome.note() or "成功")


# --- normalized ---------------------------------------------------------------------------------------------


class TrackingBody(Body):
    carrier: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9]{1,16}$")]
    waybill: Waybill
    state: Literal["collected", "in_transit", "out_for_delivery", "signed", "problem", "returned"]
    at: When
    station: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


async def track(request: Request) -> Response:
    """A parcel event in liveroom's own terms (carrier, waybill, state, at, station)."""
    require_api_key(request)
    body = await parse(request, TrackingBody)
    report = Report(carrier=body.carrier.upper(), waybill=body.waybill,
                    state=carrier_codes.from_normalized(body.state), source="api",
                    traces=(Trace(body.at, body.station),))
    outcome = await ctx(request).writer.call(lambda tx: apply_reports(tx, [report]))
    return json_response(outcome.tracked[0].view())


Endpoint = Callable[[Request], Awaitable[Response]]


def counted(source: str, endpoint: Endpoint) -> Endpoint:
    """`liveroom_carrier_pushes_total{source, result}`: a push answered 200 applied (a Kdniao push that applied some
    of its waybills and refused others too), any other answer or refusal refused."""
    applied, refused = CARRIER_PUSHES.labels(source, "applied"), CARRIER_PUSHES.labels(source, "refused")

    @functools.wraps(endpoint)
    async def push(request: Request) -> Response:
        try:
            response = await endpoint(request)
        except Exception:
            refused.inc()
            raise
        (applied if response.status_code == 200 else refused).inc()
        return response

    return push


routes = [
    Route("/api/v1/carriers/kdniao/push", counted("kdniao", kdniao_push), methods=["POST"]),
    Route("/api/v1/carriers/kuaidi100/push", counted("kuaidi100", kuaidi100_push), methods=["POST"]),
    Route("/api/v1/tracking", counted("api", track), methods=["POST"]),
]

BODIES = {("POST", "/api/v1/tracking"): TrackingBody}
