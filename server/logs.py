"""Logging that cannot flood the disk, one JSON object per line (or text, for `make demo`), with the request each
line belongs to.

Flooding: the same message, over and over, is written a few times per window and then summed up in one line.

"The same message" is its template, not its text: the logger's name, the format string before its arguments are
filled in, and the type of the exception it carries. A bad request repeated 10,000 times a second (uvicorn's
"Invalid HTTP request received.", one writer failure per poisoned order) is `limit` lines and, once the window
rolls, one "suppressed K similar messages" line; a different message still passes at once.

Lines: with LIVEROOM_LOG_FORMAT=json (the default of `liveroom serve`) each record is one JSON object (time, level,
logger, message, request_id, order and leader where known); the request id is the client's X-Request-ID or a made
one, carried in a context variable from server/observe.py's middleware to every line written for the request.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextvars import ContextVar, Token
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# What the app installs the filter on: liveroom's own loggers, and the one uvicorn logs bad requests to.
LOGGER_PREFIX = "liveroom"
SERVER_LOGGERS = ("uvicorn.error",)
_SUMMARY = "_liveroom_rate_summary"  # set on the summary lines this filter writes itself, which always pass

Key = tuple[str, str, str | None]


@dataclass
class _Window:
    started: float
    passed: int = 0
    suppressed: int = 0
    levelno: int = logging.WARNING


class RateLimit(logging.Filter):
    """Lets each message template through at most `limit` times per `window` seconds (of `clock`).

    Suppressed records are counted; when their template's window has rolled (noticed at the next record any logger
    it is installed on handles), one line says how many were left out. At most `max_keys` templates are tracked:
    the oldest window is closed early when more appear."""

    def __init__(
        self,
        limit: int = 5,
        window: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 1024,
    ) -> None:
        super().__init__()
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._windows: OrderedDict[Key, _Window] = OrderedDict()  # oldest window first
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _SUMMARY, False):
            return True
        error = record.exc_info[1] if record.exc_info else None
        key: Key = (record.name, str(record.msg), type(error).__qualname__ if error is not None else None)
        now = self.clock()
        with self._lock:
            closed = self._close_rolled(now)
            window = self._windows.get(key)
            if window is None:
                window = self._windows[key] = _Window(now)
            window.levelno = max(window.levelno, record.levelno)
            allowed = window.passed < self.limit
            if allowed:
                window.passed += 1
            else:
                window.suppressed += 1
        _summarize(closed, self.window)
        return allowed

    def flush(self) -> None:
        """Write the summary of every window still holding suppressed records (at shutdown, or in a test)."""
        with self._lock:
            closed = [(key, w) for key, w in self._windows.items() if w.suppressed]
            self._windows.clear()
        _summarize(closed, self.window)

    def _close_rolled(self, now: float) -> list[tuple[Key, _Window]]:
        closed: list[tuple[Key, _Window]] = []
        while self._windows:
            key, oldest = next(iter(self._windows.items()))
            if now - oldest.started < self.window and len(self._windows) < self.max_keys:
                break
            del self._windows[key]
            if oldest.suppressed:
                closed.append((key, oldest))
        return closed


def _summarize(closed: Iterable[tuple[Key, _Window]], window: float) -> None:
    for (name, template, error), counts in closed:
        logger = logging.getLogger(name)
        what = f"{template!r}" + (f" ({error})" if error else "")
        record = logger.makeRecord(
            name,
            counts.levelno,
            __file__,
            0,
            "suppressed %d similar messages in %.0f s: %s",
            (counts.suppressed, window, what),
            None,
        )
        setattr(record, _SUMMARY, True)
        logger.handle(record)


_installed = RateLimit()


def install(rate_limit: RateLimit | None = None) -> RateLimit:
    """Put one rate limit on liveroom's loggers (every `liveroom.*` logger created so far) and on uvicorn's error
    logger. Idempotent: a logger that already has a `RateLimit` keeps it. A filter on a logger only sees records
    logged to that very logger, hence each one gets it; call again once later modules have created theirs."""
    limit = rate_limit or _installed
    manager = logging.Logger.manager
    names = [
        name
        for name, logger in list(manager.loggerDict.items())
        if isinstance(logger, logging.Logger) and (name == LOGGER_PREFIX or name.startswith(LOGGER_PREFIX + "."))
    ]
    for name in {LOGGER_PREFIX, *names, *SERVER_LOGGERS}:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RateLimit) for f in logger.filters):
            logger.addFilter(limit)
    return limit


# --- one JSON object per line, with the request it belongs to ----------------------------------------------------

LOG_FORMAT_ENV = "LIVEROOM_LOG_FORMAT"  # "json" (the default of `liveroom serve`) or "text" (`make demo`)
REQUEST_ID_HEADER = "x-request-id"
MAX_REQUEST_ID = 100
_CONTEXT_KEYS = ("order", "leader")  # named in a line when the request (path or body) or the record names them


@dataclass(slots=True)
class RequestContext:
    """The request a log line is written for: its id, what the handler bound (`bind`), its ASGI scope (whose path
    parameters, once routed, name the order or leader of routes like /api/v1/orders/{order})."""

    request_id: str
    scope: Any = None
    fields: dict[str, str] | None = None


_request: ContextVar[RequestContext | None] = ContextVar("liveroom_request", default=None)


def request_id(presented: str | None) -> str:
    """The client's X-Request-ID when it is printable ASCII of 1 to 100 characters, else a fresh uuid4 hex."""
    if presented and len(presented) <= MAX_REQUEST_ID and all(" " < c <= "~" for c in presented):
        return presented
    return uuid.uuid4().hex


def begin_request(rid: str, scope: Any = None) -> Token[RequestContext | None]:
    return _request.set(RequestContext(rid, scope))


def end_request(token: Token[RequestContext | None]) -> None:
    _request.reset(token)


def current_request_id() -> str | None:
    context = _request.get()
    return context.request_id if context is not None else None


def bind(**fields: str) -> None:
    """Name what this request is about (order=..., leader=...) in the log lines written while it is handled."""
    context = _request.get()
    if context is not None:
        context.fields = {**(context.fields or {}), **fields}


def _context_fields(record: logging.LogRecord) -> dict[str, str]:
    found: dict[str, str] = {}
    context = _request.get()
    if context is not None:
        found["request_id"] = context.request_id
        params = context.scope.get("path_params") if isinstance(context.scope, dict) else None
        for key in _CONTEXT_KEYS:
            value = (context.fields or {}).get(key) or (params or {}).get(key)
            if value:
                found[key] = str(value)
    for key in ("request_id", *_CONTEXT_KEYS):  # logger.x(..., extra={"order": ...}) names it too
        value = getattr(record, key, None)
        if value:
            found[key] = str(value)
    return found


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO-8601), level, logger, message, and request_id / order / leader
    where known; a traceback goes in `exception`, on the same line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_context_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def log_format(env: dict[str, str] | None = None) -> str:
    """LIVEROOM_LOG_FORMAT: "json" unless it says "text"."""
    value = (os.environ if env is None else env).get(LOG_FORMAT_ENV, "json").strip().lower()
    return "text" if value == "text" else "json"


def config(fmt: str = "json", level: str = "info") -> dict[str, Any]:
    """The logging configuration `liveroom serve` gives uvicorn (its `log_config`): every logger — liveroom's, the
    root, uvicorn's — writes to stderr in `fmt` at `level`."""
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    level = level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"liveroom": formatter},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "liveroom",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
        "root": {"handlers": ["stderr"], "level": level},
    }
