"""The sync daemon: a BackgroundScheduler runs `sync_once` on an interval with jitter, then
uploads the outbox for reconciliation (enrolled devices); the main thread supervises (signals,
backoff, systemd notifications).

SIGUSR1 syncs now; SIGTERM and SIGINT stop cleanly (a running apply finishes or rolls back
whole). Offline, the next run comes sooner than the interval, backing off exponentially with
jitter up to the interval, so a hub that returns is seen within one interval and a dead hub
is not hammered. `READY=1` is sent once the local cache is open (the desk can answer from it
before any sync); `WATCHDOG=1` only while no run is stuck past `RUN_DEADLINE`.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import signal
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync.device.client import DeviceConfig, SyncOutcome, sync_once
from madoguchi.sync.device.hubclient import HubClient
from madoguchi.sync.device.upload import upload_outbox

log = logging.getLogger(__name__)

JOB_ID = "sync"
RUN_DEADLINE = 15 * 60  # a run longer than this is stuck: stop the watchdog pings


@dataclass(frozen=True)
class Schedule:
    interval: float = 30.0  # seconds between syncs when the hub answers
    jitter: float = 5.0
    backoff_base: float = 2.0  # first retry after going offline
    backoff_max: float | None = None  # default: the interval

    def backoff(self, failures: int, rng: random.Random) -> float:
        """Delay before retry number `failures` (1, 2, ...): exponential, capped, with "full
        jitter" in its upper half so that devices of one facility spread out."""
        cap = self.backoff_max if self.backoff_max is not None else self.interval
        # a float power, its exponent bounded: an int 2 ** 1024 (hours offline) is too large for a float
        delay = min(cap, self.backoff_base * 2.0 ** min(failures - 1, 1000))
        return delay * rng.uniform(0.5, 1.0)


def notify(message: str) -> bool:
    """sd_notify: one datagram to $NOTIFY_SOCKET ('@' = the abstract namespace)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
        return True
    except OSError as exc:
        log.warning("sd_notify failed: %s", exc)
        return False


class Daemon:
    def __init__(self, config: DeviceConfig, schedule: Schedule, rng: random.Random | None = None) -> None:
        self.config, self.schedule = config, schedule
        self.rng = rng or random.Random()
        self.outcomes: queue.Queue[SyncOutcome] = queue.Queue()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.sync_now = threading.Event()
        self.failures = 0
        self.run_started: float | None = None
        self.hub: HubClient | None = None

    def job(self, conn: sqlite3.Connection) -> None:
        self.run_started = time.monotonic()
        try:
            outcome = sync_once(self.config, conn)
        except Exception as exc:  # a bug or a broken store: report it, keep the daemon alive
            log.exception("sync run failed")
            outcome = SyncOutcome("failed", f"{type(exc).__name__}: {exc}")
            try:
                with store.transaction(conn):
                    store.record_sync_attempt(conn, "failed", outcome.detail)
            except Exception:  # noqa: BLE001 - already logged above
                pass
        try:
            self.upload(conn)
        except Exception:  # same: a bug must not stop the syncs
            log.exception("outbox upload failed")
        finally:
            self.run_started = None
        self.outcomes.put(outcome)
        self.wake.set()

    def upload(self, conn: sqlite3.Connection) -> None:
        """Send the outbox to the hub for reconciliation (a device without enrollment keeps it)."""
        if self.hub is None:
            try:
                self.hub = HubClient.from_data_dir(self.config.data_dir)
            except OnlineUnavailable as exc:
                log.warning("no outbox upload: %s", exc)
            if self.hub is None:
                return
        uploaded = upload_outbox(conn, self.hub.post_json)
        if uploaded.reconciled or uploaded.error:
            log.info("outbox: %d reconciled, %d followups, %d pending%s", uploaded.reconciled, uploaded.followups,
                     uploaded.pending, f"; {uploaded.error}" if uploaded.error else "")

    def healthy(self) -> bool:
        started = self.run_started
        return started is None or time.monotonic() - started < RUN_DEADLINE

    def handle(self, outcome: SyncOutcome, scheduler: BackgroundScheduler) -> None:
        version = f"data v{outcome.data_version}" if outcome.data_version is not None else "no data"
        notify(f"STATUS={outcome.result}: {version}; {outcome.detail}"[:200])
        if outcome.result == "offline":
            self.failures += 1
            delay = self.schedule.backoff(self.failures, self.rng)
            log.info("offline (%d in a row): retrying in %.1f s", self.failures, delay)
            scheduler.modify_job(JOB_ID, next_run_time=datetime.now().astimezone() + timedelta(seconds=delay))
        else:
            self.failures = 0

    def run(self) -> int:
        conn = store.open_database(store.secure_dir(self.config.data_dir), create=True)

        def stop(signum: int, frame: FrameType | None) -> None:
            self.stopping.set()
            self.wake.set()

        def request_sync(signum: int, frame: FrameType | None) -> None:
            self.sync_now.set()
            self.wake.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, stop)
        signal.signal(signal.SIGUSR1, request_sync)
        notify("READY=1")
        notify("STATUS=cache open; first sync starting")
        scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        trigger = IntervalTrigger(seconds=self.schedule.interval, jitter=self.schedule.jitter)
        scheduler.add_job(self.job, trigger, args=(conn,), id=JOB_ID, next_run_time=datetime.now().astimezone())
        scheduler.start()
        watchdog = _watchdog_interval()
        last_ping = 0.0
        try:
            while not self.stopping.is_set():
                self.wake.wait(timeout=min(watchdog or 1.0, 1.0))
                self.wake.clear()
                while not self.outcomes.empty():
                    self.handle(self.outcomes.get(), scheduler)
                if self.sync_now.is_set() and not self.stopping.is_set():
                    self.sync_now.clear()
                    log.info("SIGUSR1: syncing now")
                    scheduler.modify_job(JOB_ID, next_run_time=datetime.now().astimezone())
                if watchdog and self.healthy() and time.monotonic() - last_ping >= watchdog:
                    notify("WATCHDOG=1")
                    last_ping = time.monotonic()
        finally:
            notify("STOPPING=1")
            scheduler.shutdown(wait=True)
            conn.close()
        return 0


def _watchdog_interval() -> float | None:
    """Half the watchdog timeout systemd gave us (WATCHDOG_USEC), if any."""
    usec = os.environ.get("WATCHDOG_USEC")
    if not usec or (os.environ.get("WATCHDOG_PID") not in (None, str(os.getpid()))):
        return None
    return int(usec) / 2e6
