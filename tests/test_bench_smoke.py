"""The benchmarks work: each one, at the smallest size that still exercises it, produces its figure.

Behaviour, not speed — the figures of a run this small mean nothing, but every part that `make bench` relies
on runs for real here: servers in their own processes, client processes, WebSocket and HTTP clients, the
baseline apps, the JSON the run writes.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # bench/ is not an installed package: it runs from the checkout
    sys.path.insert(0, str(ROOT))

from bench import __main__ as bench_main  # noqa: E402
from bench import common, fanout, flash_sale, ingest, latency, memory, rebuild, scaleout, screen_bytes  # noqa: E402
from bench.services import Unavailable  # noqa: E402


def a_number(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def test_ingest_counts_committed_orders_next_to_the_bare_route_both_on_uvloop_and_httptools() -> None:
    common.STARTED.clear()
    result = ingest.run(duration=0.8, warmup=0.2, workers=4, leaders=5, compare_client_procs=False)
    assert result["ingest_orders_per_s"] > 0 and result["ingest_baseline_per_s"] > 0
    assert set(result["details"]["ingest"]["statuses"]) == {201}, result["details"]["ingest"]["error_samples"]
    # The poisoned slices: every 20th order refused (one of three ways), the others committed.
    poisoned = result["details"]["poisoned"]
    assert a_number(result["ingest_poisoned_ratio"]) and poisoned["poisoned_statuses"][201] > 0
    assert set(poisoned["statuses"]) == {201}
    assert bench_main.stacks("ingest", common.STARTED) == {
        "ingest": {"loop": "uvloop", "http": "httptools"},
        "ingest_baseline": {"loop": "uvloop", "http": "httptools"},
    }


def test_order_to_screen_is_timed_from_the_post_to_the_feed_frame() -> None:
    result = latency.run(audience=10, probes=1, rate=20, warmup=0.2, duration=1.0, drain=0.5, leaders=5)
    assert 0 < result["order_to_screen_ms_p50"] <= result["order_to_screen_ms_p99"]
    assert result["details"]["missing"] == 0 and result["details"]["orders_measured"] > 0
    assert result["details"]["audience_frames"] > 0


def test_fanout_counts_frames_received_from_the_hub_and_from_the_bare_loop() -> None:
    result = fanout.run(clients=10, client_procs=1, warmup=0.3, duration=1.0, orders=5)
    assert result["fanout_frames_per_s"] > 0 and result["fanout_baseline_frames_per_s"] > 0
    assert result["details"]["hub"]["connections"] == result["details"]["baseline"]["connections"] == 10


def test_screen_bytes_count_what_each_kind_of_screen_receives_while_orders_flow() -> None:
    result = screen_bytes.run(leaders=5, hosts=1, ops=1, buyers=1, rate=20, warmup=0.3, duration=1.5)
    assert result["leader_screen_kib_per_s"] > 0 and result["host_screen_kib_per_s"] > 0
    screens = result["details"]["screens"]
    assert screens["leader"]["connections"] == 5 and screens["host"]["frames_per_s"] > 0
    assert set(result["details"]["statuses"]) == {201}


def test_memory_per_idle_connection_is_measured_on_the_server_process() -> None:
    result = memory.run(clients=20, warm_clients=2, client_procs=1, settle=0.2, leaders=5)
    assert a_number(result["ws_kib_per_idle_connection"])
    assert result["details"]["connections"] == 20 and result["details"]["rss_after_kib"] > 0


def test_rebuild_time_is_scaled_to_a_hundred_thousand_orders() -> None:
    result = rebuild.run(orders=300)
    assert result["rebuild_s_per_100k_orders"] > 0
    assert result["details"]["applied"] == result["details"]["outbox_rows"] > 300


def test_a_flash_sale_sells_exactly_the_units_in_stock() -> None:
    result = flash_sale.run(buyers=120, client_procs=1)
    assert result["oversold_units"] == 0
    details = result["details"]
    assert details["accepted_units"] == details["reserved_units"] == details["stock_units"] == 100
    assert details["buyers"] == 120 and any(k.startswith("409") for k in details["statuses"])


def test_the_run_writes_exactly_the_figures_the_issue_names(tmp_path: Path) -> None:
    assert bench_main.main(["--quick", "--only", "flash", "--out", str(tmp_path)]) == 0
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert set(latest) == {*bench_main.KEYS, "machine", "run_at", "stack"}
    assert latest["oversold_units"] == 0 and latest["ingest_orders_per_s"] is None
    assert latest["stack"] == {"flash": {"loop": "uvloop", "http": "httptools"}}
    assert set(latest["machine"]) == {"nproc", "python"}
    assert "| `oversold_units` | 0 |" in (tmp_path / "latest.md").read_text()


def test_scaleout_measures_the_share_of_time_rows_shared_by_rooms_are_held_and_the_ceiling_it_implies() -> None:
    try:
        result = scaleout.run(duration=0.8, warmup=0.3, workers=6, leaders=5, counts=(1, 2), durable=False, rooms=2)
    except Unavailable as why:
        pytest.skip(f"scale-out bench skipped: {why}")
    share, ceiling = result["scaleout_lock_share"], result["scaleout_ceiling_processes"]
    assert 0 < share <= 1 and ceiling == round(1 / share, 1) >= 1
    assert result["scaleout_orders_per_s_1"] > 0 and result["scaleout_orders_per_s_2"] > 0
    runs = result["details"]["runs"]
    one, two = runs["1"], runs["2"]
    assert set(one["statuses"]) == set(two["statuses"]) == {201}, (one["error_samples"], two["error_samples"])
    assert share == round(one["held_s"] / one["wall_s"], 3)  # the one-process run defines the share
    assert len(two["per_process"]) == 2  # both processes wrote, each counted on its own
    for process in [*one["per_process"], *two["per_process"]]:
        assert process["transactions"] > 0 and process["wait_s"] >= 0
        assert 0 < process["held_s"] <= process["room_held_s"]  # the shared-row tail lies inside the room's span
        # (busy is counted when a batch ends, so a window of under a second may count a batch begun before it)
        assert process["sequencer_held_s"] > 0 and process["busy_s"] > 0
    assert two["lock_utilization"] > 0 and two["sequencer_utilization"] > 0


def test_a_partial_run_keeps_the_other_figures_of_the_last_run(tmp_path: Path) -> None:
    (tmp_path / "latest.json").write_text(json.dumps({"ingest_orders_per_s": 1234.5, "oversold_units": 7}))
    (tmp_path / "details.json").write_text(json.dumps({"run_at": "earlier", "ingest": {"per_s": 1234.5}}))
    assert bench_main.main(["--quick", "--only", "flash", "--out", str(tmp_path)]) == 0
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["ingest_orders_per_s"] == 1234.5 and latest["oversold_units"] == 0
    assert latest["scaleout_lock_share"] is None  # never measured there
    details = json.loads((tmp_path / "details.json").read_text())
    assert details["ingest"]["measured_at"] == "earlier"
