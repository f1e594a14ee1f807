"""The Starlette application factory: routes, error handlers, and the process's long-lived parts."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from domain.errors import DomainError
from realtime import ws
from realtime.runtime import Realtime, ScreenLimits
from realtime.wire import SCOPE_KEY, RawSend
from server import logs
from server.api import errors
from server.api.errors import json_response
from server.api.internal_errors import InternalErrors
from server.api.screens import ScreenActions
from server.clock import system_clock
from server.context import AppContext
from server.gateways import Gateway
from server.observe import Observe
from server.serving import event_loop, http_parser
from server.settings import Settings
from store.backup import live_lock
from store.engine import create_engine, inline_sqlite_active
from store.instance import resolve_secrets
from store.sql import precompiled_insert_works
from store.uow import Envelope, Writer
from telemetry import metrics
from web import actions, pages
from web.frames import render_frame

Hook = Callable[[AppContext], Any]


def api_routes() -> list[BaseRoute]:
    from server.api import openapi

    # The routers are listed once, in the order they match, by the document that describes them.
    return [*(route for module in openapi.modules() for route in module.routes), *openapi.routes]


async def healthz(request: Request) -> Response:
    app: AppContext = request.app.state.ctx
    realtime = getattr(request.app.state, "realtime", None)
    return json_response(
        {
            "ok": True,
            "database": app.engine.dialect.name,
            "writer_batches": app.writer.batches,
            "writer_commands": app.writer.commands,
            "fast_paths": fast_paths(request, app, realtime),
        }
    )


def fast_paths(request: Request, app: AppContext, realtime: Realtime | None) -> dict[str, Any]:
    """Whether each speed trick that reads a library's internals is in force, read off the live objects (the
    versions are pinned in pyproject.toml; tests/server/test_fast_paths.py fails if one switched off):
    direct_writes — the hub writes frames straight to uvicorn's transport (None until a screen attached);
    inline_sqlite — SQLite runs on the loop's thread (None on PostgreSQL); precompiled_insert — the writer's
    executemany skips the statement compiler; http_parser — "httptools" or "h11"; event_loop — "uvloop" or
    "asyncio"."""
    return {
        "direct_writes": realtime.hub.direct_writes if realtime is not None else None,
        "inline_sqlite": inline_sqlite_active(app.engine),
        "precompiled_insert": precompiled_insert_works(app.engine.dialect),
        "http_parser": http_parser(request.scope.get(SCOPE_KEY)),
        "event_loop": event_loop(),
    }


async def _client_gone(request: Request, exc: Exception) -> Response:
    """The client went away (or was cut at the body timeout, server/serving.py) while its body was being read:
    nobody is left to answer, and it is no server error worth a traceback."""
    return json_response({"error": "request_timeout", "detail": "the request body did not arrive"}, status=408)


def _settle_garbage_collector() -> None:
    """Everything alive once started (modules, catalogs, projections) is moved out of the collector's sight, and
    young collections run every 10,000 allocations instead of 700. Measured under an order burst: full
    collections went from ~110 ms each (1.4 s in 10 s) to ~25 ms, and a group-commit batch no longer promotes
    its short-lived rows to the old generation mid-batch."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 10, 10)


async def _start_waybill_worker(app: Starlette, context: AppContext, gateway: Gateway | None, run: bool,
                                stops: list[Any]) -> None:
    """With a carrier gateway (not sandbox): the process's waybill worker, woken by every commit that queues a
    request for it (issue 14; server/services/waybill_worker.py)."""
    if context.settings.carrier_gateway == "sandbox" and gateway is None:
        return
    from domain.gateway_rules import Breaker
    from server.gateways.build import make_gateway
    from server.services.waybill_worker import Tuning, WaybillWorker

    chosen = gateway or make_gateway(context.settings)
    if chosen is None:
        return
    settings = context.settings
    worker = WaybillWorker(context, chosen, tuning=Tuning(lease_s=settings.waybill_lease_s,
                                                          breaker=Breaker(cool_down_s=settings.gateway_cool_down_s)))
    app.state.waybill_worker = worker
    relay = context.writer.on_commit

    def on_commit(envelopes: list[Envelope]) -> None:
        if relay is not None:
            relay(envelopes)
        worker.on_commit(envelopes)

    context.writer.on_commit = on_commit
    if run:
        worker.start()

    async def stop() -> None:
        await worker.stop()
        await chosen.aclose()

    stops.append(stop)


