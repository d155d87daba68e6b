"""Reconciliation delay: the national system comes back → contradictions in the device's 要対応 list.

    .venv/bin/python bench/reconcile_delay.py [--rounds 3] [--interval 30]

A real hub (static TUF repository + API over mTLS, simulator upstream) and a real enrolled device
running `madoguchi sync daemon` in its own process with the production schedule. Each round:
the national system is cut, the desk checks patients from its cache (some of whom have just
lost their qualification), the national system returns, and the clock runs until every
contradiction is in the device's followup table. Printed against the daemon's interval (the
bound the design promises: one interval plus jitter) and, for the upload itself, against a bare
mTLS round trip to the same API measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import watchdog  # noqa: E402
from madoguchi.edge import store
from madoguchi.edge.config import JST, Policy  # noqa: E402
from madoguchi.edge.desk import run_check  # noqa: E402
from madoguchi.edge.verdict import CheckRequest, Method  # noqa: E402
from madoguchi.sim import population  # noqa: E402
from madoguchi.sim.national import NationalSystem  # noqa: E402
from madoguchi.sim.simulator import SimulatedUpstream  # noqa: E402
from madoguchi.sync.device.client import load_device_config, sync_once  # noqa: E402
from madoguchi.sync.device.enroll import enroll_device  # noqa: E402
from madoguchi.sync.device.hubclient import HubClient  # noqa: E402
from madoguchi.sync.device.upload import upload_outbox  # noqa: E402
from madoguchi.sync.hub import api, pki  # noqa: E402
from madoguchi.sync.hub import repository as hub

FACILITY = "bench"


def by_numbers(r: dict) -> CheckRequest:
    from datetime import date

    return CheckRequest(Method.NUMBERS, insurer_number=r["insurer_number"], symbol=r["symbol"], number=r["number"],
                        branch=r["branch"], birth_date=date.fromisoformat(r["birth_date"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--checks", type=int, default=60, help="offline checks per round")
    parser.add_argument("--interval", type=float, default=30.0, help="the daemon's sync interval (production: 30)")
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    with tempfile.TemporaryDirectory(prefix="reconcile-delay-") as tmp:
        run(Path(tmp), args)


def run(tmp: Path, args: argparse.Namespace) -> None:
    from datetime import datetime

    now = datetime.now(JST)
    records = list(population.generate(2000, 3, now.date(), now))
    paths = hub.HubPaths(tmp / "hub")
    hub.import_population(paths, FACILITY, [json.dumps(r, ensure_ascii=False) for r in records], now.date())
    hub.publish(paths, FACILITY)
    static = hub.make_server(paths, "127.0.0.1", 0)
    threading.Thread(target=static.serve_forever, daemon=True).start()
    national = NationalSystem(records, clock=lambda: datetime.now(JST))
    server = api.ApiServer(api.create_app(paths, lambda: SimulatedUpstream(national),
                                          repository_port=static.server_address[1]), paths).start()
    device = tmp / "device"
    enroll_device(device, server.url, pki.make_token(paths, FACILITY), timeout=5)
    conn = store.open_database(device, create=True)
    assert sync_once(load_device_config(device), conn).ok
    client = HubClient.from_data_dir(device)
    round_trip = []
    for _ in range(50):
        started = time.perf_counter()
        client.get_json("/v1/device", 5)
        round_trip.append(time.perf_counter() - started)
    daemon = subprocess.Popen([sys.executable, "-m", "madoguchi", "--data-dir", str(device), "sync", "daemon",
                               "--interval", str(args.interval)], env={**os.environ, "PYTHONPATH": str(ROOT)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    current = [r for r in records if r["validity"] == 1 and not r["disqualification_date"]
               and r["registered_on"] <= now.date().isoformat()]
    policy, delays, uploads = Policy(), [], []
    try:
        for round_index in range(args.rounds):
            national.cut()
            chosen = current[round_index * args.checks:(round_index + 1) * args.checks]
            before = conn.execute("SELECT count(*) FROM followup").fetchone()[0]
            ok = [run_check(conn, by_numbers(r), policy).verdict.outcome.value == "ok" for r in chosen]
            lost = [r for r, was_ok in zip(chosen[::5], ok[::5], strict=True) if was_ok]
            for r in lost:
                national.lose(r["patient_id"], now.date() - timedelta(days=1))
            time.sleep(args.interval * 0.6)  # the daemon tries during the outage: entries stay pending
            returned = time.perf_counter()
            national.restore()
            while conn.execute("SELECT count(*) FROM followup").fetchone()[0] < before + len(lost):
                if time.perf_counter() - returned > 4 * args.interval:
                    raise SystemExit("contradictions did not arrive within 4 intervals")
                time.sleep(0.05)
            delays.append(time.perf_counter() - returned)
            print(f"round {round_index + 1}: {len(chosen)} offline checks, {len(lost)} contradictions "
                  f"in the 要対応 list {delays[-1]:.1f} s after the national system returned")
        # The upload itself: a fresh outbox of the same size, uploaded in-process.
        daemon.terminate()
        daemon.wait(timeout=30)
        for r in current[-args.checks:]:
            run_check(conn, by_numbers(r), policy)
        started = time.perf_counter()
        outcome = upload_outbox(conn, client.post_json)
        uploads.append(time.perf_counter() - started)
    finally:
        if daemon.poll() is None:
            daemon.kill()
        server.stop()
        static.shutdown()
    rt = statistics.median(round_trip)
    print(f"\ndelay after return: median {statistics.median(delays):.1f} s, max {max(delays):.1f} s; "
          f"daemon interval {args.interval:.0f} s → max/interval {max(delays) / args.interval:.2f}× "
          "(design bound: 1 interval + jitter)")
    print(f"upload of {args.checks} entries ({outcome.reconciled} reconciled): {uploads[0] * 1000:.0f} ms; "
          f"bare mTLS round trip median {rt * 1000:.2f} ms → {uploads[0] / rt:.0f}× "
          f"({uploads[0] / args.checks * 1000:.2f} ms per entry)")


if __name__ == "__main__":
    main()
