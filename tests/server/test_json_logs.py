"""Logs (issue 15): one JSON object per line (time, level, logger, message, request id, order where known); the
request id is the client's X-Request-ID when it is a sane one, else a made one, and comes back in the answer's
X-Request-ID header; `liveroom serve` writes JSON unless LIVEROOM_LOG_FORMAT=text (what `make demo` sets)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live import live_server
from realparts import free_port
from seed import API_KEY, SECRET
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from server import logs
from store.migrate import upgrade


async def _fails(request: Request) -> Response:
    raise RuntimeError(f"boom for {request.path_params['order']}")


FAILING = Route("/test/orders/{order}/fail", _fails, methods=["GET"])


async def test_a_request_id_sent_comes_back_and_is_on_the_log_line_written_for_that_request(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.setFormatter(logs.JsonFormatter())
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", extra_routes=[FAILING]) as live:
        answer = await live.http.get("/test/orders/o-77/fail", headers={"X-Request-ID": "trace-abc-123"})
    assert answer.status_code == 500 and answer.headers["x-request-id"] == "trace-abc-123"
    # Every line logged while serving the request carries its id (a writer's note can fall in that time too);
    # exactly one of them is the failure.
    carried = [json.loads(line) for line in caplog.text.splitlines() if "trace-abc-123" in line]
    assert carried and all(line["request_id"] == "trace-abc-123" for line in carried)
    lines = [line for line in carried if line["level"] == "ERROR"]
    assert len(lines) == 1
    [line] = lines
    assert line["request_id"] == "trace-abc-123" and line["order"] == "o-77"  # the route's {order}
    assert line["level"] == "ERROR" and line["logger"].startswith("liveroom") and "500" in line["message"]
    assert "RuntimeError: boom for o-77" in line["exception"] and line["time"].endswith("+00:00")


async def test_a_request_without_a_usable_id_gets_a_made_one_each(tmp_path: Path) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as live:
        plain = [(await live.http.get("/healthz")).headers["x-request-id"] for _ in range(2)]
        too_long = (await live.http.get("/healthz", headers={"X-Request-ID": "x" * 101})).headers[
            "x-request-id"
        ]
        unprintable = (await live.http.get("/healthz", headers={"X-Request-ID": "a b"})).headers[
            "x-request-id"
        ]
        refused = await live.http.get("/api/v1/orders/o-none", headers={"X-Request-ID": "r-404"})
    made = [*plain, too_long, unprintable]
    assert all(len(rid) == 32 and int(rid, 16) >= 0 for rid in made) and len(set(made)) == 4
    assert refused.status_code == 404 and refused.headers["x-request-id"] == "r-404"  # refusals carry it too


def test_a_log_line_names_the_order_the_request_bound_and_is_one_json_object() -> None:
    record = logging.LogRecord(
        "liveroom.writer", logging.WARNING, __file__, 1, "two\nlines %s", ("here",), None
    )
    token = logs.begin_request("rid-1")
    try:
        logs.bind(order="o-9", leader="lead-a")
        text = logs.JsonFormatter().format(record)
    finally:
        logs.end_request(token)
    assert "\n" not in text
    assert json.loads(text) == {
        "time": json.loads(text)["time"],
        "level": "WARNING",
        "logger": "liveroom.writer",
        "message": "two\nlines here",
        "request_id": "rid-1",
        "order": "o-9",
        "leader": "lead-a",
    }
    outside = json.loads(logs.JsonFormatter().format(record))
    assert "request_id" not in outside and "order" not in outside


@contextlib.contextmanager
def _serve(database_url: str, log_format: str | None, log_path: Path) -> Iterator[str]:
    """`liveroom serve --log-level info`, its stderr in `log_path` (read it once the server stopped)."""
    upgrade(database_url)
    port = free_port()
    env = {
        **os.environ,
        "LIVEROOM_DATABASE_URL": database_url,
        "LIVEROOM_API_KEY": API_KEY,
        "LIVEROOM_SECRET": SECRET,
        "LIVEROOM_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    env.pop("LIVEROOM_LOG_FORMAT", None)
    if log_format is not None:
        env["LIVEROOM_LOG_FORMAT"] = log_format
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "liveroom.cli", "serve", "--port", str(port), "--log-level", "info"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                assert process.poll() is None, log_path.read_text()
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                        break
                assert time.monotonic() < deadline, "liveroom serve did not answer /healthz within 30 s"
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=15)


def test_liveroom_serve_writes_every_log_line_as_one_json_object_by_default(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with _serve(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", None, log) as url:
        answer = httpx.get(url + "/healthz", headers={"X-Request-ID": "probe-1"})
        assert answer.headers["x-request-id"] == "probe-1"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert any("Application startup complete" in line["message"] for line in lines)


def test_the_demo_s_text_format_is_plain_lines(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    with _serve(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}", "text", log):
        pass
    text = log.read_text().splitlines()
    assert any("Application startup complete" in line for line in text)
    assert not any(line.startswith("{") for line in text)
