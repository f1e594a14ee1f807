"""GET /openapi.json: the API described from the same pydantic models that validate the requests."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.errors import json_response

ERROR = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"}},
}
_ERRORS = {
    "400": "malformed body",
    "401": "no API key (reads: nor a token that opens the subject; expired and revoked tokens open nothing)",
    "403": "wrong key or token",
    "404": "unknown id",
    "409": "conflict (sold out, id reused with another body)",
    "413": "body over 64 KiB",
    "422": "invalid field",
}


def _modules() -> list[Any]:
    from server.api import admin, carriers, catalog, orders, reads, visits

    return [catalog, visits, orders, carriers, reads, admin]


@cache
def document() -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR}
    for module in _modules():
        bodies: dict[tuple[str, str], type[BaseModel]] = getattr(module, "BODIES", {})
        for route in module.routes:
            for method in sorted((route.methods or set()) - {"HEAD"}):
                paths.setdefault(route.path, {})[method.lower()] = _operation(route, method, bodies, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "liveroom", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer",
                                            "description": "the API key, or (reads) a screen or tracking token"}},
        },
    }


def _operation(
    route: Route, method: str, bodies: dict[tuple[str, str], type[BaseModel]], schemas: dict[str, Any]
) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower()).strip('_')}",
        "summary": (route.endpoint.__doc__ or route.name or "").strip().splitlines()[0]
        if route.endpoint.__doc__
        else route.name,
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in re.findall(r"{(\w+)}", route.path)
        ],
        "responses": {
            "200": {"description": "OK"},
            **{
                code: {
                    "description": text,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
                for code, text in _ERRORS.items()
            },
        },
    }
    model = bodies.get((method, route.path))
    if model is not None:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model.__name__}"}}},
        }
    # Writes take the API key; reads of one order, leader or room the key or a token that opens that subject.
    operation["security"] = [{"apiKey": []}]
    return operation


async def openapi(_request: Request) -> Response:
    return json_response(document())


routes = [Route("/openapi.json", openapi, methods=["GET"])]
