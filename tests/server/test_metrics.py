"""GET /metrics (issue 15): the Prometheus text format, read back with prometheus_client's own parser, moves as the
product works — orders accepted and refused by reason, request latency by route template, the writer's batches and
commits, screens per topic kind and the frames they get, the lag gauges — behind the API key; and with several
processes (PROMETHEUS_MULTIPROC_DIR) one scrape adds up what every process counted."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import httpx
from live import LiveServer, SeedClient, live_server, serve_process, watch
from prometheus_client.parser import text_string_to_metric_families
from seed import API_KEY, order_body, seed_catalog

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """A sample's value (0 when absent); labels not given are summed over (e.g. `pid` in multiprocess mode)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


def label_values(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for (n, ls), _ in samples.items() if n == name and label in dict(ls)}


async def scrape(http: httpx.AsyncClient) -> Samples:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


async def test_a_placed_order_and_a_refused_one_move_the_counters_they_should(database_url: str) -> None:
    async with live_server(database_url) as live:
        await seed_catalog(SeedClient(live.http))
        before = await scrape(live.http)
        placed = await live.http.post("/api/v1/orders", json=order_body("o-m1", "v-m1", [("tea", 1)]))
        assert placed.status_code == 201, placed.text
        sold_out = await live.http.post("/api/v1/orders", json=order_body("o-m2", "v-m2", [("tea", 1000)]))
        assert sold_out.status_code == 409 and sold_out.json()["error"] == "sold_out", sold_out.text
        shapeless = await live.http.post("/api/v1/orders", json={"order": "o-m3"})
        assert shapeless.status_code == 422
        replay = await live.http.post("/api/v1/orders", json=order_body("o-m1", "v-m1", [("tea", 1)]))
        assert replay.status_code == 200  # the same order answered again: not a second acceptance
        after = await scrape(live.http)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("liveroom_orders_total", result="accepted", reason="") == 1
    assert moved("liveroom_orders_total", result="refused", reason="sold_out") == 1
    assert moved("liveroom_orders_total", result="refused", reason="validation") == 1
    route = {"method": "POST", "route": "/api/v1/orders"}
    assert moved("liveroom_http_request_duration_seconds_count", **route, status="201") == 1
    assert moved("liveroom_http_request_duration_seconds_count", **route, status="409") == 1
    assert moved("liveroom_http_request_duration_seconds_sum", **route) > 0
    assert moved("liveroom_writer_batch_size_count") >= 1 and moved("liveroom_writer_batch_size_sum") >= 1
    assert (
        moved("liveroom_writer_commit_seconds_count") >= 1 and moved("liveroom_writer_commit_seconds_sum") > 0
    )
    held, busy = moved("liveroom_writer_lock_held_seconds_total"), moved("liveroom_writer_busy_seconds_total")
    assert 0 < held <= busy and moved("liveroom_writer_lock_wait_seconds_total") > 0  # the lock's share of the writer


async def test_request_latency_is_labelled_by_route_template_never_by_raw_path(tmp_path: Path) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as live:
        await seed_catalog(SeedClient(live.http))
        for order in ("o-t1", "o-t2", "o-t3"):
            await live.http.get(f"/api/v1/orders/{order}")
        await live.http.get("/no/such/path/o-t4")
        samples = await scrape(live.http)
    routes = label_values(samples, "liveroom_http_request_duration_seconds_count", "route")
    assert "/api/v1/orders/{order}" in routes and "unmatched" in routes
    assert not any("o-t" in route for route in routes)
    assert (
        value(
            samples,
            "liveroom_http_request_duration_seconds_count",
            route="/api/v1/orders/{order}",
            method="GET",
            status="404",
        )
        >= 3
    )


