"""The one error shape: {"error": CODE, "detail": TEXT, "field": NAME?} with the right status (API.md)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from domain.errors import Conflict, DomainError, Forbidden, SoldOut


class ApiError(DomainError):
    """A refusal with its HTTP status decided here (auth, size, shape). Being a DomainError, a command that raises
    it inside the writer is rolled back to its savepoint like any other refusal."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        field: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail, field=field, code=code)
        self.status = status
        self.extra = extra or {}


def not_found(what: str, key: str, field: str | None = None) -> ApiError:
    return ApiError(404, "not_found", f"unknown {what}: {key}", field)


# Rule refusals that mean "the world is not in a state to do this" are 409; the rest are invalid input.
_CONFLICT_CODES = {
    "sold_out", "conflict", "already_shipped", "below_reserved", "idempotency_conflict", "coupon_exhausted",
    "quota_below_used",
}


def error_body(code: str, detail: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"error": code, "detail": detail}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return body


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def from_domain(error: DomainError) -> ApiError:
    status = 409 if isinstance(error, SoldOut | Conflict) or error.code in _CONFLICT_CODES else 422
    if error.code == "not_found":
        status = 404
    if isinstance(error, Forbidden):
        status = 403
    return ApiError(status, error.code, error.detail, error.field)


def field_path(loc: tuple[int | str, ...]) -> str:
    """pydantic's location as the API names fields: ("items", 0, "qty") → "items[0].qty"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def from_validation(error: ValidationError) -> ApiError:
    first = error.errors(include_url=False)[0]
    field = field_path(tuple(p for p in first["loc"] if p != "body"))
    kind = first["type"]
    code = "missing_field" if kind == "missing" else "invalid_field"
    return ApiError(422, code, f"{field or 'body'}: {first['msg']}", field or None)


async def handle_api_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return json_response(error_body(exc.code, exc.detail, exc.field, **exc.extra), exc.status)


async def handle_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    return await handle_api_error(request, from_domain(exc))


async def handle_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ValidationError)
    return await handle_api_error(request, from_validation(exc))


_HTTP_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


async def handle_http_exception(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, wrong method) in the API's error shape."""
    from starlette.exceptions import HTTPException

    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return json_response(error_body(code, str(exc.detail)), exc.status_code, dict(exc.headers or {}))
