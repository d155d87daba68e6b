"""Verdict by numbers on a cache of N records: p50/p99 of edge.verdict.decide vs a raw indexed
sqlite3 SELECT of a row by the same five columns, measured in the same run. Goal: ≤ 1.5× raw,
p99 < 0.5 ms. Fair: the two sides look up disjoint random keys (neither reads a page for the
other), both are warmed with the same number of their own keys, and which side goes first
alternates from one lookup to the next (both see the same machine noise). The audit entry and
the outbox write every desk check adds are bench/desk_check.py's."""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import date

from _common import NOW, ROOT, TODAY, percentile, population_file, watchdog
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method, decide
from madoguchi.sim.population import load_population

WARMUP = 2000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=20_000)
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    source = population_file(args.records)
    rng = random.Random(7)
    wanted = 2 * (args.lookups + WARMUP)  # disjoint halves: one for each side
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
                    if len(keys) < wanted:
                        keys.append(json.loads(line))
                    elif (j := rng.randrange(i + 1)) < wanted:
                        keys[j] = json.loads(line)
                rng.shuffle(keys)
            else:
                load_population(conn, records, TODAY, NOW)
                keys = rng.sample(records, min(wanted, len(records)))
        count = conn.execute("SELECT count(*) FROM qualification").fetchone()[0]
        requests = [CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE,
                                 insurer_number=k["insurer_number"], symbol=k["symbol"], number=k["number"],
                                 branch=k["branch"], birth_date=date.fromisoformat(k["birth_date"])) for k in keys]
        half = len(requests) // 2
        raw_requests, our_requests = requests[:half], requests[half:]
        raw_sql = ("SELECT * FROM qualification WHERE insurer_number = ? AND symbol = ? AND number = ? "
                   "AND branch = ? AND birth_date = ?")
        policy = Policy()

        def run_raw(r: CheckRequest) -> float:
            t0 = time.perf_counter()
            conn.execute(raw_sql, (r.insurer_number, r.symbol, r.number, r.branch, r.birth_date.isoformat())).fetchall()
            return (time.perf_counter() - t0) * 1000

        def run_ours(r: CheckRequest) -> float:
            t0 = time.perf_counter()
            verdict = decide(r, store.Lookup(conn), policy, NOW)
            elapsed = (time.perf_counter() - t0) * 1000
            assert verdict.record is not None or verdict.validity is not None
            return elapsed

        warm = min(WARMUP, half // 10)
        for r, o in zip(raw_requests[:warm], our_requests[:warm], strict=True):  # the same warm-up for both
            run_raw(r)
            run_ours(o)
        raw, ours = [], []
        for i, (r, o) in enumerate(zip(raw_requests[warm:], our_requests[warm:], strict=True)):
            if i % 2:
                ours.append(run_ours(o))
                raw.append(run_raw(r))
            else:
                raw.append(run_raw(r))
                ours.append(run_ours(o))
    p = {name: (percentile(v, 50), percentile(v, 99)) for name, v in (("raw", raw), ("verdict", ours))}
    print(f"cache: {count:,} records; {len(raw):,} lookups per side by numbers + birth date")
    print("fair: disjoint random keys per side, the same warm-up for both, the order alternated each lookup")
    for name, (p50, p99) in p.items():
        print(f"{name:8} p50 {p50:.4f} ms  p99 {p99:.4f} ms")
    ratio50, ratio99 = p["verdict"][0] / p["raw"][0], p["verdict"][1] / p["raw"][1]
    print(f"ratio verdict/raw: p50 {ratio50:.2f}x  p99 {ratio99:.2f}x (goal ≤1.5x: "
          f"{'OK' if ratio50 <= 1.5 else 'MISSED'}); p99 goal <0.5 ms: {'OK' if p['verdict'][1] < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
