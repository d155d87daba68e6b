"""Bench: the 資格確認端末 file interface against the fake terminal.

1. Single-check latency through `FileTerminal.check` (build the XML, write req atomically, poll
   res, parse with defusedxml, map onto QualificationRecord, clean up) against a raw baseline in
   the same run: write the same request bytes, poll for the answer with the same interval, read
   its bytes. Both go through the same fake terminal thread.
2. Parse time per response: `oqs_xml.parse_answer` (decode + defusedxml + mapping) against a plain
   `xml.etree.ElementTree.fromstring` of the same bytes, Shift_JIS and UTF-8.

Usage: .venv/bin/python bench/upstream_terminal.py [--checks 300] [--parses 5000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

import defusedxml.ElementTree as SafeET
from _common import NOW, TODAY, percentile, watchdog
from madoguchi.edge.config import JST
from madoguchi.sim import population
from madoguchi.sim.national import NationalSystem
from madoguchi.sync.hub.upstream import oqs_xml
from madoguchi.sync.hub.upstream.base import NumbersQuery
from madoguchi.sync.hub.upstream.terminal import FileTerminal

from tests.integration.fake_terminal import FakeTerminal

POLL = 0.005


def raw_round_trip(share: Path, payload: bytes, index: int) -> float:
    started = time.perf_counter()
    name = f"OQSsiquc01req_RAW{index:08d}.xml"
    temporary = share / "req" / f"tmp_{name}.part"
    temporary.write_bytes(payload)
    temporary.replace(share / "req" / name)
    answer = share / "res" / name.replace("req_", "res_", 1)
    while True:
        try:
            answer.read_bytes()
            break
        except FileNotFoundError:
            time.sleep(POLL)
    answer.unlink()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checks", type=int, default=300)
    parser.add_argument("--parses", type=int, default=5000)
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)

    records = list(population.generate(1000, 1, TODAY, NOW.astimezone(JST)))
    samples = population.samples(1000, 1, TODAY, NOW.astimezone(JST))
    people = [samples[k] for k in ("valid", "lost", "family_member", "kouki", "elderly_70_74", "nondisclosure")]
    queries = [NumbersQuery(p["insurer_number"], p["symbol"], p["number"], date.fromisoformat(p["birth_date"]),
                            p["branch"]) for p in people]
    national = NationalSystem(records, clock=lambda: NOW)

    with tempfile.TemporaryDirectory(prefix="bench-upstream-") as tmp:
        share = Path(tmp) / "share"
        with FakeTerminal(share, national):
            adapter = FileTerminal(share, Path(tmp) / "quarantine", "1312345678", poll_interval=POLL,
                                   clock=lambda: NOW)
            adapter_times, raw_times = [], []
            for i in range(args.checks):  # interleaved so both see the same machine load
                query = queries[i % len(queries)]
                started = time.perf_counter()
                adapter.check(query, 10.0)
                adapter_times.append(time.perf_counter() - started)
                payload = oqs_xml.single_request(query, "1312345678", TODAY, f"RAW{i}", "shift_jis")
                raw_times.append(raw_round_trip(share, payload, i))

    def row(label: str, values: list[float]) -> str:
        return (f"{label:28} median {statistics.median(values) * 1000:7.2f} ms   "
                f"p99 {percentile(values, 99) * 1000:7.2f} ms")

    print(f"single check through the file interface ({args.checks} each, poll {POLL * 1000:.0f} ms, fake terminal)")
    print(row("FileTerminal.check", adapter_times))
    print(row("raw write+poll+read", raw_times))
    print(f"ratio (median) adapter / raw: {statistics.median(adapter_times) / statistics.median(raw_times):.2f}x")

    parse_dir = tempfile.TemporaryDirectory(prefix="bench-upstream-parse-")
    fake = FakeTerminal(Path(parse_dir.name), national)  # never started: only its XML writer is used
    print(f"\nparse time per response ({args.parses} parses, one ResultOfQualificationConfirmation)")
    for encoding in ("shift_jis", "utf-8"):
        fake.encoding = encoding
        info = {"InsurerNumber": people[4]["insurer_number"].rjust(8), "InsuredCardSymbol": people[4]["symbol"],
                "InsuredIdentificationNumber": people[4]["number"], "InsuredBranchNumber": people[4]["branch"],
                "Birthdate": people[4]["birth_date"].replace("-", "")}
        data = fake.single_response(info)
        codec = "cp932" if encoding == "shift_jis" else "utf-8"
        text = data.decode(codec).split("?>", 1)[1]
        started = time.perf_counter()
        for _ in range(args.parses):
            oqs_xml.parse_answer(data, NOW)
        ours = (time.perf_counter() - started) / args.parses
        started = time.perf_counter()
        for _ in range(args.parses):
            ET.fromstring(text)
        raw = (time.perf_counter() - started) / args.parses
        started = time.perf_counter()
        for _ in range(args.parses):
            SafeET.fromstring(text, forbid_dtd=True)
        defused = (time.perf_counter() - started) / args.parses
        print(f"{encoding:10} {len(data):5} bytes  parse_answer {ours * 1e6:6.1f} us   "
              f"plain ElementTree {raw * 1e6:5.1f} us (ratio {ours / raw:.2f}x)   "
              f"defusedxml alone {defused * 1e6:5.1f} us (ratio {ours / defused:.2f}x)")

    known = [r for r in records if r["registered_on"] <= TODAY.isoformat()][:1000]
    fake._batches["R1"] = [{"InsurerNumber": r["insurer_number"].rjust(8), "InsuredCardSymbol": r["symbol"],
                            "InsuredIdentificationNumber": r["number"], "InsuredBranchNumber": r["branch"],
                            "Birthdate": r["birth_date"].replace("-", ""), "ReferenceNumber": r["patient_id"]}
                           for r in known]
    fake.encoding = "shift_jis"
    data = fake._batch_result("R1")
    started = time.perf_counter()
    units = oqs_xml.parse_batch_result(data, NOW)
    elapsed = time.perf_counter() - started
    text = data.decode("cp932").split("?>", 1)[1]
    started = time.perf_counter()
    ET.fromstring(text)
    raw = time.perf_counter() - started
    print(f"batch result of {len(units)} people ({len(data) / 1e6:.1f} MB Shift_JIS): parse_batch_result "
          f"{elapsed * 1000:.0f} ms ({elapsed / len(units) * 1e6:.0f} us a person), plain ElementTree "
          f"{raw * 1000:.0f} ms (ratio {elapsed / raw:.2f}x)")
    parse_dir.cleanup()


if __name__ == "__main__":
    main()
