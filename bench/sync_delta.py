"""Delta bench: 1k records changed on the hub, publish → applied on the device over loopback.

    .venv/bin/python bench/sync_delta.py --records 1000000 --changes 1000

Prints each phase against a no-change refresh measured in the same run (the floor of any
sync: timestamp.json over HTTP). Goal (issue 4): publish → applied ≤ 200 ms.

Two figures for publish → visible: with `sync_once` called right after the publish (the
pipeline alone), and with the real `madoguchi sync daemon` on its default interval (what a desk
sees: the wait for the daemon's next run comes first). For the latter each publish lands at a
random moment, so the wait samples the daemon's whole cycle.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import CHILDREN, watchdog  # noqa: E402
from madoguchi.edge import store
from madoguchi.edge.config import JST  # noqa: E402
from madoguchi.sim import population  # noqa: E402
from madoguchi.sync.device.client import init_device, load_device_config, sync_once  # noqa: E402
from madoguchi.sync.device.daemon import Schedule  # noqa: E402
from madoguchi.sync.hub import repository as hub  # noqa: E402
from madoguchi.sync.tables import QUALIFICATION_TABLE  # noqa: E402

FACILITY = "bench"


def watch(conn, version: int, seen: list[float], timeout: float = 30) -> None:
    """Poll as the desk would until `version` is visible; note when."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if conn.execute("SELECT data_version FROM sync_state WHERE id = 1").fetchone()[0] >= version:
            seen.append(time.perf_counter())
            return
        time.sleep(0.001)
    seen.append(float("nan"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--daemon-rounds", type=int, default=5,
                        help="publishes seen through the real daemon (each waits for its next run: ~30 s)")
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    with tempfile.TemporaryDirectory(prefix="sync-delta-") as tmp:
        run(Path(tmp), args.records, args.changes, args.rounds, args.daemon_rounds)


def change_and_publish(paths: hub.HubPaths, hub_conn, desk, changes: int, timeout: float) -> float:
    """Change `changes` records, publish; milliseconds from the publish until the desk's
    connection sees the new data version."""
    rows = hub_conn.execute(f"SELECT * FROM qualification ORDER BY random() LIMIT {changes}").fetchall()
    stamp = store.utcnow().isoformat()
    with store.transaction(hub_conn):
        hub.change(hub_conn, QUALIFICATION_TABLE, [(*r[:store.AS_OF], stamp, *r[store.AS_OF + 1:]) for r in rows], [])
    seen: list[float] = []
    watcher = threading.Thread(target=watch, args=(desk, store.get_sync_state(desk).data_version + 1, seen, timeout))
    watcher.start()
    t0 = time.perf_counter()
    hub.publish(paths, FACILITY)
    watcher.join()
    return (seen[0] - t0) * 1000


def run(tmp: Path, records: int, changes: int, rounds: int, daemon_rounds: int) -> None:
    now = population.default_now(store.utcnow().astimezone(JST).date())
    paths = hub.HubPaths(tmp / "hub", tmp / "root-medium")
    lines = (json.dumps(r, ensure_ascii=False) for r in population.generate(int(records / 1.04), 1, now.date(), now))
    hub.import_population(paths, FACILITY, lines, now.date())
    hub.publish(paths, FACILITY)
    server = hub.make_server(paths, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    device_dir = tmp / "device"
    init_device(device_dir, paths.trusted_root(FACILITY), paths.facility_key(FACILITY),
                f"http://127.0.0.1:{server.server_address[1]}/{FACILITY}")
    device = load_device_config(device_dir)
    conn = store.open_database(device_dir)
    t = time.perf_counter()
    assert sync_once(device, conn).result == "ok"
    print(f"base: {records:,} records, first full sync {time.perf_counter() - t:.2f} s")

    hub_conn = hub.open_facility_store(paths, FACILITY)
    publish_ms, apply_ms, total_ms, idle_ms, visible_ms = [], [], [], [], []
    desk = store.open_database(device_dir)  # another connection, as the desk's
    for _ in range(rounds):
        t = time.perf_counter()
        assert sync_once(device, conn).result == "unchanged"
        idle_ms.append((time.perf_counter() - t) * 1000)
        rows = hub_conn.execute(f"SELECT * FROM qualification ORDER BY random() LIMIT {changes}").fetchall()
        stamp = store.utcnow().isoformat()
        with store.transaction(hub_conn):
            hub.change(hub_conn, QUALIFICATION_TABLE, [(*r[:store.AS_OF], stamp, *r[store.AS_OF + 1:]) for r in rows], [])
        seen: list[float] = []
        watcher = threading.Thread(target=watch, args=(desk, store.get_sync_state(desk).data_version + 1, seen))
        watcher.start()
        t0 = time.perf_counter()
        hub.publish(paths, FACILITY)
        t1 = time.perf_counter()
        outcome = sync_once(device, conn)
        t2 = time.perf_counter()
        watcher.join()
        visible_ms.append((seen[0] - t0) * 1000)
        assert outcome.result == "ok" and outcome.applied[0].startswith("delta-"), outcome
        publish_ms.append((t1 - t0) * 1000)
        apply_ms.append((t2 - t1) * 1000)
        total_ms.append((t2 - t0) * 1000)
    med = statistics.median
    print(f"no-change refresh (baseline): median {med(idle_ms):.0f} ms")
    print(f"delta of {changes} records: publish {med(publish_ms):.0f} ms, sync run (fetch, decrypt, apply, "
          f"WAL truncate) {med(apply_ms):.0f} ms")
    print(f"publish -> new data visible to another connection: median {med(visible_ms):.0f} ms "
          f"(max {max(visible_ms):.0f}) = {med(visible_ms) / med(idle_ms):.1f}x a no-change refresh  (goal <= 200 ms)")
    print(f"publish -> sync run finished: median {med(total_ms):.0f} ms (max {max(total_ms):.0f})")
    if daemon_rounds:
        schedule = Schedule()
        daemon = subprocess.Popen([sys.executable, "-m", "madoguchi", "--data-dir", str(device_dir), "sync", "daemon"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        CHILDREN.append(daemon)
        rng = random.Random(3)
        waits = []
        try:
            for _ in range(daemon_rounds):
                time.sleep(rng.uniform(0, schedule.interval))  # a random moment of the daemon's cycle
                waits.append(change_and_publish(paths, hub_conn, desk, changes, 2 * (schedule.interval + schedule.jitter)))
        finally:
            daemon.terminate()
            daemon.wait(30)
        print(f"publish -> visible through `sync daemon` (interval {schedule.interval:.0f} s, jitter "
              f"{schedule.jitter:.0f} s), {daemon_rounds} publishes at random moments: median "
              f"{med(waits) / 1000:.1f} s, max {max(waits) / 1000:.1f} s (about half an interval on average, "
              f"one interval plus jitter at worst, plus the pipeline above)")
    server.shutdown()


if __name__ == "__main__":
    main()
