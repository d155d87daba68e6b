"""Full snapshot bench: hub publish time; device download + decrypt + verify + apply time and
peak RSS; the apply's ratio to raw `executemany` of the same rows in the same run; point
lookups from another process during a full apply (p50/p99/max).

    .venv/bin/python bench/sync_full.py --records 1000000

Goals (issue 4): apply ≤ 1.3 × raw executemany, ≤ 150 MB RSS, lookup p99 < 5 ms.
"""

from __future__ import annotations

import argparse
import json
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
from madoguchi.sync.device.client import init_device  # noqa: E402
from madoguchi.sync.hub import repository as hub  # noqa: E402

FACILITY = "bench"

# The device: one sync run split into its phases, in its own process (for its peak RSS).
DEVICE = """
import json, sys, time
from pathlib import Path
from tuf.ngclient import Updater
from tuf.ngclient.urllib3_fetcher import Urllib3Fetcher
from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.device.client import apply_bundle, load_device_config
def peak_mb():  # VmHWM: ru_maxrss would count the forking parent's size (kept across exec)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
config = load_device_config(Path(sys.argv[1]))
conn = store.open_database(config.data_dir, create=True)
key = bundle.load_facility_key(config.facility_key_path)
t0 = time.perf_counter()
updater = Updater(str(config.metadata_dir), config.url + "/metadata/", str(config.download_dir),
                  config.url + "/targets/", fetcher=Urllib3Fetcher(socket_timeout=10), bootstrap=None)
updater.refresh()
info = updater.get_targetinfo("full.bundle")
path = updater.download_target(info)
t1 = time.perf_counter()
print("applying", flush=True)
c1 = time.process_time()
rows = apply_bundle(conn, path, key, info.custom)
t2 = time.perf_counter()
cpu = time.process_time() - c1
print(json.dumps({"download_s": t1 - t0, "apply_s": t2 - t1, "rows": rows, "bytes": info.length,
                  "path": path, "custom": info.custom,
                  "maxrss_mb": peak_mb(), "cpu_s": cpu}), flush=True)
"""

# Re-apply a downloaded full bundle (the lookup bench needs an apply to run against).
REAPPLY = """
import json, sys
from pathlib import Path
from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.device.client import apply_bundle, load_device_config
config = load_device_config(Path(sys.argv[1]))
conn = store.open_database(config.data_dir)
print("applying", flush=True)
apply_bundle(conn, sys.argv[2], bundle.load_facility_key(config.facility_key_path), json.loads(sys.argv[3]))
print("done", flush=True)
"""

# The raw baseline, as a competent engineer writes it: the same rows (read from the hub's table),
# a plain executemany INSERT into a fresh database opened the same way, the secondary indexes
# built after the load, one transaction. No madoguchi code on the write path.
RAW = """
import json, sys, time
from pathlib import Path
from madoguchi.edge import store
def peak_mb():  # VmHWM: ru_maxrss would count the forking parent's size (kept across exec)
    line = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024
src = store.open_database(Path(sys.argv[1]))
dst = store.open_database(Path(sys.argv[2]), create=True)
for name in store.INDEXES:
    dst.execute(f"DROP INDEX {name}")
columns = ", ".join(store.COLUMN_NAMES)
cursor = src.execute(f"SELECT {columns} FROM qualification ORDER BY record_id")
t0 = time.perf_counter()
c0 = time.process_time()
dst.execute("BEGIN")
dst.executemany(f"INSERT INTO qualification ({columns}) VALUES ({', '.join('?' * len(store.COLUMN_NAMES))})", cursor)
for name, indexed in store.INDEXES.items():
    dst.execute(f"CREATE INDEX {name} ON qualification ({', '.join(indexed)})")
dst.execute("COMMIT")
t1 = time.perf_counter()
print(json.dumps({"raw_s": t1 - t0, "maxrss_mb": peak_mb(), "cpu_s": time.process_time() - c0}))
"""

# Point lookups by the printed numbers, as the desk does, until stdin closes.
LOOKUPS = """
import json, sys, time, threading
from datetime import date
from pathlib import Path
from madoguchi.edge import store
conn = store.open_database(Path(sys.argv[1]))
keys = json.loads(Path(sys.argv[2]).read_text())
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
times = []
i = 0
print("ready", flush=True)
while not stop.is_set():
    k = keys[i % len(keys)]
    t = time.perf_counter()
    store.find_by_numbers(conn, k[0], k[1], k[2], k[3], date.fromisoformat(k[4]))
    times.append((time.monotonic(), time.perf_counter() - t))
    i += 1
    time.sleep(0.001)
print(json.dumps(times))
"""


