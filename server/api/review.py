"""The post-live review (API.md, "After the pulse"): GET /api/v1/rooms/{room}/review as JSON (default), one table as
CSV (`?format=csv&table=stock|fulfilment|exceptions|after_sales|carriers|skus`), or a spreadsheet with one sheet per
table (`?format=xlsx`). Opens to the API key and the ops token."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.review_tables import TABLES
from domain.tokens import Claim
from server.api.common import ctx, path_id, require_reader
from server.api.errors import ApiError, json_response
from server.services import review as review_service
from server.services.review_export import XLSX, csv_bytes, xlsx_bytes

FORMATS = ("json", "csv", "xlsx")


async def review(request: Request) -> Response:
    """A room's post-live review, rebuilt from the event log.

    Stocking per SKU and warehouse, fulfilment stage durations (p50/p90) and on-time rate per warehouse and carrier,
    exceptions (held orders, problem and stuck parcels, outages), after-sales rates, the carrier scorecard and each
    SKU's distribution fit. `format=csv` needs `table`; `format=xlsx` answers every table, one sheet each. API key or
    the ops token.
    """
    room = path_id(request, "room")

    async def opens(_claim: Claim) -> bool:
        return False  # ops only (require_reader lets ops through)

    await require_reader(request, opens)
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise ApiError(422, "invalid_field", "format must be json, csv or xlsx", "format")
    name = request.query_params.get("table")
    if (fmt == "csv" or name is not None) and name not in TABLES:
        raise ApiError(422, "invalid_field", f"table must be one of {', '.join(TABLES)}", "table")
    answer = await review_service.room_review(ctx(request), room)
    if fmt == "json":
        return json_response(answer)
    headers = {"Cache-Control": "no-store"}
    if fmt == "csv":
        assert name is not None
        headers["Content-Disposition"] = f'attachment; filename="review-{room}-{name}.csv"'
        return Response(csv_bytes(answer, name), media_type="text/csv; charset=utf-8", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="review-{room}.xlsx"'
    return Response(xlsx_bytes(answer), media_type=XLSX, headers=headers)


routes = [Route("/api/v1/rooms/{room}/review", review, methods=["GET"])]
BODIES: dict[tuple[str, str], type] = {}

QUERY = [
    {"name": "format", "in": "query", "required": False,
     "schema": {"type": "string", "enum": list(FORMATS), "default": "json"},
     "description": "json (the whole review), csv (one table, needs `table`), xlsx (one sheet per table)"},
    {"name": "table", "in": "query", "required": False, "schema": {"type": "string", "enum": list(TABLES)},
     "description": "the table a CSV answers"},
]


def docs() -> dict[tuple[str, str], Any]:
    from server.api import review_answers as r
    from server.api.openapi import READ, Doc

    return {("GET", "/api/v1/rooms/{room}/review"): Doc(
        {"200": r.Review}, READ, query=QUERY,
        also={"text/csv": {"type": "string"}, XLSX: {"type": "string", "contentMediaType": XLSX}})}
