"""Run inside the arm64 root (`scripts/arm64 run`) by tests/arm64/test_arm64.py, on Debian's own
Python (standard library only): install madoguchi as install.sh installs it on a desk without
PyPI (the lock's files downloaded beforehand), enrolled with the hub on the host, then make it
answer. Each step's outcome goes into /share/results.json;
the test on the host judges them. Handshake with the host: /share/installed is written after the
install, and the host answers with /share/republished once the hub holds the larger population.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

SHARE = Path("/share")
ADMIN = "/usr/local/bin/madoguchi"  # the wrapper: as the madoguchi user, with the database key
UNIT_TESTS = ["tests/unit/test_numbers.py", "tests/unit/test_model.py", "tests/unit/test_verdict.py",
              "tests/unit/test_reconcile.py", "tests/unit/test_store.py"]
results: dict = {}


def save() -> None:
    (SHARE / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))


def run(name: str, command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """COMMAND's outcome, wall time and peak memory (the largest process it waited for, in MB:
    under qemu-user, the emulator's own memory included) recorded under NAME."""
    probe = ("import resource, subprocess, sys; status = subprocess.run(sys.argv[1:]).returncode; "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(status)")
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True,
                            timeout=timeout, **kwargs)
    *stderr, peak = result.stderr.rstrip("\n").split("\n")
    result.stderr = "\n".join(stderr)
    results[name] = {"returncode": result.returncode, "seconds": round(time.monotonic() - started, 1),
                     "peak_mb": round(int(peak) / 1024, 1), "stdout": result.stdout[-20000:],
                     "stderr": result.stderr[-4000:]}
    save()
    return result


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        found.extend(kids)
        todo.extend(kids)
    return found


def peak_mb(pid: int) -> float:
    """The largest VmHWM (peak resident memory) among PID's descendants, in MB."""
    peaks = [0]
    for child in descendants(pid):
        try:
            status = Path(f"/proc/{child}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        peaks.append(int(match.group(1)) if match else 0)
    return round(max(peaks) / 1024, 1)


def desk_first_frame() -> None:
    """`madoguchi tui` (the production desk) in a 100x30 tmux pane: its first frame, the time to it."""
    tmux = ["tmux", "-L", "arm64", "-f", "/dev/null"]
    started = time.monotonic()
    subprocess.run([*tmux, "new-session", "-d", "-s", "ui", "-x", "100", "-y", "30", ADMIN, "tui"], check=True,
                   timeout=30)
    pane = int(subprocess.run([*tmux, "display-message", "-p", "-t", "ui", "#{pane_pid}"], capture_output=True,
                              text=True, timeout=30).stdout)
    screen = ""
    try:
        deadline = started + 180
        while time.monotonic() < deadline and not re.search(r"本日 \d+件", screen):
            time.sleep(0.5)
            screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "ui"], capture_output=True, text=True,
                                    timeout=30).stdout
        seconds = round(time.monotonic() - started, 1)
        time.sleep(2)  # still up: not a crash screen on its way out
        screen = subprocess.run([*tmux, "capture-pane", "-p", "-t", "ui"], capture_output=True, text=True,
                                timeout=30).stdout
        results["desk"] = {"screen": screen, "seconds_to_first_frame": seconds, "peak_mb": peak_mb(pane)}
    finally:
        # The desk outlives the pane (its wrapper waits for it on SIGHUP): stopped here, or it would
        # take a core from every later step.
        desk = [pane, *descendants(pane)]
        subprocess.run([*tmux, "kill-server"], capture_output=True, timeout=30)
        stop(desk)
    save()


def stop(pids: list[int]) -> None:
    for sig, grace in ((signal.SIGTERM, 60), (signal.SIGKILL, 10)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(map(alive, pids)):
            time.sleep(0.5)


def alive(pid: int) -> bool:
    """PID runs (a zombie does not: this script is the PID namespace's init and reaps no orphan)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def sync_daemon() -> None:
    """`madoguchi sync daemon` until its first run is over (its sd_notify STATUS says so)."""
    path = "/tmp/notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    os.chmod(path, 0o777)  # the daemon runs as the madoguchi user
    listener.settimeout(5)
    started = time.monotonic()
    daemon = subprocess.Popen([ADMIN, "sync", "daemon"], env=os.environ | {"NOTIFY_SOCKET": path},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    messages: list[str] = []
    try:
        while time.monotonic() < started + 300 and daemon.poll() is None:
            try:
                messages.append(listener.recv(4096).decode())
            except TimeoutError:
                continue
            if messages[-1].startswith("STATUS=") and "first sync starting" not in messages[-1]:
                break
        results["daemon"] = {"messages": messages, "seconds": round(time.monotonic() - started, 1),
                             "peak_mb": peak_mb(daemon.pid), "running": daemon.poll() is None}
    finally:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait()
        results.setdefault("daemon", {})["stderr"] = daemon.stderr.read()[-3000:]
        listener.close()
    save()


def wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"on_device: {path} did not appear within {timeout:.0f} s")
        time.sleep(1)


def main() -> None:
    hub_api, token = sys.argv[1:3]
    person = json.loads((SHARE / "person.json").read_text())
    results["machine"] = os.uname().machine
    run("python", [sys.executable, "-c", "pass"], timeout=120)  # the emulator's own share of peak memory
    # Offline, from the lock's arm64 files that scripts/arm64 downloaded (docs/appliance.md, offline install).
    install = run("install", ["./install.sh", "--device", "--no-kiosk", "--hub-url", hub_api, "--token", token],
                  timeout=1800, stdin=subprocess.DEVNULL,
                  env=os.environ | {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/opt/wheels"})
    if install.returncode != 0:
        return
    run("doctor", [ADMIN, "doctor", "--json"], timeout=300)
    run("check", [ADMIN, "check", "--insurer", person["insurer_number"], "--symbol", person["symbol"],
                  "--number", person["number"], "--branch", person["branch"], "--birth", person["birth_date"],
                  "--json"], timeout=300)
    qr = Path("/tmp/prescription.bin")  # readable by the madoguchi user
    qr.write_bytes((SHARE / "prescription.bin").read_bytes())
    qr.chmod(0o644)
    run("jahis", [ADMIN, "check", "--qr-file", str(qr), "--json"], timeout=300)
    desk_first_frame()
    sync_daemon()

    (SHARE / "installed").touch()
    wait_for(SHARE / "republished", timeout=1800)
    run("apply", [ADMIN, "sync", "once"], timeout=1800)
    run("cache", [ADMIN, "cache", "stats", "--json"], timeout=300)

    # The core and store unit tests against install.sh's environment, with pytest from /opt/pytest
    # (-P: /src, the checkout, does not shadow the installed madoguchi).
    run("unit", ["/opt/madoguchi/venv/bin/python", "-P", "-m", "pytest", "-p", "no:cacheprovider", "--import-mode=append",
                 "-q", *UNIT_TESTS], timeout=1800, env=os.environ | {"PYTHONPATH": "/opt/pytest",
                                                                      "PYTHONDONTWRITEBYTECODE": "1"})

if __name__ == "__main__":
    try:
        main()
    finally:
        save()
