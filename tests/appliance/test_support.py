"""`madoguchi support`: a read-only view of the kiosk's tmux session (real tmux servers)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time

import pytest

from tests.appliance.conftest import madoguchi_env

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux missing")


def tmux(socket, *args):
    return subprocess.run(["tmux", "-S", str(socket), *args], capture_output=True, text=True, timeout=10)


def screen(socket) -> str:
    return tmux(socket, "capture-pane", "-p", "-t", "ui").stdout


def wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_support_shows_the_kiosk_and_types_nothing_into_it(tmp_path):
    kiosk, viewer = tmp_path / "kiosk.sock", tmp_path / "viewer.sock"
    # A stand-in desk: shows a line, then echoes whatever is typed into it.
    tmux(kiosk, "new-session", "-d", "-s", "ui", "-x", "80", "-y", "20",
         f"{sys.executable} -c \"print('DESK READY', flush=True); print('GOT', input())\"")
    try:
        assert wait_for(lambda: "DESK READY" in screen(kiosk))
        command = f"{sys.executable} -m madoguchi support --socket {kiosk}"
        tmux(viewer, "new-session", "-d", "-s", "ui", "-x", "80", "-y", "20", "-e",
             f"MADOGUCHI_CONFIG={madoguchi_env(tmp_path)['MADOGUCHI_CONFIG']}", command)
        assert wait_for(lambda: "DESK READY" in screen(viewer)), screen(viewer)
        tmux(viewer, "send-keys", "-t", "ui", "hello", "Enter")
        time.sleep(1.0)
        assert "GOT" not in screen(kiosk) and "hello" not in screen(kiosk)
    finally:
        tmux(viewer, "kill-server")
        tmux(kiosk, "kill-server")


def test_support_says_when_no_kiosk_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "madoguchi", "support", "--socket", str(tmp_path / "none.sock")],
                            env=madoguchi_env(tmp_path), capture_output=True, text=True, timeout=30)
    assert result.returncode == 3 and "kiosk is not running" in result.stderr
