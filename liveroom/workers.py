"""`liveroom serve --workers N`: N server processes over one database, behind one listening socket.

Why a supervisor of our own rather than uvicorn's (`uvicorn --workers`, which wants an app import string):
each server runs with the HTTP and WebSocket protocol classes that server/serving.py builds per server around its
connection gate (header and body timeouts, connection caps). Those are classes made at run time, one set per
process; uvicorn's multiprocess supervisor hands its Config to spawned children by pickling, and cannot carry them.
Here each worker is simply `liveroom serve` itself, started as its own interpreter and told to listen on a socket
it inherits, so it configures its server exactly as a single `liveroom serve` does.

Why one shared socket rather than N sockets with SO_REUSEPORT: the supervisor keeps the listening socket open for
its whole life. A worker that stops or is killed closes only its own copy; the connections the kernel queued
stay queued for the others, and a rolling restart never refuses a connection. (With SO_REUSEPORT, the connections
waiting in a closing socket's own queue are reset.)

- Before the workers start: the schema is migrated once; with N > 1 and no PROMETHEUS_MULTIPROC_DIR, a fresh
  temp dir is set there (prometheus-client's multiprocess mode; removed again at exit).
- A worker that dies is started again (after a pause when it died young; the supervisor gives up after
  MAX_QUICK_DEATHS deaths in a row that came within QUICK_S of their start).
- SIGTERM / SIGINT: the listening socket is closed, every worker gets SIGTERM (each then stops as
  server/serving.py describes: requests answered, WebSockets closed with 1012), a worker still running after
  STOP_S is killed. SIGHUP: a rolling restart, one worker at a time, each replaced by a new one that is already
  listening before the old one is told to stop (systemd's `ExecReload`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

STOP_S = 10.0  # a worker told to stop is killed after this long
READY_S = 60.0  # a worker that does not listen within this long is taken as failed to start
QUICK_S = 5.0  # a worker that dies this soon after its start died young: the next one waits a moment
MAX_QUICK_DEATHS = 5
TICK_S = 0.1
_PR_SET_PDEATHSIG = 1


@dataclass
class Worker:
    index: int
    process: subprocess.Popen[bytes]
    ready_fd: int  # the read end of the pipe the worker writes one byte to once it listens
    started_at: float = field(default_factory=time.monotonic)
    ready: bool = False

    def poll_ready(self) -> bool:
        if not self.ready:
            with contextlib.suppress(BlockingIOError, OSError):
                if os.read(self.ready_fd, 1):
                    self.ready = True
        return self.ready

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.ready_fd)


def listening_socket(host: str, port: int, backlog: int = 2048) -> socket.socket:
    """The socket every worker accepts on (uvicorn's default backlog)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """A worker whose supervisor was killed outright (SIGKILL) gets SIGTERM and stops, instead of living on."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(self, workers: int, host: str, port: int, log_level: str) -> None:
        self.count = workers
        self.host, self.port, self.log_level = host, port, log_level
        self.sock: socket.socket | None = None
        self.workers: dict[int, Worker] = {}
        self.stopping = False
        self.reload = False
        self.quick_deaths = 0

    # --- starting and stopping workers ------------------------------------------------------------------

    def spawn(self, index: int) -> Worker:
        assert self.sock is not None
        read_end, write_end = os.pipe()
        os.set_blocking(read_end, False)
        listen_fd = self.sock.fileno()
        command = [sys.executable, "-m", "liveroom.cli", "serve", "--host", self.host, "--port", str(self.port),
                   "--log-level", self.log_level, "--worker-of", f"{listen_fd}:{write_end}"]
        try:
            process = subprocess.Popen(command, pass_fds=(listen_fd, write_end), preexec_fn=_die_with_parent)
        finally:
            os.close(write_end)
        _say(f"worker {index} started (pid {process.pid})")
        return Worker(index, process, read_end)

    def stop_workers(self, workers: list[Worker]) -> None:
        """SIGTERM each, wait for all of them (STOP_S at most), kill what is left."""
        for worker in workers:
            with contextlib.suppress(ProcessLookupError):
                worker.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_S
        for worker in workers:
            try:
                worker.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _say(f"worker {worker.index} (pid {worker.process.pid}) did not stop within {STOP_S:g} s: killed")
                worker.process.kill()
                worker.process.wait()
            worker.close()
            _mark_dead(worker.process.pid)

    def wait_ready(self, worker: Worker) -> bool:
        deadline = time.monotonic() + READY_S
        while time.monotonic() < deadline and not self.stopping:
            if worker.poll_ready():
                return True
            if worker.process.poll() is not None:
                return False
            time.sleep(TICK_S / 2)
        return worker.poll_ready()

    def rolling_restart(self) -> None:
        """Replace each worker in turn by a new one, stopping the old one once the new one listens."""
        _say(f"rolling restart of {len(self.workers)} workers")
        for index in sorted(self.workers):
            if self.stopping:
                return
            old = self.workers[index]
            new = self.spawn(index)
            if not self.wait_ready(new):
                _say(f"worker {index}'s replacement did not start; keeping the old one")
                self.stop_workers([new])
                continue
            self.workers[index] = new
            self.stop_workers([old])

    # --- the supervisor's loop --------------------------------------------------------------------------

    def _on_stop(self, signum: int, _frame: object) -> None:
        self.stopping = True

    def _on_reload(self, _signum: int, _frame: object) -> None:
        self.reload = True

    def run(self) -> int:
        self.sock = listening_socket(self.host, self.port)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_reload)
        _say(f"{self.count} workers on http://{self.host}:{self.port} (supervisor pid {os.getpid()})")
        for index in range(self.count):
            self.workers[index] = self.spawn(index)
        status = 0
        while not self.stopping:
            time.sleep(TICK_S)
            for worker in self.workers.values():
                worker.poll_ready()
            if self.reload:
                self.reload = False
                self.rolling_restart()
            if not self._replace_the_dead():
                status = 1
                break
        # Refuse new connections now (a proxy then goes to another upstream), then let the workers finish.
        self.sock.close()
        self.stop_workers(list(self.workers.values()))
        return status

    def _replace_the_dead(self) -> bool:
        for index, worker in list(self.workers.items()):
            code = worker.process.poll()
            if code is None or self.stopping:
                continue
            worker.close()
            _mark_dead(worker.process.pid)
            lived = time.monotonic() - worker.started_at
            _say(f"worker {index} (pid {worker.process.pid}) exited with {code} after {lived:.1f} s; starting another")
            if lived < QUICK_S:
                self.quick_deaths += 1
                if self.quick_deaths >= MAX_QUICK_DEATHS:
                    _say(f"workers keep dying at start ({self.quick_deaths} in a row): giving up")
                    del self.workers[index]
                    return False
                time.sleep(min(QUICK_S, 0.5 * 2 ** self.quick_deaths))
            else:
                self.quick_deaths = 0
            self.workers[index] = self.spawn(index)
        return True


def _say(message: str) -> None:
    """The supervisor's few lines, on stderr (the journal under systemd), like the workers' own log."""
    print(f"liveroom serve: {message}", file=sys.stderr, flush=True)


def _mark_dead(pid: int) -> None:
    """prometheus-client's multiprocess mode: a dead worker's live gauges leave the sums (when it is in use)."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    try:
        from prometheus_client import multiprocess
    except ImportError:  # pragma: no cover
        return
    with contextlib.suppress(Exception):
        multiprocess.mark_process_dead(pid)


def run_workers(workers: int, host: str, port: int, log_level: str) -> int:
    """Run `workers` server processes until SIGTERM/SIGINT; the exit status of the supervisor."""
    made_dir = None
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        made_dir = tempfile.mkdtemp(prefix="liveroom-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made_dir  # inherited by every worker
    try:
        return Supervisor(workers, host, port, log_level).run()
    finally:
        if made_dir is not None:
            shutil.rmtree(made_dir, ignore_errors=True)
