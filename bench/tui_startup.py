"""Cold start to first frame, and memory, of `madoguchi demo` and `madoguchi tui`, in a real pty.

Each command is started in a 100x30 pseudo-terminal; "first frame" is the moment its output
contains the idle screen's status bar (「本日」). RSS is read from /proc after the first frame
(VmRSS, and VmHWM for the peak). The raw baseline, measured in the same run: a minimal Textual
app that draws one line. Goals: demo <= 0.8 s and <= 60 MB.
"""

from __future__ import annotations

import argparse
import fcntl
import os
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
MARKER = "本日".encode()
BASELINE = """
from textual.app import App
from textual.widgets import Static
class Hello(App):
    def compose(self):
        yield Static("本日 hello")
Hello().run()
"""


def first_frame(argv: list[str], env: dict[str, str], timeout: float = 20.0) -> tuple[float, float, float]:
    """(seconds to first frame, VmRSS MB, VmHWM MB) of one cold start."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        while MARKER not in seen:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"no first frame from {argv} within {timeout} s")
            ready, _, _ = select.select([master], [], [], 0.05)
            if ready:
                seen += os.read(master, 65536)
        elapsed = time.perf_counter() - started
        status = Path(f"/proc/{proc.pid}/status").read_text()
        mem = {line.split(":")[0]: int(line.split()[1]) / 1024 for line in status.splitlines()
               if line.startswith(("VmRSS", "VmHWM"))}
        return elapsed, mem["VmRSS"], mem["VmHWM"]
    finally:
        stop_group(proc)
        os.close(master)


def measure(label: str, argv: list[str], env: dict[str, str], runs: int) -> dict:
    samples = [first_frame(argv, env) for _ in range(runs)]
    result = {"label": label, "first_frame_s": statistics.median(s[0] for s in samples),
              "rss_mb": statistics.median(s[1] for s in samples), "peak_rss_mb": max(s[2] for s in samples)}
    print(f"{label:28} first frame {result['first_frame_s'] * 1000:6.0f} ms   RSS {result['rss_mb']:5.1f} MB"
          f"   peak {result['peak_rss_mb']:5.1f} MB")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([str(MADOGUCHI), "--data-dir", str(data), "population", "--patients", "1000"],
                       check=True, capture_output=True)
        baseline = measure("baseline (minimal Textual)", [str(PYTHON), "-c", BASELINE], env, args.runs)
        demo = measure("madoguchi demo", [str(MADOGUCHI), "demo"], env, args.runs)
        # The same desk without the command line's other imports (sync, doctor): what tui/ costs.
        measure("desk alone (sim.desk)", [str(PYTHON), "-c", "from madoguchi.sim.desk import run_demo_desk; run_demo_desk()"],
                {**env, "PYTHONPATH": str(ROOT)}, args.runs)
        tui = measure("madoguchi tui", [str(MADOGUCHI), "--data-dir", str(data), "tui"], env, args.runs)
    for result in (demo, tui):
        print(f"{result['label']:28} {result['first_frame_s'] / baseline['first_frame_s']:.2f}x baseline time, "
              f"{result['rss_mb'] / baseline['rss_mb']:.2f}x baseline RSS")
    ok = demo["first_frame_s"] <= 0.8 and demo["rss_mb"] <= 60
    print(f"goal (demo <= 0.8 s, <= 60 MB): {'met' if ok else 'NOT met'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
