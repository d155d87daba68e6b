"""Hub load bench: 1/8/32 enrolled devices asking `hub serve` live (POST /v1/check over mTLS).

    .venv/bin/python bench/hub_load.py --patients 10000 --devices 1 8 32 --seconds 10 --runs 3

The hub is the real `madoguchi hub serve` in its own process (its default workers, upstream the
simulator on the real clock, so every answer is newer than the roster's and the roster is
written as in production). Each device is enrolled with its own one-time token and key, and asks
for random patients of the population, one request at a time on its own keep-alive TLS
connection (a closed loop: a device sends its next check when the answer is back). The load
generator runs in 2 processes of `http.client` threads, cheaper than the desk's `requests`
client, so that it leaves the hub as much of the machine as it can; the desk's own client cost
is bench/live_query.py's. Prints, per number of devices, the median over the runs of checks/s,
p50/p99 in ms and the hub's CPU (user+system of the hub and its workers, in cores), with the
load average: the machine may be shared.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import CHILDREN, ROOT, TODAY, load_note, percentile, population_file, watchdog
from madoguchi.sync.device.enroll import enroll_device
from madoguchi.sync.device.hubclient import load_enrollment
from madoguchi.sync.hub import pki
from madoguchi.sync.hub import repository as hub

FACILITY = "bench"
CLIENT_PROCESSES = 2
REQUEST_TIMEOUT = 10.0


def hub_cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its children (the API workers), in seconds."""
    total = 0.0
    pids = [pid]
    try:
        pids += [int(c) for t in os.listdir(f"/proc/{pid}/task")
                 for c in Path(f"/proc/{pid}/task/{t}/children").read_text().split()]
    except OSError:
        pass
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def device_loop(device_dir: str, keys: list[dict], start: float, stop: float, seed: int, out: list) -> None:
    enrollment = load_enrollment(Path(device_dir))
    context = ssl.create_default_context(cafile=str(enrollment.ca))
    context.load_cert_chain(str(enrollment.cert), str(enrollment.key))
    host, port = enrollment.hub_url.removeprefix("https://").rsplit(":", 1)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=REQUEST_TIMEOUT)
    rng = random.Random(seed)
    while time.time() < start:
        time.sleep(0.001)
    while (now := time.time()) < stop:
        body = json.dumps({**rng.choice(keys), "budget_seconds": 1.5})
        t0 = time.perf_counter()
        try:
            conn.request("POST", "/v1/check", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            json.loads(response.read())
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
        out.append((now, (time.perf_counter() - t0) * 1000, status))
    conn.close()


def client_process(device_dirs: list[str], keys: list[dict], start: float, stop: float, queue) -> None:
    results: list = []
    threads = [threading.Thread(target=device_loop, args=(d, keys, start, stop, i, results), daemon=True)
               for i, d in enumerate(device_dirs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(stop - time.time() + REQUEST_TIMEOUT + 5)
    queue.put(results)


def one_run(hub_pid: int, devices: list[str], keys: list[dict], warmup: float, seconds: float) -> dict:
    start = time.time() + 1.0
    measure_from, stop = start + warmup, start + warmup + seconds
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    groups = [devices[i::CLIENT_PROCESSES] for i in range(CLIENT_PROCESSES) if devices[i::CLIENT_PROCESSES]]
    procs = [ctx.Process(target=client_process, args=(g, keys, start, stop, queue)) for g in groups]
    for p in procs:
        p.start()
    time.sleep(max(measure_from - time.time(), 0))
    cpu0, t0 = hub_cpu_seconds(hub_pid), time.time()
    time.sleep(max(stop - time.time(), 0))
    cpu1, t1 = hub_cpu_seconds(hub_pid), time.time()
    results = []
    for _ in procs:
        results += queue.get(timeout=REQUEST_TIMEOUT + 30)
    for p in procs:
        p.join(10)
    window = [(lat, status) for at, lat, status in results if measure_from <= at < stop]
    good = [lat for lat, status in window if status == 200]
    return {"checks_per_s": len(good) / seconds, "errors": len(window) - len(good),
            "p50": percentile(good, 50) if good else float("nan"), "p99": percentile(good, 99) if good else float("nan"),
            "hub_cpu": (cpu1 - cpu0) / (t1 - t0),
            "cpu_ms": (cpu1 - cpu0) / len(good) * 1000 if good else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10000)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--serve-arg", action="append", default=[], help="extra argument for `hub serve`")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.timeout)
    source = population_file(args.patients)
    keys = []
    with open(source, encoding="utf-8") as lines:
        for line in lines:
            r = json.loads(line)
            keys.append({k: r[k] for k in ("insurer_number", "symbol", "number", "branch", "birth_date")})
    load_before = load_note()
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as tmp:
        data = Path(tmp) / "hubdata"
        paths = hub.HubPaths(data / "hub")
        with open(source, encoding="utf-8") as lines:
            hub.import_population(paths, FACILITY, lines, TODAY)
        hub.publish(paths, FACILITY)
        log_path = Path(tmp) / "serve.log"
        serve = subprocess.Popen(
            [sys.executable, "-m", "madoguchi", "--data-dir", str(data), "hub", "serve", "--port", "0",
             "--api-port", "0", "--upstream", "simulator", "--population", str(source), *args.serve_arg],
            stdout=open(log_path, "w"), stderr=subprocess.STDOUT, cwd=tmp)  # not the checkout: $PYTHONPATH wins
        CHILDREN.append(serve)
        try:
            deadline = time.monotonic() + 120
            state = data / "hub" / "api.json"
            while not state.exists():
                if serve.poll() is not None or time.monotonic() > deadline:
                    sys.exit(f"hub serve did not start: {log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            url = json.loads(state.read_text())["url"]
            devices = []
            for i in range(max(args.devices)):
                device = Path(tmp) / f"device-{i}"
                enroll_device(device, url, pki.make_token(paths, FACILITY), timeout=10)
                devices.append(str(device))
            table = {}
            for n in args.devices:
                runs = [one_run(serve.pid, devices[:n], keys, args.warmup, args.seconds) for _ in range(args.runs)]
                table[n] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                table[n]["rates"] = [round(r["checks_per_s"]) for r in runs]
        finally:
            serve.send_signal(signal.SIGTERM)
            try:
                serve.wait(30)
            except subprocess.TimeoutExpired:
                serve.kill()
        conn = hub.open_facility_store(paths, FACILITY)
        changes = conn.execute("SELECT count(*) FROM hub_change").fetchone()[0]
        conn.close()
    print(f"hub load: {args.patients} patients, `hub serve` {' '.join(args.serve_arg) or '(defaults)'}, "
          f"simulator on the real clock; before: {load_before}; after: {load_note()}")
    print(f"medians of {args.runs} runs of {args.seconds:.0f} s (after {args.warmup:.0f} s warm-up each); "
          f"closed loop, one keep-alive mTLS connection per device")
    print(f"{'devices':>7} {'checks/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'hub CPU':>8} {'CPU/check':>10} {'errors':>6}"
          "  runs (checks/s)")
    for n, r in table.items():
        print(f"{n:>7} {r['checks_per_s']:>9.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['hub_cpu']:>7.2f}c "
              f"{r['cpu_ms']:>8.2f}ms {r['errors']:>6.0f}  {r['rates']}")
    print(f"roster rows noted for the next bundle (hub_change): {changes}")


if __name__ == "__main__":
    main()
