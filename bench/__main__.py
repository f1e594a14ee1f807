"""`make bench` → `.venv/bin/python -m bench`: every benchmark once, next to its baseline, on this machine.

Prints a row per figure as soon as it is measured, writes bench/results/latest.json (exactly the figures the issue
names, plus `machine` and `run_at`), bench/results/details.json (how each figure came about: statuses, client
and server CPU, spreads) and bench/results/latest.md (the README table), and prints that table at the end.

    python -m bench                     # everything, full size (a few minutes)
    python -m bench --only ingest,flash # some of them
    python -m bench --quick             # tiny sizes: proves the machinery, the figures mean nothing
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import STARTED, machine

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = (
    "ingest_orders_per_s",
    "ingest_baseline_per_s",
    "ingest_poisoned_ratio",
    "order_to_screen_ms_p50",
    "order_to_screen_ms_p99",
    "fanout_frames_per_s",
    "fanout_baseline_frames_per_s",
    "ws_kib_per_idle_connection",
    "rebuild_s_per_100k_orders",
    "oversold_units",
    "scaleout_orders_per_s_1",
    "scaleout_orders_per_s_2",
    "scaleout_orders_per_s_3",
    "scaleout_lock_share",
    "scaleout_ceiling_processes",
    "leader_screen_kib_per_s",
    "host_screen_kib_per_s",
)


@dataclass(frozen=True)
class Row:
    key: str
    target: str
    met: Callable[[float, float | None], bool] | None
    baseline: str | None = None


ROWS = (
    # Targets of issue 16 (the baselines on uvloop + httptools, as liveroom).
    Row("ingest_orders_per_s", "≥ 0.25 × baseline", lambda v, b: b is not None and v >= 0.25 * b,
        "ingest_baseline_per_s"),
    Row("ingest_poisoned_ratio", "≥ 0.9", lambda v, _: v >= 0.9),
    Row("order_to_screen_ms_p50", "—", None),
    Row("order_to_screen_ms_p99", "≤ 100 ms", lambda v, _: v <= 100),
    Row("fanout_frames_per_s", "≥ 1.5 × baseline", lambda v, b: b is not None and v >= 1.5 * b,
        "fanout_baseline_frames_per_s"),
    Row("ws_kib_per_idle_connection", "≤ 20 KiB", lambda v, _: v <= 20),
    Row("rebuild_s_per_100k_orders", "≤ 1 s", lambda v, _: v <= 1),  # 1,000 leaders (bench/rebuild.py)
    Row("oversold_units", "= 0", lambda v, _: v == 0),
    # PostgreSQL, N processes (bench/scaleout.py); the baseline of 2 and 3 processes is one process.
    Row("scaleout_orders_per_s_1", "—", None),
    Row("scaleout_orders_per_s_2", "—", None, "scaleout_orders_per_s_1"),
    Row("scaleout_orders_per_s_3", "—", None, "scaleout_orders_per_s_1"),
    Row("scaleout_lock_share", "—", None),
    Row("scaleout_ceiling_processes", "≥ 8 processes", lambda v, _: v >= 8),
    # HTML screens as the pages open them, 200 orders/s room-wide (bench/screen_bytes.py; issue 16).
    Row("leader_screen_kib_per_s", "≤ 10 KiB/s", lambda v, _: v <= 10),
    Row("host_screen_kib_per_s", "≤ 40 KiB/s", lambda v, _: v <= 40),
)


def _benchmarks(quick: bool) -> dict[str, tuple[Callable[[], dict[str, Any]], tuple[str, ...]]]:
    from bench import fanout, flash_sale, ingest, latency, memory, rebuild, scaleout, screen_bytes

    scaleout_keys = ("scaleout_orders_per_s_1", "scaleout_orders_per_s_2", "scaleout_orders_per_s_3",
                     "scaleout_lock_share", "scaleout_ceiling_processes")
    screen_keys = ("leader_screen_kib_per_s", "host_screen_kib_per_s")

    if quick:
        return {
            "rebuild": (lambda: rebuild.run(orders=2_000), ("rebuild_s_per_100k_orders",)),
            "flash": (lambda: flash_sale.run(buyers=200), ("oversold_units",)),
            "memory": (lambda: memory.run(clients=200, warm_clients=10, leaders=30),
                       ("ws_kib_per_idle_connection",)),
            "ingest": (lambda: ingest.run(duration=2, warmup=0.5, workers=16, leaders=30),
                       ("ingest_orders_per_s", "ingest_baseline_per_s", "ingest_poisoned_ratio")),
            "latency": (lambda: latency.run(audience=100, probes=2, rate=50, warmup=0.5, duration=2, drain=1,
                                            leaders=30), ("order_to_screen_ms_p50", "order_to_screen_ms_p99")),
            "fanout": (lambda: fanout.run(clients=200, warmup=0.5, duration=2, orders=20),
                       ("fanout_frames_per_s", "fanout_baseline_frames_per_s")),
            "scaleout": (lambda: scaleout.run(duration=1, warmup=0.3, workers=8, leaders=10, durable=False, rooms=2),
                         scaleout_keys),
            "screens": (lambda: screen_bytes.run(leaders=10, hosts=1, ops=1, buyers=1, rate=50, warmup=0.5,
                                                 duration=2), screen_keys),
        }
    return {
        "rebuild": (rebuild.run, ("rebuild_s_per_100k_orders",)),
        "flash": (flash_sale.run, ("oversold_units",)),
        "memory": (memory.run, ("ws_kib_per_idle_connection",)),
        "ingest": (ingest.run, ("ingest_orders_per_s", "ingest_baseline_per_s", "ingest_poisoned_ratio")),
        "latency": (latency.run, ("order_to_screen_ms_p50", "order_to_screen_ms_p99")),
        "fanout": (fanout.run, ("fanout_frames_per_s", "fanout_baseline_frames_per_s")),
        "scaleout": (scaleout.run, scaleout_keys),
        "screens": (screen_bytes.run, screen_keys),
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def row_cells(row: Row, figures: dict[str, Any]) -> list[str]:
    value = figures.get(row.key)
    baseline = figures.get(row.baseline) if row.baseline else None
    ratio = f"{value / baseline:.2f}" if isinstance(value, int | float) and baseline else "—"
    if value is None:
        met = "not measured"
    elif row.met is None:
        met = "—"
    else:
        met = "yes" if row.met(value, baseline) else "NO"
    return [row.key, _fmt(value), _fmt(baseline), ratio, row.target, met]


HEADER = ["figure", "value", "baseline", "ratio", "target", "met?"]
WIDTHS = [30, 12, 12, 7, 18, 12]


def print_row(cells: list[str]) -> None:
    print("  ".join(c.ljust(w) if i == 0 or i >= 4 else c.rjust(w) for i, (c, w) in
                    enumerate(zip(cells, WIDTHS, strict=True))), flush=True)


def note(name: str, details: dict[str, Any]) -> str:
    """One line on how a figure came about: who was saturated, what went wrong."""
    try:
        if name == "ingest":
            i, b = details["ingest"], details["baseline"]
            bases = ", ".join(f"{x['client_procs']} client proc(s) {x['per_s']:,.0f}/s (server CPU {x['server_cpu']})"
                              for x in b)
            line = (f"ingest: server CPU {i['server_cpu']}, client CPU {i['client_cpu']}, mean commit batch "
                    f"{i['mean_batch']}, statuses {i['statuses']}; baseline: {bases}")
            poisoned = details.get("poisoned")
            if poisoned:
                line += (f"; poisoned vs clean slices: {poisoned['poisoned_per_s']:,.0f} vs {poisoned['per_s']:,.0f} "
                         f"good/s (server CPU {poisoned['server_cpu']}, mean batch {poisoned['mean_batch']}), "
                         f"statuses {poisoned['poisoned_statuses']}")
            return line
        if name == "latency":
            return (f"{details['orders_measured']} orders at {details['offered_per_s']}/s, {details['samples']} "
                    f"samples, {details['missing']} missing, max {details['max_ms']} ms, statuses "
                    f"{details['statuses']}, {details['connections']} WebSockets, server CPU {details['server_cpu']}")
        if name == "fanout":
            h, b = details["hub"], details["baseline"]
            return (f"offered {details['offered_per_s']:,}/s, frames {details['frame_bytes']} B; hub: server CPU "
                    f"{h['server_cpu']}, per connection {h['per_connection_frames_per_s']}; baseline: server CPU "
                    f"{b['server_cpu']}, per connection {b['per_connection_frames_per_s']}; client CPU "
                    f"{h['client_cpu']} / {b['client_cpu']}")
        if name == "memory":
            return (f"RSS {details['rss_before_kib']:,} → {details['rss_after_kib']:,} KiB with "
                    f"{details['connections']:,} connections")
        if name == "rebuild":
            return (f"{details['orders']:,} orders, {details['outbox_rows']:,} outbox rows, {details['db_mib']} MiB: "
                    f"load {details['load_s']} s (writing them took {details['write_s']} s)")
        if name == "scaleout":
            runs = details["runs"]
            waits = "; ".join(
                f"{n} procs: lock held {r['lock_utilization']:.0%} of the time, wait share per process "
                + "/".join(f"{p['wait_share']:.2f}" for p in r["per_process"])
                + f", {r['held_ms_per_order']} ms held per order, mean batch "
                + "/".join(str(p["mean_batch"]) for p in r["per_process"])
                + f", PostgreSQL CPU {r['postgres_cpu']}"
                for n, r in runs.items())
            return f"PostgreSQL {details['postgres']}; {waits}; lock-bound {details['lock_bound_orders_per_s']}/s"
        if name == "screens":
            kinds = "; ".join(f"{kind} ×{s['connections']}: {s['kib_per_s']} KiB/s, {s['frames_per_s']} frames/s, "
                              f"{s['frame_bytes_mean']} B a frame" for kind, s in details["screens"].items())
            return (f"{details['offered_per_s']} orders/s offered, statuses {details['statuses']}; {kinds}; server "
                    f"CPU {details['server_cpu']}")
        if name == "flash":
            return (f"{details['buyers']:,} buyers, {details['stock_units']} units: {details['accepted_units']} sold, "
                    f"{details['reserved_units']} reserved, answers {details['statuses']}")
    except (KeyError, TypeError):
        return ""
    return ""


def markdown(figures: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "|".join(["---", "---:", "---:", "---:", "---", "---"]) + "|"]
    lines += ["| " + " | ".join(f"`{c}`" if i == 0 else c for i, c in enumerate(row_cells(row, figures))) + " |"
              for row in ROWS]
    lines.append("")
    lines.append(f"Measured {meta['run_at']} on {meta['machine']['nproc']} cores, Python "
                 f"{meta['machine']['python']}.")
    ran = {f"{s['loop']} + {s['http']}" for s in (figures.get("stack") or {}).values() if isinstance(s, dict)}
    if ran:
        lines.append(f"Every server, liveroom and baselines alike, ran on {' / '.join(sorted(ran))} "
                     "(`stack` in latest.json).")
    return "\n".join(lines) + "\n"


BASELINE_MODULES = ("bench.baseline_app", "bench.broadcast_app")


def stacks(name: str, started: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Which loop and HTTP parser each side of benchmark `name` ran on, as its servers' /healthz said: `name` for
    liveroom's side, `name`_baseline for the bare baseline's (a list when one side's servers differed)."""
    sides: dict[str, list[dict[str, Any]]] = {}
    for module, stack in started:
        side = sides.setdefault(f"{name}_baseline" if module in BASELINE_MODULES else name, [])
        if stack not in side:
            side.append(stack)
    return {side: found[0] if len(found) == 1 else found for side, found in sides.items()}


