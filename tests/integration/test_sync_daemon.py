"""The daemon as a real process: READY before any sync, hub down / slow / back without hanging
or spinning, SIGUSR1 syncs now, SIGTERM stops cleanly; and the schedule's maths."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from madoguchi.edge import store
from madoguchi.sync.device.daemon import Schedule, notify

from tests.integration.test_sync_support import make_world, start_server

ROOT = Path(__file__).resolve().parents[2]


class NotifySocket:
    """A fake systemd: collects sd_notify datagrams on a socket."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.messages: list[tuple[float, str]] = []
        self.running = True
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while self.running:
            try:
                self.messages.append((time.monotonic(), self.sock.recv(4096).decode()))
            except TimeoutError:
                continue
            except OSError:
                return

    def seen(self, prefix: str, since: float = 0.0) -> list[str]:
        return [m for t, m in list(self.messages) if m.startswith(prefix) and t >= since]

    def wait_for(self, prefix: str, timeout: float, since: float = 0.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if found := self.seen(prefix, since):
                return found[0]
            time.sleep(0.05)
        raise AssertionError(f"no {prefix!r} within {timeout} s; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self.running = False
        self.sock.close()


class SilentHub:
    """Accepts connections and never answers (a hung hub)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.sock.settimeout(0.2)
        self.accepted: list[socket.socket] = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while self.running:
            try:
                self.accepted.append(self.sock.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def data_version(data_dir: Path) -> int | None:
    conn = store.open_database(data_dir)
    try:
        state = store.get_sync_state(conn)
        return state.data_version if state else None
    finally:
        conn.close()


def wait_version(data_dir: Path, version: int, timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if data_version(data_dir) == version:
            return time.monotonic() - started
        time.sleep(0.1)
    raise AssertionError(f"data version {version} not applied within {timeout} s (have {data_version(data_dir)})")


def start_daemon(world, notify_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "1000000", "MADOGUCHI_CONFIG": "/dev/null"}
    env.pop("WATCHDOG_PID", None)
    return subprocess.Popen(
        [sys.executable, "-m", "madoguchi", "--data-dir", str(world.device.data_dir), "sync", "daemon",
         "--socket-timeout", "1", *args],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def stop(daemon: subprocess.Popen) -> int:
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=15)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        daemon.stderr.close()


def test_daemon_rides_out_hub_down_slow_and_back(tmp_path):
    world = make_world(tmp_path)
    port = world.port
    world.server.shutdown()
    world.server.server_close()
    sd = NotifySocket(tmp_path / "notify")
    daemon = start_daemon(world, sd.path, "--interval", "2", "--jitter", "0.2", "--backoff-base", "0.25")
    server = None
    try:
        # READY once the cache is open, whatever the hub does; the hub is down.
        sd.wait_for("READY=1", 15)
        sd.wait_for("STATUS=offline", 10)
        sd.wait_for("WATCHDOG=1", 5)
        # Down: backing off, not spinning.
        cpu, t0 = cpu_seconds(daemon.pid), time.monotonic()
        time.sleep(4)
        assert cpu_seconds(daemon.pid) - cpu < 0.25 * (time.monotonic() - t0)
        assert len(sd.seen("STATUS=offline", t0)) <= 12

        # Slow: accepts, never answers. The runs end by the socket timeout; the daemon stays alive.
        silent = SilentHub(port)
        t1 = time.monotonic()
        sd.wait_for("STATUS=offline", 15, since=t1)
        assert daemon.poll() is None
        assert len(silent.accepted) < 30
        silent.close()

        # Back, with new data published while it was away: current within a minute.
        world.change_records(10)
        world.publish()
        server = start_server(world.paths, port)
        took = wait_version(world.device.data_dir, 2, 60)
        assert took < 60
        sd.wait_for("STATUS=ok", 5)
        assert daemon.poll() is None
    finally:
        code = stop(daemon)
        sd.close()
        if server:
            server.shutdown()
            server.server_close()
        world.conn.close()
    assert code == 0
    assert sd.seen("STOPPING=1")


def test_sigusr1_syncs_now(tmp_path):
    world = make_world(tmp_path)
    sd = NotifySocket(tmp_path / "notify")
    daemon = start_daemon(world, sd.path, "--interval", "3600", "--jitter", "0")
    try:
        sd.wait_for("STATUS=unchanged", 15)
        world.change_records(5)
        world.publish()
        daemon.send_signal(signal.SIGUSR1)
        assert wait_version(world.device.data_dir, 2, 10) < 10
    finally:
        code = stop(daemon)
        sd.close()
        world.server.shutdown()
        world.server.server_close()
        world.conn.close()
    assert code == 0


def test_backoff_doubles_with_jitter_up_to_the_interval():
    schedule = Schedule(interval=30, jitter=5, backoff_base=2)
    rng = random.Random(1)
    delays = [schedule.backoff(n, rng) for n in range(1, 10)]
    for n, delay in enumerate(delays, 1):
        ceiling = min(30, 2 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30 and delays[-1] >= 15


def test_backoff_stays_at_the_interval_after_a_long_time_offline():
    schedule = Schedule(interval=30.0, jitter=5.0, backoff_base=2.0)  # floats, as the command line gives them
    rng = random.Random(1)
    assert all(15 <= schedule.backoff(n, rng) <= 30 for n in (1024, 1025, 10**6))


def test_interval_trigger_keeps_jitter_within_bounds():
    trigger = IntervalTrigger(seconds=30, jitter=5)
    now = datetime(2026, 11, 20, tzinfo=timezone.utc)
    fire = trigger.get_next_fire_time(None, now)
    following = trigger.get_next_fire_time(fire, fire)
    assert 30 <= (following - fire).total_seconds() <= 35


@pytest.mark.parametrize("abstract", [False, True])
def test_notify_reaches_a_socket_path_or_the_abstract_namespace(tmp_path, monkeypatch, abstract):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"\0madoguchi-test-{os.getpid()}" if abstract else str(tmp_path / "n")
    sock.bind(name)
    try:
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name[1:] if abstract else name)
        assert notify("READY=1")
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()
    monkeypatch.delenv("NOTIFY_SOCKET")
    assert not notify("READY=1")