def python(code: str, *args: str, **kwargs) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", code, *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                             **kwargs)
    CHILDREN.append(child)
    return child


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(p / 100 * len(values)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="work directory (default: a temporary one)")
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    with tempfile.TemporaryDirectory(prefix="sync-bench-", dir=args.dir) as tmp:
        run(Path(tmp), args.records)


def run(tmp: Path, records: int) -> None:
    now = population.default_now(store.utcnow().astimezone(JST).date())
    today = now.date()
    paths = hub.HubPaths(tmp / "hub", tmp / "root-medium")
    patients = int(records / 1.04)
    keys = []

    def lines():
        for rec in population.generate(patients, 1, today, now):
            if len(keys) < 5000 and rec["record_id"] % 97 == 0:
                keys.append([rec["insurer_number"], rec["symbol"], rec["number"], rec["branch"], rec["birth_date"]])
            yield json.dumps(rec, ensure_ascii=False)

    t = time.perf_counter()
    summary = hub.import_population(paths, FACILITY, lines(), today)
    import_s = time.perf_counter() - t
    t = time.perf_counter()
    hub.publish(paths, FACILITY)
    publish_s = time.perf_counter() - t
    print(f"records {summary['records']:,}: hub import {import_s:.1f} s, hub publish (full bundle) {publish_s:.1f} s")

    server = hub.make_server(paths, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    device_dir = tmp / "device"
    init_device(device_dir, paths.trusted_root(FACILITY), paths.facility_key(FACILITY),
                f"http://127.0.0.1:{server.server_address[1]}/{FACILITY}")
    device = python(DEVICE, str(device_dir))
    device.stdout.readline()
    result = json.loads(device.stdout.readline())
    device.wait()
    raw = python(RAW, str(paths.store_dir(FACILITY)), str(tmp / "raw"))
    baseline = json.loads(raw.stdout.readline())
    raw.wait()
    total = result["download_s"] + result["apply_s"]
    print(f"bundle {result['bytes'] / 1e6:.1f} MB ({result['bytes'] / result['rows']:.0f} B/record)")
    print(f"device: download+verify {result['download_s']:.2f} s, decrypt+verify digest+apply "
          f"{result['apply_s']:.2f} s, total {total:.2f} s, peak RSS {result['maxrss_mb']:.0f} MB")
    print(f"raw executemany of the same rows (plain INSERT, indexes built after, same pragmas): "
          f"{baseline['raw_s']:.2f} s (peak RSS {baseline['maxrss_mb']:.0f} MB)")
    print("fair: each side in its own fresh process, the apply first and the raw load after it (both read "
          "warm OS pages: the bundle just downloaded, the hub's table); the apply also decrypts and verifies")
    print(f"CPU time (what a busy machine does not inflate): apply {result['cpu_s']:.2f} s, raw "
          f"{baseline['cpu_s']:.2f} s, ratio {result['cpu_s'] / baseline['cpu_s']:.2f}x")
    print(f"ratio apply / raw = {result['apply_s'] / baseline['raw_s']:.2f}x, "
          f"(download+apply) / raw = {total / baseline['raw_s']:.2f}x  (goal <= 1.3x, <= 150 MB)")

    # Lookups from another process, idle and then during a full apply.
    bundle_copy = Path(result["path"])
    (tmp / "keys.json").write_text(json.dumps(keys))
    lookups = python(LOOKUPS, str(device_dir), str(tmp / "keys.json"), stdin=subprocess.PIPE)
    lookups.stdout.readline()
    time.sleep(2)
    apply = python(REAPPLY, str(device_dir), str(bundle_copy), json.dumps(result["custom"]))
    apply.stdout.readline()
    started = time.monotonic()
    apply.stdout.readline()
    apply.wait()
    ended = time.monotonic()
    lookups.stdin.close()
    times = json.loads(lookups.stdout.readline())
    lookups.wait()
    idle = [d * 1000 for t, d in times if t < started]
    during = [d * 1000 for t, d in times if started <= t <= ended]
    for label, values in (("idle", idle), (f"during a {ended - started:.1f} s apply", during)):
        if values:
            print(f"lookups {label}: n={len(values)} p50 {percentile(values, 50):.3f} ms, "
                  f"p99 {percentile(values, 99):.3f} ms, max {max(values):.2f} ms  (goal p99 < 5 ms)")
    server.shutdown()


if __name__ == "__main__":
    main()