def _previous(out: Path, benchmarks: dict[str, tuple[Callable[[], dict[str, Any]], tuple[str, ...]]],
              chosen: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The figures and details of the benchmarks not chosen, from the last run written to `out` (none if none)."""
    figures: dict[str, Any] = {**dict.fromkeys(KEYS), "stack": {}}
    details: dict[str, Any] = {}
    try:
        latest = json.loads((out / "latest.json").read_text())
        earlier = json.loads((out / "details.json").read_text())
    except (OSError, ValueError):
        return figures, details
    for name, (_, keys) in benchmarks.items():
        if name in chosen:
            continue
        figures.update({key: latest.get(key) for key in keys})
        figures["stack"].update({side: stack for side, stack in (latest.get("stack") or {}).items()
                                 if side in (name, f"{name}_baseline")})
        if name in earlier:
            details[name] = {**earlier[name], "measured_at": earlier.get("run_at")}
    return figures, details


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--only", default="",
                        help="comma-separated: rebuild,flash,memory,ingest,latency,fanout,scaleout,screens (the "
                             "figures of the others are kept from the last run in the same --out folder)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, to check the machinery works")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write the results (default bench/results; --quick: a temp folder)")
    args = parser.parse_args(argv)
    benchmarks = _benchmarks(args.quick)
    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(benchmarks)
    unknown = [n for n in chosen if n not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    if args.out is None:
        args.out = Path(tempfile.mkdtemp(prefix="liveroom-bench-quick-")) if args.quick else RESULTS
    meta: dict[str, Any] = {"machine": machine(), "run_at": datetime.now(UTC).isoformat(timespec="seconds")}
    figures: dict[str, Any] = {**dict.fromkeys(KEYS), "stack": {}}
    details: dict[str, Any] = {}
    if set(chosen) != set(benchmarks):  # a partial run: what it does not measure stays as last measured
        figures, details = _previous(args.out, benchmarks, chosen)
    failed: list[str] = []
    began = time.monotonic()
    print(f"liveroom bench — {meta['machine']['nproc']} cores, Python {meta['machine']['python']}"
          f"{' (quick: sizes too small to mean anything)' if args.quick else ''}", flush=True)
    print_row(HEADER)
    for name in chosen:
        run, keys = benchmarks[name]
        started = time.monotonic()
        STARTED.clear()
        try:
            result = run()
        except Exception:
            failed.append(name)
            details[name] = {"error": traceback.format_exc()}
            print(f"  {name} failed:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        details[name] = {**result.get("details", {}), "seconds": round(time.monotonic() - started, 1)}
        for key in keys:
            figures[key] = result[key]
        figures["stack"].update(stacks(name, STARTED))
        for row in ROWS:
            if row.key in keys:
                print_row(row_cells(row, figures))
        line = note(name, details[name])
        if line:
            print(f"    ({line}; {details[name]['seconds']} s)", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    latest = {**figures, **meta}
    (args.out / "latest.json").write_text(json.dumps(latest, indent=2, ensure_ascii=False) + "\n")
    (args.out / "details.json").write_text(json.dumps({**meta, **details}, indent=2, ensure_ascii=False,
                                                      default=str) + "\n")
    table = markdown(figures, meta)
    (args.out / "latest.md").write_text(table)
    print(f"\n{table}", flush=True)
    print(f"wrote {args.out / 'latest.json'} in {time.monotonic() - began:.0f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