class LiveroomApp(Starlette):
    """Starlette with realtime/wire.py's RawSend around everything, Starlette's error middleware included: it
    must see the server's own `send` (the hub's direct writes, /healthz's parser). Inside it, server/observe.py's
    Observe (request ids, request latency) sees every answer, a 500 included."""

    def build_middleware_stack(self) -> Any:
        # A screen's WebSocket goes straight from Observe to its endpoint (realtime/ws.py, Screens): light while idle.
        return RawSend(Observe(ws.Screens(super().build_middleware_stack())))


def create_app(
    settings: Settings | None = None,
    *,
    clock: Callable[[], datetime] = system_clock,
    extra_routes: Sequence[BaseRoute] = (),
    on_start: Sequence[Hook] = (),
    run_scheduler: bool = True,
    gateway: Gateway | None = None,
    run_waybill_worker: bool = True,
) -> Starlette:
    """Build the app. Database, writer and background tasks start in the lifespan and stop with it.

    `gateway`: the carrier gateway the waybill worker talks to (default: the one the settings name,
    server/gateways/build.py); `run_waybill_worker=False` leaves the worker to be run by hand (tests)."""
    settings = settings or Settings.from_env()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Here, not at import: uvicorn configures logging before the lifespan runs and would replace our filters.
        logs.install()
        settings.check_gateway()  # a carrier gateway without a setting it needs fails here, naming the setting
        # SQLite: a shared lock on `<db>.lock` for the process's lifetime; `liveroom restore` refuses while held.
        lock = live_lock(settings.database_url)
        engine = create_engine(settings.database_url)
        resolved = await resolve_secrets(engine, settings)
        writer = Writer(engine, clock, parallel=settings.room_parallel)
        context = AppContext(resolved, engine, writer, clock)
        app.state.ctx = context
        app.state.screen_actions = ScreenActions(context)
        writer.start()
        stops: list[Any] = []
        started: Realtime | None = None
        try:
            realtime = Realtime(engine, clock, redis_url=resolved.redis_url, tick_ms=resolved.tick_ms,
                                html=render_frame, check=context.check_token,
                                allowed_origins=resolved.allowed_origins,
                                screen_limits=ScreenLimits(resolved.ws_per_token, resolved.ws_per_address,
                                                           resolved.ws_stall_s, resolved.ws_message_budget,
                                                           resolved.ws_message_window_s),
                                at_risk_hours=resolved.at_risk_hours)
            writer.on_commit = await realtime.start()
            started = app.state.realtime = realtime
            await _start_waybill_worker(app, context, gateway, run_waybill_worker, stops)
            if run_scheduler:
                from realtime.projections.retention import read_by_load
                from server.services.scheduler import Scheduler

                scheduler = Scheduler(context, keep=read_by_load)
                scheduler.start()
                stops.append(scheduler.stop)
            for hook in on_start:
                stop = await hook(context)
                if stop is not None:
                    stops.append(stop)
            logs.install()  # again, for the loggers of modules the start-up imported
            _settle_garbage_collector()
            yield
        finally:
            # Those that submit writes stop first; the writer then commits what it holds and answers its callers;
            # realtime stops last, so the relay still publishes those last commits to the other processes.
            for stop in reversed(stops):
                await stop()
            await writer.stop()
            if started is not None:
                await started.stop()
            await engine.dispose()
            metrics.process_stopped()  # its gauges leave the aggregate of the processes (multiprocess mode)
            if lock is not None:
                lock.close()

    app = LiveroomApp(
        routes=[Route("/healthz", healthz), *api_routes(), *ws.routes, *actions.routes, *pages.routes,
                *extra_routes],
        lifespan=lifespan,
        # InternalErrors must be inside Starlette's ServerErrorMiddleware (RawSend is outside it: LiveroomApp).
        middleware=[Middleware(InternalErrors)],
        exception_handlers={
            errors.ApiError: errors.handle_api_error,
            DomainError: errors.handle_domain_error,
            ValidationError: errors.handle_validation_error,
            HTTPException: errors.handle_http_exception,
            ClientDisconnect: _client_gone,
        },
    )
    return app
