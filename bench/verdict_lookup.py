"""Verdict by numbers on a cache of N records: p50/p99 of edge.verdict.decide vs a raw indexed
sqlite3 SELECT of the same row, measured in the same run. Goal: ≤ 1.5× raw, p99 < 0.5 ms."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date

from _common import NOW, ROOT, TODAY, percentile, population_file
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method, decide
from madoguchi.sim.population import load_population


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    source = population_file(args.records)
    rng = random.Random(7)
    keys = []
    with tempfile.TemporaryDirectory(dir=ROOT / "bench" / "out") as tmp:
        conn = store.open_database(tmp, create=True)
        with open(source, encoding="utf-8") as lines:
            records = [json.loads(line) for line in lines] if args.records <= 200_000 else None
            if records is None:
                lines.seek(0)
                load_population(conn, (json.loads(line) for line in lines), TODAY, NOW)
                lines.seek(0)
                for i, line in enumerate(lines):  # reservoir sample of lookup keys
                    if len(keys) < args.lookups:
                        keys.append(json.loads(line))
                    elif (j := rng.randrange(i + 1)) < args.lookups:
                        keys[j] = json.loads(line)
            else:
                load_population(conn, records, TODAY, NOW)
                keys = rng.sample(records, min(args.lookups, len(records)))
        count = conn.execute("SELECT count(*) FROM qualification").fetchone()[0]
        requests = [CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE,
                                 insurer_number=k["insurer_number"], symbol=k["symbol"], number=k["number"],
                                 branch=k["branch"], birth_date=date.fromisoformat(k["birth_date"])) for k in keys]
        raw_sql = ("SELECT * FROM qualification WHERE insurer_number = ? AND symbol = ? AND number = ? "
                   "AND branch = ? AND birth_date = ?")
        policy = Policy()
        for r in requests[:2000]:  # warm the page cache for both
            decide(r, store.Lookup(conn), policy, NOW)
        raw, ours = [], []
        for r in requests:  # interleaved, so both see the same machine noise
            t0 = time.perf_counter()
            conn.execute(raw_sql, (r.insurer_number, r.symbol, r.number, r.branch, r.birth_date.isoformat())).fetchall()
            t1 = time.perf_counter()
            verdict = decide(r, store.Lookup(conn), policy, NOW)
            t2 = time.perf_counter()
            raw.append((t1 - t0) * 1000)
            ours.append((t2 - t1) * 1000)
            assert verdict.record is not None or verdict.validity is not None
    p = {name: (percentile(v, 50), percentile(v, 99)) for name, v in (("raw", raw), ("verdict", ours))}
    print(f"cache: {count:,} records; {len(requests):,} lookups by numbers + birth date")
    for name, (p50, p99) in p.items():
        print(f"{name:8} p50 {p50:.4f} ms  p99 {p99:.4f} ms")
    ratio50, ratio99 = p["verdict"][0] / p["raw"][0], p["verdict"][1] / p["raw"][1]
    print(f"ratio verdict/raw: p50 {ratio50:.2f}x  p99 {ratio99:.2f}x (goal ≤1.5x: "
          f"{'OK' if ratio50 <= 1.5 else 'MISSED'}); p99 goal <0.5 ms: {'OK' if p['verdict'][1] < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
