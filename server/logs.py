"""Logging that cannot flood the disk: the same message, over and over, is written a few times per window and then
summed up in one line.

"The same message" is its template, not its text: the logger's name, the format string before its arguments are
filled in, and the type of the exception it carries. A bad request repeated 10,000 times a second (uvicorn's
"Invalid HTTP request received.", one writer failure per poisoned order) is `limit` lines and, once the window
rolls, one "suppressed K similar messages" line; a different message still passes at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

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
