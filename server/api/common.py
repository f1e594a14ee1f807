"""What every route shares: reading a bounded JSON body into a pydantic model, ids from the path, auth (the API key,
or a screen or tracking token that opens the subject asked for).

`When` (server/api/times.py) is the type of every time field: zoned, in the supported range, given on as UTC.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)
from starlette.requests import Request

from domain import geo
from domain.tokens import Claim
from server.api.errors import ApiError, from_validation
from server.api.times import When as When  # re-exported: every body takes its time type from here
from server.context import AppContext

M = TypeVar("M", bound=BaseModel)

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63}$"
_ID = re.compile(ID_PATTERN)
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _whole_number(value: Any) -> Any:
    """A JSON number with a zero fraction (118735.0) is the integer JSON Schema says it is; anything else is left
    for the strict integer check to judge ("2" and 1.5 stay refused, and so do true and false)."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def whole(**bounds: Any) -> Any:
    """The integer type of every integer field of every body, within `bounds` (ge, gt, le, ...): strict, except
    that 118735.0 is 118735. (The bounds sit inside the number check so the document shows them as JSON Schema's
    minimum and maximum.)"""
    return Annotated[int, Field(**bounds), BeforeValidator(_whole_number)]


Cents = whole(ge=0, le=10**12)
Units = whole(ge=0, le=10**9)
Bp = whole(ge=0, le=10_000)

# The spellings of a province the server recognises (full, short and English names); the document lists them so a
# client (and a fuzzer) knows which are valid. Validation itself stays with domain.geo (422 unknown_province).
PROVINCE_NAMES = sorted({n for p in geo.PROVINCES for n in (p.name, p.short, p.en)})
Province = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=64),
    Field(json_schema_extra={"enum": PROVINCE_NAMES}),
]


class Body(BaseModel):
    """Request bodies are strict: "2" is not a quantity and 1.5 is not a number of cents."""

    model_config = ConfigDict(strict=True, frozen=True)


def ctx(request: Request) -> AppContext:
    context: AppContext = request.app.state.ctx
    return context


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(413, "too_large", f"request body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"request body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def parse(request: Request, model: type[M]) -> M:
    """The body as `model`: 400 when it is not a JSON object, 422 naming the first field at fault."""
    raw = await read_body(request, ctx(request).settings.max_body_bytes)
    if not raw.strip():
        raise ApiError(400, "malformed_json", "request body is empty; a JSON object is expected")
    try:
        return model.model_validate_json(raw)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] in ("json_invalid", "json_type") or (
            first["type"] == "model_type" and not first["loc"]
        ):
            raise ApiError(400, "malformed_json", "request body is not a JSON object") from None
        raise from_validation(error) from None


def path_id(request: Request, name: str) -> str:
    value: str = request.path_params[name]
    if not _ID.match(value):
        raise ApiError(422, "invalid_field", f"{name} must be 1-64 letters, digits or _.:-", name)
    return value


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_api_key(request: Request) -> None:
    """Writes need `Authorization: Bearer $LIVEROOM_API_KEY`: 401 without a key, 403 with a wrong one."""
    presented = bearer(request)
    if presented is None:
        raise ApiError(401, "unauthorized", "Authorization: Bearer <api key> is required for writes")
    if not hmac.compare_digest(presented.encode(), ctx(request).settings.api_key.encode()):
        raise ApiError(403, "forbidden", "the API key is not valid")


def has_api_key(request: Request) -> bool:
    presented = bearer(request)
    return presented is not None and hmac.compare_digest(
        presented.encode(), ctx(request).settings.api_key.encode()
    )


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def presented_token(request: Request) -> str | None:
    """A token sent as `Authorization: Bearer TOKEN`, else as `?token=`."""
    return bearer(request) or request.query_params.get("token") or None


_REFUSED = {
    "missing": "an API key or a token that opens this subject is required (Authorization: Bearer, or ?token=)",
    "invalid": "the token is not valid",
    "expired": "the token has expired; ask for a new link",
    "revoked": "the token was revoked; ask for a new link",
}


async def require_reader(request: Request, opens: Callable[[Claim], Awaitable[bool]]) -> Claim | None:
    """Reads of one order, leader or room: the API key (→ None), an ops token, or a token that `opens` this
    subject (→ its claim). Anything else — no credential, a forged, expired or revoked token, a genuine token of
    another subject — is 401 (API.md)."""
    if has_api_key(request):
        return None
    checked = await ctx(request).check_token(presented_token(request))
    claim = checked.claim
    if claim is None:
        raise ApiError(401, "unauthorized", _REFUSED[checked.problem or "invalid"])
    if claim.role != "ops" and not await opens(claim):
        raise ApiError(401, "unauthorized", "this token does not open this subject")
    return claim


async def screen_claim(request: Request) -> Claim | None:
    """The claim of the screen token a page sends as its bearer (None for an API key or nothing); an expired or
    revoked token is 401."""
    token = bearer(request)
    if not token:
        return None
    checked = await ctx(request).check_token(token)
    if checked.problem in ("expired", "revoked"):
        raise ApiError(401, "unauthorized", _REFUSED[checked.problem])
    return checked.claim


async def require_key_or_screen(request: Request, role: str,
                                allows: Callable[[str], Awaitable[bool]] | None = None) -> None:
    """Writes a screen makes itself: the API key, or the token of a `role` screen whose subject `allows` this
    change (the host replenishes and switches presale for its room's SKUs; ops marks warehouses down or up)."""
    if has_api_key(request):
        return
    claim = await screen_claim(request)
    if claim is None:
        require_api_key(request)  # 401 without any credential, 403 with a wrong one
        return
    if claim.role != role or (allows is not None and not await allows(claim.subject)):
        raise ApiError(403, "forbidden", "this screen's token may not make this change")
