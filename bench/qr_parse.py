"""Parse time per scanned code, against a raw `bytes.decode('shift_jis').split` baseline, and
fuzzing counts.

    .venv/bin/python bench/qr_parse.py [--fuzz 20000]

For each code: median microseconds of `classify()` (recognise + parse + My Number scrub) and
of the baseline measured in the same run, and their ratio. Then arbitrary and JAHIS-prefixed
random payloads through `classify()`: how many, of which kind, and how many raised (must be 0).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from madoguchi.edge.qr import ScanSource, classify  # noqa: E402
from madoguchi.edge.qr.jahis import build_jahis  # noqa: E402
from madoguchi.edge.qr.split import join_in_order, split_payload  # noqa: E402
from madoguchi.sim.documents import SAMPLE_PERSON, prescription_from_person  # noqa: E402

TODAY = date(2026, 11, 16)


def codes() -> dict[str, bytes]:
    person = replace(prescription_from_person({**SAMPLE_PERSON, "name": "髙橋　葵"}), exchange_number="1234567890123456")
    found = {f"JAHIS{v}": build_jahis(person, v, eof=True) for v in (2, 5, 7, 10)}
    found["JAHIS10 era year-month"] = build_jahis(person, 10, birth_form="era_year_month")
    found["JAHIS10 split 4 (join+parse)"] = build_jahis(person, 10)
    found["e-prescription copy"] = "01130012,1234567,89,00,19800401,1234567890123456".encode("utf-8")
    found["patient card"] = b"00012345"
    found["portal link"] = b"https://myna.go.jp/SCK0101_01_001/SCK0101_01_001_InitDiscsys.form"
    found["My Number (refused)"] = b"983205673214"
    return found


def timed(function, repeat: int) -> float:
    """Median microseconds per call over `repeat` batches of 50 calls."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        for _ in range(50):
            function()
        samples.append((time.perf_counter() - started) / 50 * 1e6)
    return statistics.median(samples)


def bench_codes(repeat: int) -> None:
    print(f"{'code':32} {'bytes':>6} {'classify µs':>12} {'baseline µs':>12} {'ratio':>7}")
    for label, payload in codes().items():
        if "split" in label:
            parts = split_payload(payload, 4)
            run = lambda parts=parts: classify(join_in_order(parts), ScanSource.CAMERA, today=TODAY)  # noqa: E731
        else:
            run = lambda payload=payload: classify(payload, today=TODAY)  # noqa: E731
        baseline = lambda payload=payload: [line.split(",") for line in  # noqa: E731
                                            payload.decode("shift_jis", errors="replace").split("\r\n")]
        ours, raw = timed(run, repeat), timed(baseline, repeat)
        print(f"{label:32} {len(payload):6d} {ours:12.1f} {raw:12.2f} {ours / raw:7.0f}x")


def bench_fuzz(count: int, seed: int) -> None:
    rng = random.Random(seed)
    kinds: Counter = Counter()
    raised = 0
    started = time.perf_counter()
    for i in range(count):
        noise = rng.randbytes(rng.randint(0, 300))
        payload = noise if i % 2 else b"JAHIS10\r\n" + noise.replace(b"\x00", b",")
        try:
            kinds[classify(payload, ScanSource(rng.choice(["serial", "wedge", "camera"])), today=TODAY).kind.value] += 1
        except Exception:  # classify must never raise: counted, reported
            raised += 1
    elapsed = time.perf_counter() - started
    print(f"\nfuzz: {count} payloads (half JAHIS-prefixed) in {elapsed:.2f} s "
          f"({elapsed / count * 1e6:.0f} µs each), raised: {raised}")
    print("  kinds: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--fuzz", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    bench_codes(args.repeat)
    bench_fuzz(args.fuzz, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
