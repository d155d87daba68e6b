"""A desk check as the desk does it: madoguchi.edge.desk.run_check (decide, the hash-chained audit
entry and the outbox entry, committed) on a cache of N records, offline (every check is decided
from the cache and goes to the outbox), with the store's own `synchronous` (edge.store).

    .venv/bin/python bench/desk_check.py --records 10000 100000 1000000

Raw baseline, measured in the same run on the same database: what a competent engineer writes
for the same three things with plain sqlite3: the indexed SELECT by the five columns, an INSERT
of an audit row chained by SHA-256 to the previous one, an INSERT of an outbox row, one
transaction, COMMIT (into tables of the same shape, so both commit to the same WAL with the same
pragmas). Fair: disjoint random keys per side, the same warm-up, the order alternating from one
check to the next. Also: the same checks with synchronous=NORMAL (no fsync at commit: the fsync's
share), the cost of one fsync of 4 KiB on this disk, the status bar's count of today's checks
(`SELECT count(*) FROM audit WHERE at >= ?`) with and without an index on audit.at, and (with
strace) the fsyncs per check, offline and online (a live answer kept in the overlay first, as
the hub client does).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date, timedelta

from _common import NOW, OUT, TODAY, load_note, percentile, watchdog
from madoguchi.edge import store
from madoguchi.edge.config import JST, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method, OnlineAnswer
from madoguchi.sim import population

WARMUP = 500
RAW_SQL = ("SELECT * FROM qualification WHERE insurer_number = ? AND symbol = ? AND number = ? "
           "AND branch = ? AND birth_date = ?")


def build(directory: str, patients: int, wanted: int) -> tuple:
    """A store of the population (about 1.04 records per patient) and `wanted` random keys."""
    rng = random.Random(7)
    keys: list[dict] = []

    def sampled(records):
        for i, rec in enumerate(records):
            if len(keys) < wanted:
                keys.append(rec)
            elif (j := rng.randrange(i + 1)) < wanted:
                keys[j] = rec
            yield rec

    conn = store.open_database(directory, create=True)
    now = NOW.astimezone(JST)
    known = population.known_on(population.generate(patients, 1, TODAY, now), TODAY)  # keys the cache has
    population.load_population(conn, sampled(known), TODAY, NOW)
    rng.shuffle(keys)
    return conn, [CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=k["insurer_number"],
                               symbol=k["symbol"], number=k["number"], branch=k["branch"],
                               birth_date=date.fromisoformat(k["birth_date"])) for k in keys]


def raw_tables(conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS raw_audit AS SELECT * FROM audit WHERE 0")
    conn.execute("CREATE TABLE IF NOT EXISTS raw_outbox AS SELECT * FROM outbox WHERE 0")


def raw_check(conn, r: CheckRequest, clock) -> None:
    at = clock().isoformat()
    row = conn.execute(RAW_SQL, (r.insurer_number, r.symbol, r.number, r.branch, r.birth_date.isoformat())).fetchone()
    conn.execute("BEGIN IMMEDIATE")
    head = conn.execute("SELECT rowid, hash FROM raw_audit ORDER BY rowid DESC LIMIT 1").fetchone()
    entry_id, prev = (head[0] + 1, head[1]) if head else (1, "")
    values = [entry_id, at, "numbers", "ok", 1, "cache", row[store.AS_OF] if row else None, 0, row[0] if row else None]
    digest = hashlib.sha256((prev + json.dumps(values)).encode()).hexdigest()
    conn.execute("INSERT INTO raw_audit (id, at, method, verdict, validity, source, data_as_of, data_age_seconds, "
                 "record_id, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", (*values, prev, digest))
    conn.execute("INSERT INTO raw_outbox (audit_id, created_at, request, verdict, source) VALUES (?, ?, ?, ?, ?)",
                 (entry_id, at, json.dumps([r.insurer_number, r.symbol, r.number, r.branch]), "ok", "cache"))
    conn.execute("COMMIT")


def timed(call, *args) -> float:
    t0 = time.perf_counter()
    call(*args)
    return (time.perf_counter() - t0) * 1000


def measure(conn, ours_keys, raw_keys, clock, policy) -> tuple[list[float], list[float]]:
    ours = lambda r: run_check(conn, r, policy, None, clock=clock)  # noqa: E731
    raw = lambda r: raw_check(conn, r, clock)  # noqa: E731
    for o, r in zip(ours_keys[:WARMUP], raw_keys[:WARMUP], strict=True):
        ours(o)
        raw(r)
    t_ours, t_raw = [], []
    for i, (o, r) in enumerate(zip(ours_keys[WARMUP:], raw_keys[WARMUP:], strict=True)):
        if i % 2:
            t_raw.append(timed(raw, r))
            t_ours.append(timed(ours, o))
        else:
            t_ours.append(timed(ours, o))
            t_raw.append(timed(raw, r))
    return t_ours, t_raw


def fsync_ms(directory: str, rounds: int = 200) -> float:
    path = os.path.join(directory, "fsync.probe")
    times = []
    with open(path, "wb") as f:
        for _ in range(rounds):
            f.write(os.urandom(4096))
            f.flush()
            t0 = time.perf_counter()
            os.fsync(f.fileno())
            times.append((time.perf_counter() - t0) * 1000)
    os.unlink(path)
    return statistics.median(times)


def count_today_ms(conn, since: str, rounds: int = 200) -> float:
    sql = "SELECT count(*) FROM audit WHERE at >= ?"
    return statistics.median(timed(lambda: conn.execute(sql, (since,)).fetchone()) for _ in range(rounds))


def probe(mode: str, checks: int) -> None:
    """Run under strace: a small store, then `checks` checks (offline, or online with the live
    answer saved first as the hub client does)."""
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        conn, requests = build(tmp, 1000, max(checks, 1))
        clock = lambda: NOW  # noqa: E731

        def online(request: CheckRequest, budget: float) -> OnlineAnswer:
            found = store.find_by_numbers(conn, request.insurer_number, request.symbol, request.number,
                                          request.branch, request.birth_date)
            answer = OnlineAnswer(found[0].validity, tuple(replace(r, as_of=NOW) for r in found), NOW)
            store.save_live_records(conn, answer.records)
            return answer

        print("checks", flush=True)  # strace counts from here on only: see fsyncs_per_check
        for r in requests[:checks]:
            run_check(conn, r, Policy(), online if mode == "online" else None, clock=clock)
        conn.close()


def fsyncs_per_check(mode: str, checks: int = 200) -> float | None:
    """fsync + fdatasync calls per check, counted by strace (the store's setup subtracted)."""
    if not shutil.which("strace"):
        return None
    counts = []
    for n in (0, checks):
        out = subprocess.run(["strace", "-f", "-qq", "-c", "-e", "trace=fsync,fdatasync", sys.executable, __file__,
                              "--probe", mode, "--checks", str(n)], capture_output=True, text=True, timeout=600)
        if out.returncode:
            raise RuntimeError(f"the {mode} probe failed: {out.stderr[-2000:]}")
        counts.append(sum(int(m.group(1)) for m in re.finditer(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?"
                                                               r"f(?:data)?sync$", out.stderr, re.M)))
    return (counts[1] - counts[0]) / checks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        help="patients in the cache (records ≈ 1.04×)")
    parser.add_argument("--checks", type=int, default=3000, help="timed checks per side and setting")
    parser.add_argument("--watchdog", type=float, default=3600.0, help="give up after this many seconds in all")
    parser.add_argument("--probe", choices=("offline", "online"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    watchdog(args.watchdog)
    if args.probe:
        probe(args.probe, args.checks)
        return
    for mode in ("offline", "online"):
        count = fsyncs_per_check(mode)
        print(f"fsync calls per {mode} check (strace): " + (f"{count:.2f}" if count is not None else "no strace"))
    policy = Policy()
    ticks = iter(range(10**9))
    clock = lambda: NOW + timedelta(milliseconds=next(ticks))  # noqa: E731  (checks in time order, as at the desk)
    print(f"desk check: run_check (decide + audit + outbox, committed), offline, vs raw sqlite3; {load_note()}")
    print("fair: disjoint random keys per side, the same warm-up, order alternating each check, same DB and pragmas")
    for patients in args.records:
        per_side = WARMUP + args.checks
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            t0 = time.perf_counter()
            conn, requests = build(tmp, patients, 4 * per_side)
            raw_tables(conn)
            records = conn.execute("SELECT count(*) FROM qualification").fetchone()[0]
            configured = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[conn.execute("PRAGMA synchronous").fetchone()[0]]
            print(f"\n{records:,} records (built in {time.perf_counter() - t0:.0f} s); synchronous={configured} "
                  f"as edge.store opens it; {args.checks} timed checks per side")
            results = {}
            for label, setting, (a, b) in ((configured, configured, (0, 1)), ("NORMAL", "NORMAL", (2, 3))):
                conn.execute(f"PRAGMA synchronous = {setting}")
                ours, raw = measure(conn, requests[a * per_side:(a + 1) * per_side],
                                    requests[b * per_side:(b + 1) * per_side], clock, policy)
                results[label] = ours
                p = {n: (percentile(v, 50), percentile(v, 99)) for n, v in (("run_check", ours), ("raw", raw))}
                print(f"  synchronous={label:6}  run_check p50 {p['run_check'][0]:.3f} p99 {p['run_check'][1]:.3f} ms"
                      f"   raw p50 {p['raw'][0]:.3f} p99 {p['raw'][1]:.3f} ms"
                      f"   ratio p50 {p['run_check'][0] / p['raw'][0]:.2f}x p99 {p['run_check'][1] / p['raw'][1]:.2f}x")
            conn.execute("PRAGMA synchronous = FULL")
            share = percentile(results[configured], 50) - percentile(results["NORMAL"], 50)
            print(f"  commit fsync's share of a check (p50 {configured} - NORMAL): {share:.3f} ms; "
                  f"one fsync of 4 KiB on this disk: {fsync_ms(tmp):.3f} ms")
            entries = conn.execute("SELECT count(*) FROM audit").fetchone()[0]
            since = (NOW + timedelta(milliseconds=entries // 2)).isoformat()  # half the log is "today"
            indexed = [r[1] for r in conn.execute("PRAGMA index_list(audit)")]
            scan = count_today_ms(conn, since) if not indexed else None
            conn.execute("CREATE INDEX IF NOT EXISTS bench_audit_at ON audit (at)")
            with_index = count_today_ms(conn, since)
            print(f"  status count of today's checks over {entries:,} audit rows: "
                  + (f"no index {scan:.3f} ms, " if scan is not None else f"(store has {indexed}) ")
                  + f"with an index on at {with_index:.3f} ms")
            conn.close()


if __name__ == "__main__":
    main()
