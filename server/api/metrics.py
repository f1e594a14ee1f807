"""GET /metrics: Prometheus text format, behind the API key (API.md; the metrics are telemetry/metrics.py's)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server.api.common import require_api_key
from telemetry.metrics import exposition


async def metrics(request: Request) -> Response:
    """Prometheus metrics in the text exposition format.

    Orders accepted and refused, request latency per route, the writer's batches and commits, outbox, bus and
    event-loop lag, screens and frames, carrier pushes and waybill requests. With several processes
    (PROMETHEUS_MULTIPROC_DIR set) any one of them answers for all."""
    require_api_key(request)
    body, content_type = exposition()
    return Response(body, headers={"content-type": content_type, "cache-control": "no-store"})


routes = [Route("/metrics", metrics, methods=["GET"])]