async def test_a_screen_shows_in_hub_subscribers_by_topic_kind_and_counts_the_frames_it_gets(
    tmp_path: Path,
) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as live:
        await seed_catalog(SeedClient(live.http))
        before = await scrape(live.http)
        screen = await watch(live.ws_url, ["room:room-1:stock"], live.token("host", "room-1"))
        try:
            await screen.wait_for(lambda f: f["kind"] == "snapshot")
            placed = await live.http.post("/api/v1/orders", json=order_body("o-w1", "v-w1", [("tea", 1)]))
            assert placed.status_code == 201
            await screen.wait_for(lambda f: f["seq"] > screen.frames[0]["seq"])
            during = await scrape(live.http)
        finally:
            await screen.close()
        await _until(lambda: live.hub.connections == 0)
        after = await scrape(live.http)
    kind = {"kind": "room_stock"}
    assert (
        value(during, "liveroom_hub_subscribers", **kind)
        == value(before, "liveroom_hub_subscribers", **kind) + 1
    )
    assert value(after, "liveroom_hub_subscribers", **kind) == value(
        before, "liveroom_hub_subscribers", **kind
    )
    assert (
        value(during, "liveroom_frames_sent_total", **kind)
        >= value(before, "liveroom_frames_sent_total", **kind) + 2
    )
    assert value(during, "liveroom_frame_bytes_sent_total", **kind) > value(
        before, "liveroom_frame_bytes_sent_total", **kind
    )


async def test_each_process_reports_its_outbox_bus_and_event_loop_lag(tmp_path: Path) -> None:
    async with live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as live:
        await seed_catalog(SeedClient(live.http))
        process = f"pid-{os.getpid()}"
        deadline = time.monotonic() + 10
        while True:
            samples = await scrape(live.http)
            if {process} <= label_values(samples, "liveroom_event_loop_lag_seconds", "process") and {
                process
            } <= label_values(samples, "liveroom_outbox_lag_events", "process"):
                break
            assert time.monotonic() < deadline, "no lag samples within 10 s"
            await asyncio.sleep(0.2)
        newest, bus = await live.app.state.realtime.lag.sample()
    assert value(samples, "liveroom_outbox_lag_events", process=process) >= 0
    assert value(samples, "liveroom_bus_lag_seconds", process=process) >= 0
    assert (newest, bus) == (0, 0.0)  # idle and caught up: nothing committed is waiting


async def test_metrics_need_the_api_key(tmp_path: Path) -> None:
    async with (
        live_server(f"sqlite+aiosqlite:///{tmp_path / 'live.db'}") as live,
        httpx.AsyncClient(base_url=live.url) as anonymous,
    ):
        assert (await anonymous.get("/metrics")).status_code == 401
        wrong = await anonymous.get("/metrics", headers={"Authorization": "Bearer not-the-key"})
        assert wrong.status_code == 403 and "liveroom_orders_total" not in wrong.text


async def test_with_several_processes_one_scrape_adds_up_what_each_process_counted(
    database_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(shared)}
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with serve_process(database_url, env) as first, serve_process(database_url, env) as second:
        async with (
            httpx.AsyncClient(base_url=first, headers=headers, timeout=30) as a,
            httpx.AsyncClient(base_url=second, headers=headers, timeout=30) as b,
        ):
            await seed_catalog(SeedClient(a))
            for i, http in enumerate([a, a, b, b, b]):
                answer = await http.post(
                    "/api/v1/orders", json=order_body(f"o-p{i}", f"v-p{i}", [("tea", 1)])
                )
                assert answer.status_code == 201, answer.text
            refused = await b.post("/api/v1/orders", json=order_body("o-px", "v-px", [("tea", 1000)]))
            assert refused.status_code == 409
            deadline = time.monotonic() + 10
            while True:  # both processes' lag samplers have run at least once
                samples = await scrape(a)
                if len(label_values(samples, "liveroom_outbox_lag_events", "process")) >= 2:
                    break
                assert time.monotonic() < deadline, "the two processes' gauges did not both show"
                await asyncio.sleep(0.2)
            from_b = await scrape(b)
    for scraped in (samples, from_b):  # either process answers for both
        assert value(scraped, "liveroom_orders_total", result="accepted") == 5
        assert value(scraped, "liveroom_orders_total", result="refused", reason="sold_out") == 1
        assert (
            value(
                scraped,
                "liveroom_http_request_duration_seconds_count",
                method="POST",
                route="/api/v1/orders",
                status="201",
            )
            == 5
        )
    assert value(samples, "liveroom_writer_batch_size_sum") >= 5 + 1


async def _until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)


__all__ = ["LiveServer"]
