"""CPU time of the desk's start-up and of a check, here, and what that makes on a Raspberry Pi.

CPU seconds (user + system) rather than wall time: they do not depend on how busy the machine
is, and start-up and a check are single-threaded, so a Pi's slower core scales them by a factor
(stated below, an assumption from published single-thread benchmarks, not measured here). The
raw baseline in the same run: the interpreter alone (`python -c pass`). Wall times are printed
too; a check's wall time also holds the fsync of its audit entry (on an SD card: see the README).
Memory on arm64: tests/arm64/test_arm64.py (under emulation).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import resource
import select
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from _common import stop_group

ROOT = Path(__file__).resolve().parents[1]
MADOGUCHI = ROOT / ".venv" / "bin" / "madoguchi"
PYTHON = ROOT / ".venv" / "bin" / "python"
# How many times longer a single-threaded Python task runs than on this project's x86-64 machines.
PI_FACTORS = {"Pi 4 (Cortex-A72, 1.8 GHz)": 5.0, "Pi 5 (Cortex-A76, 2.4 GHz)": 2.5}
CLOCK_TICK = os.sysconf("SC_CLK_TCK")


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICK  # utime + stime


def desk_start(data: Path, timeout: float = 60.0) -> tuple[float, float]:
    """(CPU s, wall s) of `madoguchi tui` up to its first frame (the status bar's 「本日」), in a pty."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "MADOGUCHI_CONFIG": os.devnull}
    started = time.perf_counter()
    proc = subprocess.Popen([str(MADOGUCHI), "--data-dir", str(data), "tui"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while "本日".encode() not in seen:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"no first frame within {timeout} s")
            if select.select([master], [], [], 0.05)[0]:
                seen += os.read(master, 65536)
        return cpu_of(proc.pid), time.perf_counter() - started
    finally:
        stop_group(proc)
        os.close(master)


def process(argv: list[str]) -> tuple[float, float]:
    """(CPU s, wall s) of one process run to its end."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env={**os.environ, "MADOGUCHI_CONFIG": os.devnull})
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, time.perf_counter() - started


IN_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.numbers import parse_birth_date
from madoguchi.edge.verdict import CheckRequest, Method
from madoguchi.edge.model import DocumentKind
p = json.loads(sys.argv[2])
conn = store.open_database(Path(sys.argv[1]))
request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=p["insurer_number"],
                       symbol=p["symbol"], number=p["number"], branch=p["branch"],
                       birth_date=parse_birth_date(p["birth_date"]))
cpu, wall = [], []
for _ in range(int(sys.argv[3])):
    c, w = time.process_time(), time.perf_counter()
    assert run_check(conn, request, Policy()).verdict.outcome.value == "ok"
    cpu.append(time.process_time() - c)
    wall.append(time.perf_counter() - w)
print(json.dumps([statistics.median(cpu), statistics.median(wall)]))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--checks", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        out = subprocess.run([str(MADOGUCHI), "--data-dir", str(data), "population", "--patients", "1000", "--json"],
                             check=True, capture_output=True, text=True, env={**os.environ, "MADOGUCHI_CONFIG": os.devnull})
        person = json.loads(out.stdout)["samples"]["valid"]
        numbers = ["--insurer", person["insurer_number"], "--symbol", person["symbol"], "--number", person["number"],
                   "--branch", person["branch"], "--birth", person["birth_date"], "--json"]
        rows = {
            "python -c pass (raw)": [process([str(PYTHON), "-c", "pass"]) for _ in range(args.runs)],
            "desk start-up to first frame": [desk_start(data) for _ in range(args.runs)],
            "`madoguchi check` (a process)": [process([str(MADOGUCHI), "--data-dir", str(data), "check", *numbers])
                                              for _ in range(args.runs)],
        }
        cpu, wall = json.loads(subprocess.run([str(PYTHON), "-c", IN_PROCESS, str(data), json.dumps(person),
                                               str(args.checks)], check=True, capture_output=True, text=True).stdout)
    print(f"{'':34} {'CPU here':>9} {'wall here':>10}  " + "  ".join(f"{name[:5]:>9}" for name in PI_FACTORS))
    for label, samples in rows.items():
        c, w = statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)
        print(f"{label:34} {c:8.2f}s {w:9.2f}s  " + "  ".join(f"{c * f:8.2f}s" for f in PI_FACTORS.values()))
    print(f"{'a check in the desk (in process)':34} {cpu * 1000:7.1f}ms {wall * 1000:8.1f}ms  "
          + "  ".join(f"{cpu * 1000 * f:7.1f}ms" for f in PI_FACTORS.values()))
    print("Pi columns: CPU here x " + ", ".join(f"{f:g} ({name})" for name, f in PI_FACTORS.items())
          + "; add the SD card's fsync to each check (README, Pi budget)")
    sys.exit(0)


if __name__ == "__main__":
    main()
