"""Live-query bench: desk → hub API over mTLS → simulator → answer, against raw baselines.

    .venv/bin/python bench/live_query.py --patients 10000 --rounds 300

Everything runs in this process on 127.0.0.1 (uvicorn in a thread, real TLS with the hub's CA
and an enrolled device's certificate). Measured in the same run:
  in-process   the simulator's answer asked directly (the upstream's own cost)
  https        a plain HTTPS GET of the same server (GET /v1/ca: TLS + HTTP + FastAPI, no work)
  hub-check    POST /v1/check with the client certificate (device lookup in the registry, the
               simulator), the answer parsed but not kept
  live         the desk's live source: hub-check, then the answer kept in the device's live overlay
  new-conn     the same live query on a fresh connection each time (full TLS handshake)
Prints p50/p99 in ms and the ratios live/in-process and live/https.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import requests  # noqa: E402
from _common import NOW, TODAY, percentile, population_file, watchdog  # noqa: E402
from madoguchi.edge import store
from madoguchi.edge.config import JST  # noqa: E402
from madoguchi.edge.model import DocumentKind  # noqa: E402
from madoguchi.edge.verdict import CheckRequest, Method  # noqa: E402
from madoguchi.sim import population  # noqa: E402
from madoguchi.sim.national import NationalSystem  # noqa: E402
from madoguchi.sim.simulator import SimulatedUpstream  # noqa: E402
from madoguchi.sync.device.enroll import enroll_device  # noqa: E402
from madoguchi.sync.device.hubclient import HubClient  # noqa: E402
from madoguchi.sync.hub import api, pki  # noqa: E402
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub.upstream.base import online_source  # noqa: E402

FACILITY = "bench"


def timed(rounds: int, call) -> list[float]:
    for _ in range(min(20, rounds)):
        call()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    path = population_file(args.patients)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    sample = population.samples(args.patients, 1, TODAY, NOW.astimezone(JST))["valid"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE,
                           insurer_number=sample["insurer_number"], symbol=sample["symbol"], number=sample["number"],
                           branch=sample["branch"], birth_date=date.fromisoformat(sample["birth_date"]))
    with tempfile.TemporaryDirectory() as tmp:
        paths = hub.HubPaths(Path(tmp) / "hub")
        with open(path, encoding="utf-8") as lines:
            hub.import_population(paths, FACILITY, lines, TODAY)
        hub.publish(paths, FACILITY)
        upstream = SimulatedUpstream(NationalSystem(records, clock=lambda: NOW))
        static = hub.make_server(paths, "127.0.0.1", 0)
        threading.Thread(target=static.serve_forever, daemon=True).start()
        server = api.ApiServer(api.create_app(paths, lambda: upstream, repository_port=static.server_address[1]),
                               paths, "127.0.0.1", 0).start()
        device = Path(tmp) / "device"
        enroll_device(device, server.url, pki.make_token(paths, FACILITY), timeout=10)
        conn = store.open_database(device)
        client = HubClient.from_data_dir(device)
        live = client.live_source(conn)
        ask = online_source(upstream)
        session = requests.Session()
        ca = str(pki.ca_cert_path(paths))
        body = {k: sample[k] for k in ("insurer_number", "symbol", "number", "branch", "birth_date")}

        def fresh() -> None:
            other = HubClient.from_data_dir(device)
            other.live_source(conn)(request, 5.0)
            other.close()

        results = {
            "in-process": timed(args.rounds, lambda: ask(request, 5.0)),
            "https": timed(args.rounds, lambda: session.get(server.url + "/v1/ca", verify=ca, timeout=5)),
            "hub-check": timed(args.rounds, lambda: client.post_json("/v1/check", body, 5.0)),
            "live": timed(args.rounds, lambda: live(request, 5.0)),
            "new-conn": timed(max(args.rounds // 5, 20), fresh),
        }
        server.stop()
        static.shutdown()
    print(f"live query bench: {args.patients} patients, {args.rounds} rounds, 127.0.0.1, TLS 1.3 (ms)")
    for name, times in results.items():
        print(f"  {name:11} p50 {percentile(times, 50):7.2f}  p99 {percentile(times, 99):7.2f}")
    p50, p99 = (lambda t: (percentile(t, 50), percentile(t, 99)))(results["live"])
    for base in ("in-process", "https"):
        print(f"  live / {base:10} p50 x{p50 / percentile(results[base], 50):.1f}  "
              f"p99 x{p99 / percentile(results[base], 99):.1f}")
    print(f"  live p99 against the 1.5 s budget: {p99 / 1500:.1%}")


if __name__ == "__main__":
    main()
