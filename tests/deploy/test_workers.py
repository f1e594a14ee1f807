"""`liveroom serve --workers N` (liveroom/workers.py): N processes on one listening socket, refused plainly without
the bus they need, restarted one at a time on SIGHUP without a refused request, stopped by SIGTERM within 10 s."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from realparts import free_port, redis_server
from seed import API_KEY, SECRET


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "LIVEROOM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'workers.db'}",
           "LIVEROOM_API_KEY": API_KEY, "LIVEROOM_SECRET": SECRET, **extra}
    env.pop("LIVEROOM_REDIS_URL", None)
    env.update(extra)
    return env


def test_several_workers_without_redis_are_refused_naming_the_setting(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "liveroom.cli", "serve", "--workers", "3"],
                          env=_env(tmp_path), capture_output=True, timeout=60)
    assert done.returncode == 2
    assert "LIVEROOM_REDIS_URL" in done.stderr.decode()
    assert not (tmp_path / "workers.db").exists()  # refused before anything started


def test_workers_restart_one_at_a_time_on_sighup_and_stop_on_sigterm_within_ten_seconds(tmp_path: Path) -> None:
    with redis_server() as redis_url:
        port = free_port()
        log = (tmp_path / "serve.log").open("wb")
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "liveroom.cli", "serve", "--workers", "2", "--port", str(port),
             "--log-level", "warning"],
            env=_env(tmp_path, LIVEROOM_REDIS_URL=redis_url), stdout=log, stderr=log,
        )
        url = f"http://127.0.0.1:{port}/healthz"
        try:
            deadline = time.monotonic() + 60
            while True:
                assert supervisor.poll() is None, (tmp_path / "serve.log").read_text()
                try:
                    if httpx.get(url, timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "no worker answered within 60 s"
                time.sleep(0.1)
            workers = _children(supervisor.pid)
            assert len(workers) == 2

            supervisor.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 60
            with httpx.Client(timeout=5) as client:
                while set(_children(supervisor.pid)) & set(workers) and time.monotonic() < deadline:
                    assert client.get(url, headers={"Connection": "close"}).status_code == 200
                    time.sleep(0.02)
            fresh = _children(supervisor.pid)
            assert len(fresh) == 2 and not set(fresh) & set(workers), (workers, fresh)

            began = time.monotonic()
            supervisor.send_signal(signal.SIGTERM)
            assert supervisor.wait(timeout=15) == 0
            assert time.monotonic() - began < 10
            assert _children(supervisor.pid) == []
        finally:
            if supervisor.poll() is None:
                supervisor.kill()
                supervisor.wait()
            log.close()


def _children(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return sorted(int(p) for p in found)
