"""The ingest baseline: a bare Starlette route on uvicorn that parses the same JSON and answers 201.

Same server stack and options as `liveroom serve` (uvicorn on uvloop with the httptools parser, no access log),
none of the work: no validation, no rules, no database. `python -m bench.baseline_app --port P`. Its /healthz
says which loop and parser it really runs on (bench/common.py `STACK`, `running_stack`), as liveroom's does.
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.common import STACK, keep_send, running_stack


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True, "fast_paths": running_stack(request)})


async def place_order(request: Request) -> Response:
    body = await request.json()
    return JSONResponse({"order": body["order"], "status": "accepted"}, status_code=201)


app = Starlette(routes=[Route("/healthz", healthz), Route("/api/v1/orders", place_order, methods=["POST"])])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(keep_send(app), host=args.host, port=args.port, log_level="warning", access_log=False,
                ws_per_message_deflate=False, ws_max_size=64 * 1024, **STACK)


if __name__ == "__main__":
    main()
