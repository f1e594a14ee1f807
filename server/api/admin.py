"""Operations on demand (API.md): `POST /api/v1/admin/settle` runs the scheduler's job now;
`POST /api/v1/admin/tokens/revoke` `{role, subject}` stops every token of that subject minted before the call."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, StringConstraints, ValidationInfo, field_validator
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import revocations
from server.api.common import ID_PATTERN, Body, When, ctx, parse, read_body, require_api_key
from server.api.errors import json_response
from server.services.settlement import settle_all


class SettleBody(Body):
    as_of: When | None = None


async def _optional_body(request: Request) -> SettleBody:
    """The body may be left out entirely (settle as of now); when present it is parsed like any other."""
    raw = await read_body(request, ctx(request).settings.max_body_bytes)
    if not raw.strip():
        return SettleBody()

    async def replay() -> dict[str, Any]:
        return {"type": "http.request", "body": raw, "more_body": False}

    return await parse(Request(request.scope, replay), SettleBody)


async def settle(request: Request) -> Response:
    """Run the settlement job now (or as of `as_of`): settle due commission, raise stuck parcels."""
    require_api_key(request)
    body = await _optional_body(request)
    app = ctx(request)
    return json_response(await settle_all(app.writer, body.as_of or app.clock()))


Subject = Annotated[str, StringConstraints(pattern=r"^(-|[A-Za-z0-9][A-Za-z0-9_.:\-]{0,63})$")]


def _pairs_in_schema(schema: dict[str, Any]) -> None:
    """The document says what the validator below checks: ops goes with "-", every other role with an id."""
    schema["oneOf"] = [
        {"properties": {"role": {"const": "ops"}, "subject": {"const": "-"}}},
        {"properties": {"role": {"enum": ["host", "leader", "order"]}, "subject": {"pattern": ID_PATTERN}}},
    ]


class RevokeBody(Body):
    model_config = ConfigDict(strict=True, frozen=True, json_schema_extra=_pairs_in_schema)

    role: Literal["host", "leader", "ops", "order"]
    subject: Subject  # a room, a leader id, "-" for ops, an order id

    @field_validator("subject")
    @classmethod
    def _ops_is_dash(cls, subject: str, info: ValidationInfo) -> str:
        if (info.data.get("role") == "ops") != (subject == "-"):
            raise ValueError("the ops role's subject is '-', and '-' is only the ops role's subject")
        return subject


async def revoke_tokens(request: Request) -> Response:
    """Every token of {role, subject} minted up to now stops working in every process, at once; tokens minted
    afterwards work. Answers {role, subject, revoked_at}."""
    require_api_key(request)
    body = await parse(request, RevokeBody)
    return json_response(await revocations.revoke(ctx(request).writer, body.role, body.subject))


routes = [
    Route("/api/v1/admin/settle", settle, methods=["POST"]),
    Route("/api/v1/admin/tokens/revoke", revoke_tokens, methods=["POST"]),
]

BODIES = {
    ("POST", "/api/v1/admin/settle"): SettleBody,
    ("POST", "/api/v1/admin/tokens/revoke"): RevokeBody,
}
