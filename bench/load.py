"""Loading N records into an empty store vs raw executemany of the same rows, in one transaction.

Each contender runs in its own process (for a clean peak RSS) reading the same JSON-lines file:
- raw: sqlite3 executemany into the same indexed table, rows built inline (the baseline);
- raw-noindex: the same into a table without secondary indexes (for reference);
- madoguchi: edge.store.replace_all_records as a full sync apply does (indexes built after).
Goal: madoguchi ≤ 1.3× raw, peak RSS ≤ 150 MB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, peak_rss_mb, population_file


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
            if kind == "raw-noindex":
                for name in store.INDEXES:
                    conn.execute(f"DROP INDEX {name}")
            sql = f"INSERT INTO qualification ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            conn.execute("BEGIN")
            count = conn.executemany(sql, (
                tuple(json.dumps(r[c], ensure_ascii=False) if c == "specific_diseases" else r[c] for c in columns)
                for r in records)).rowcount
            conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    print(json.dumps({"kind": kind, "rows": count, "seconds": elapsed, "peak_rss_mb": peak_rss_mb()}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000, help="people to generate (records ≈ 1.04×)")
    parser.add_argument("--contender")
    parser.add_argument("--source", type=Path)
    parser.add_argument("--target", type=Path)
    args = parser.parse_args()
    if args.contender:
        contender(args.contender, args.source, args.target)
        return
    source = population_file(args.records)
    results = {}
    for kind in ("raw", "raw-noindex", "madoguchi"):
        with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as tmp:
            out = subprocess.run([sys.executable, __file__, "--contender", kind, "--source", str(source),
                                  "--target", tmp], capture_output=True, text=True, check=True)
            results[kind] = json.loads(out.stdout)
    base = results["raw"]["seconds"]
    for kind, r in results.items():
        print(f"{kind:12} {r['rows']:>9,} rows  {r['seconds']:6.2f} s  {r['rows'] / r['seconds']:>9,.0f} rows/s  "
              f"peak RSS {r['peak_rss_mb']:6.1f} MB  ratio to raw {r['seconds'] / base:4.2f}x")
    m = results["madoguchi"]
    print(f"goal ≤1.3x raw: {m['seconds'] / base:.2f}x {'OK' if m['seconds'] / base <= 1.3 else 'MISSED'}; "
          f"goal RSS ≤150 MB: {m['peak_rss_mb']:.0f} MB {'OK' if m['peak_rss_mb'] <= 150 else 'MISSED'}")


if __name__ == "__main__":
    main()
