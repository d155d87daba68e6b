"""Helpers shared by the bench scripts: a cached population file, percentile maths, a watchdog."""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"

from madoguchi.edge.config import JST  # noqa: E402
from madoguchi.sim import population  # noqa: E402

from tests.conftest import NOW, TODAY  # noqa: E402  (a fixed day: the same population every run)


def population_file(patients: int, seed: int = 1) -> Path:
    """The population known on TODAY as JSON lines, generated once and kept in bench/out/."""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"population-{patients}-{seed}-{TODAY}.jsonl"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as out:
            for rec in population.known_on(population.generate(patients, seed, TODAY, NOW.astimezone(JST)), TODAY):
                out.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")
        tmp.rename(path)
    return path


def percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CHILDREN: list[subprocess.Popen] = []  # processes a bench started: killed by the watchdog


def watchdog(seconds: float) -> None:
    """Give up after `seconds` in all: kill the processes in CHILDREN and exit non-zero, so that
    a bench never hangs (a lost message, a stuck child)."""

    def expire(*_) -> None:
        for child in CHILDREN:
            if child.poll() is None:
                child.kill()
        sys.exit(f"{Path(sys.argv[0]).name}: gave up after {seconds:.0f} s (watchdog)")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(seconds)))


def load_note() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f}/{five:.1f} on {os.cpu_count()} cores (the machine may be shared with other work)"


def stop_group(proc: subprocess.Popen) -> None:
    """End a child started in its own session: SIGTERM, then SIGKILL after 5 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
