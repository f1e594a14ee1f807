"""`make demo`: the server and the simulator together, and the screens' links, until Ctrl-C.

Runs `liveroom serve` and `liveroom simulate` as two processes (the simulator drives the server only through its
public API), waits until the live room has orders, prints the host, leader, ops, buyer-tracking and post-live review
links with their tokens, and stops both cleanly on Ctrl-C.

Waybills come from a carrier gateway, as in production: the simulator serves the test carrier gateway (Kdniao's
documented 1007/1008/1147, simulator/gateway.py) on a free loopback port and the server books each shipment's
waybill there (LIVEROOM_CARRIER_GATEWAY=kdniao), so the screens show 等待面单 / awaiting waybill, then the
number. `LIVEROOM_CARRIER_GATEWAY=sandbox make demo` numbers waybills at once instead.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from domain import tokens
from simulator.gateway import KDNIAO_PATH

ROOM = "live-1"  # the simulator's room (simulator/config.py)
DEMO_BUSINESS_ID = "demo-1391822"  # the test carrier gateway's EBusinessID (any id both sides share)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LIVEROOM_DATABASE_URL", "sqlite+aiosqlite:///./liveroom.db")
    env.setdefault("LIVEROOM_API_KEY", "demo-" + secrets.token_urlsafe(12))
    env.setdefault("LIVEROOM_SECRET", "demo-" + secrets.token_urlsafe(24))
    env.setdefault("LIVEROOM_KDNIAO_APPKEY", "demo-kdniao-appkey")
    env.setdefault("LIVEROOM_KUAIDI100_SALT", "demo-kuaidi100-salt")
    env.setdefault("LIVEROOM_PUBLIC_URL", f"http://127.0.0.1:{port}")
    env.setdefault("LIVEROOM_CARRIER_GATEWAY", "kdniao")
    env.setdefault("LIVEROOM_LOG_FORMAT", "text")  # a person reads the demo's log; `liveroom serve` writes JSON
    if env["LIVEROOM_CARRIER_GATEWAY"] == "kdniao" and "LIVEROOM_KDNIAO_API_URL" not in env:
        gateway_port = int(env.get("LIVEROOM_DEMO_GATEWAY_PORT") or _free_port())
        env["LIVEROOM_DEMO_GATEWAY_PORT"] = str(gateway_port)
        env.setdefault("LIVEROOM_KDNIAO_BUSINESS_ID", DEMO_BUSINESS_ID)
        env["LIVEROOM_KDNIAO_API_URL"] = f"http://127.0.0.1:{gateway_port}{KDNIAO_PATH}"
    return env


def _gateway_args(env: dict[str, str]) -> list[str]:
    """The simulator serves the test carrier gateway the server was pointed at (none in sandbox mode)."""
    port = env.get("LIVEROOM_DEMO_GATEWAY_PORT")
    return ["--gateway", "test", "--gateway-port", port] if port else []


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "liveroom.cli", *args]


def _wait(url: str, headers: dict[str, str], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, headers=headers, timeout=2)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"demo: {what} did not appear within {seconds:.0f} s ({url})")


def _links(base: str, env: dict[str, str], run: str) -> list[tuple[str, str]]:
    headers = {"Authorization": f"Bearer {env['LIVEROOM_API_KEY']}"}
    board = _wait(f"{base}/api/v1/rooms/{ROOM}/leaderboard?limit=3", headers, 90, "the live room's first orders")
    while not board["entries"]:
        time.sleep(0.5)
        board = httpx.get(f"{base}/api/v1/rooms/{ROOM}/leaderboard?limit=3", headers=headers).json()
    leader = board["entries"][min(1, len(board["entries"]) - 1)]["leader"]
    order = _wait(f"{base}/api/v1/orders/o-{run}-00001", headers, 60, "the first order")
    secret = env["LIVEROOM_SECRET"]
    return [
        ("主播库存预警 host stock alerts", f"{base}/host/{ROOM}?token={tokens.mint(secret, 'host', ROOM)}"),
        ("团长实时榜 leader leaderboard", f"{base}/leader/{leader}?token={tokens.mint(secret, 'leader', leader)}"),
        ("运营作战室 ops war room", f"{base}/ops?token={tokens.mint(secret, 'ops', '-')}"),
        ("买家物流跟踪 buyer tracking", order["tracking_url"]),
        ("复盘 post-live review", f"{base}/review/{ROOM}?token={tokens.mint(secret, 'ops', '-')}"),
    ]


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def main() -> int:
    port = int(os.environ.get("LIVEROOM_DEMO_PORT", "8000"))
    base = f"http://127.0.0.1:{port}"
    env = _environment(port)
    run = "demo" + datetime.now().strftime("%H%M%S")
    server = simulator = None
    # Ctrl-C reaches the whole foreground process group: the children stop themselves and we wait for them.
    try:
        server = subprocess.Popen(_cli("serve", "--host", "127.0.0.1", "--port", str(port), "--log-level",
                                       "warning"), env=env)
        _wait(f"{base}/healthz", {}, 60, "the server")
        simulator = subprocess.Popen(_cli("simulate", "--url", base, "--orders", os.environ.get(
            "LIVEROOM_DEMO_ORDERS", "50000"), "--run", run, "--quiet", *_gateway_args(env)), env=env)
        links = _links(base, env, run)
        width = max(len(title) for title, _ in links)
        print("\n  liveroom is live — open the screens (Ctrl-C stops the server and the simulator):\n",
              flush=True)
        for title, url in links:
            print(f"  {title:<{width}}  {url}", flush=True)
        Path("demo-links.txt").write_text("\n".join(f"{t}\t{u}" for t, u in links) + "\n", encoding="utf-8")
        print("\n  (also written to demo-links.txt)\n", flush=True)
        while server.poll() is None and simulator.poll() is None:
            time.sleep(0.5)
        if simulator.poll() is not None and server.poll() is None:
            print("  the simulated session ended; the server keeps running (Ctrl-C to stop)", flush=True)
            while server.poll() is None:
                time.sleep(0.5)
    except KeyboardInterrupt:
        print("\n  stopping…", flush=True)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        _stop(simulator)
        _stop(server)
    print("  stopped.", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
