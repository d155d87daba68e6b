"""Loading N records into an empty store vs raw executemany of the same rows, in one transaction.

Each contender runs in its own process (for a clean peak RSS) reading the same JSON-lines file:
- raw: what a competent engineer writes: sqlite3 executemany of a plain INSERT into the table
  with its secondary indexes dropped, the indexes built after the load, one transaction;
- madoguchi: edge.store.replace_all_records as a full sync apply does (a fresh table, indexes
  built after, swapped in).
Fair: both build their rows with the same function (edge.store.record_row), open the database
the same way (edge.store.open_database: WAL, synchronous=FULL, 64 MB page cache), build the
same indexes after the load, and run in fresh processes; the order of the two alternates from
one run to the next (the source file is in the OS cache for both after the first), and the
figures are medians over the runs. Goal: madoguchi ≤ 1.3× raw, peak RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, peak_rss_mb, population_file, watchdog


def contender(kind: str, source: Path, target: Path) -> None:
    from madoguchi.edge import store

    conn = store.open_database(target, create=True)
    columns = store.COLUMN_NAMES
    started = time.perf_counter()
    with open(source, encoding="utf-8") as lines:
        records = (json.loads(line) for line in lines)
        if kind == "madoguchi":
            with store.transaction(conn):
                count = store.replace_all_records(conn, (store.record_row(r) for r in records))
        else:
            for name in store.INDEXES:
                conn.execute(f"DROP INDEX {name}")
            sql = f"INSERT INTO qualification ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            conn.execute("BEGIN")
            count = conn.executemany(sql, (store.record_row(r) for r in records)).rowcount
            for name, indexed in store.INDEXES.items():
                conn.execute(f"CREATE INDEX {name} ON qualification ({', '.join(indexed)})")
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    print(json.dumps({"kind": kind, "rows": count, "seconds": elapsed, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="people to generate (records ≈ 1.04×)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for one contender's run")
    parser.add_argument("--watchdog", type=float, default=3600.0, help="give up after this many seconds in all")
    parser.add_argument("--contender")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--target", type=Path)
    args = parser.parse_args()
    watchdog(args.watchdog)
    if args.contender:
        contender(args.contender, args.source, args.target)
        return
    source = population_file(args.records)
    results: dict[str, list[dict]] = {"raw": [], "madoguchi": []}
    for run in range(args.runs):
        for kind in ("raw", "madoguchi") if run % 2 == 0 else ("madoguchi", "raw"):
            with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as tmp:
                out = subprocess.run([sys.executable, __file__, "--contender", kind, "--source", str(source),
                                      "--target", tmp], capture_output=True, text=True, check=True,
                                     timeout=args.timeout)
                results[kind].append(json.loads(out.stdout))
    median = {kind: {k: statistics.median(r[k] for r in runs) for k in ("rows", "seconds", "peak_rss_mb")}
              for kind, runs in results.items()}
    base = median["raw"]["seconds"]
    print(f"load: medians of {args.runs} runs, contenders alternating, each in a fresh process; "
          f"load average {os.getloadavg()[0]:.1f} (the machine may be shared)")
    print("fair: rows built by the same function, the same indexes built after the load on both sides")
    for kind, r in median.items():
        runs = ", ".join(f"{x['seconds']:.2f}" for x in results[kind])
        print(f"{kind:10} {r['rows']:>9,.0f} rows  {r['seconds']:6.2f} s  {r['rows'] / r['seconds']:>9,.0f} rows/s  "
              f"peak RSS {r['peak_rss_mb']:6.1f} MB  ratio to raw {r['seconds'] / base:4.2f}x  (runs: {runs} s)")
    m = median["madoguchi"]
    print(f"goal ≤1.3x raw: {m['seconds'] / base:.2f}x {'OK' if m['seconds'] / base <= 1.3 else 'MISSED'}; "
          f"memory {m['peak_rss_mb'] / median['raw']['peak_rss_mb']:.2f}x raw; "
          f"goal RSS ≤150 MB: {m['peak_rss_mb']:.0f} MB {'OK' if m['peak_rss_mb'] <= 150 else 'MISSED'}")

if __name__ == "__main__":
    main()
