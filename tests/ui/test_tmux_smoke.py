"""Smoke test of the real `madoguchi demo` in a 100x30 tmux pane: a card check and a fallback.

Drives the installed command with send-keys and reads the Japanese on screen with capture-pane,
as a newcomer would see it (no Pilot, no headless driver). Uses a private tmux server, killed
at the end.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MADOGUCHI = ROOT / ".venv" / "bin" / "madoguchi"

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (scripts/bootstrap test)")


class Pane:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], check=True, capture_output=True,
                              text=True, timeout=10).stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "ui")

    def keys(self, *keys: str) -> None:
        for key in keys:  # one at a time: a burst of keys would look like a barcode scanner
            self.tmux("send-keys", "-t", "ui", key)
            time.sleep(0.15)

    def wait_for(self, *texts: str, timeout: float = 15.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if all(t in screen for t in texts):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{texts} not on screen after {timeout} s:\n{screen}")
            time.sleep(0.1)


@pytest.fixture
def pane():
    socket = f"madoguchi-smoke-{os.getpid()}"
    p = Pane(socket)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TMUX")}
    subprocess.run(["tmux", "-L", socket, "-f", "/dev/null", "new-session", "-d", "-s", "ui", "-x", "100", "-y", "30",
                    str(MADOGUCHI), "demo"], check=True, env=env, timeout=10)
    p.tmux("set-option", "-t", "ui", "remain-on-exit", "on")
    yield p
    subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


def test_demo_card_check_and_offline_fallback(pane):
    pane.wait_for("本日 0件", "デモの手順")
    # A card check: the patient's card, PIN 1234, online.
    pane.keys("F9")
    pane.wait_for("デモ操作")
    pane.keys("1")
    pane.wait_for("暗証番号（数字4桁）を入力してください", "残り3回")
    pane.keys("1", "2", "3", "4")
    screen = pane.wait_for("確認OK：資格は有効です", "オンライン確認")
    assert "負担割合" in screen
    pane.wait_for("本日 1件")
    # The fallback: the network is cut, the cache is old: 要確認 with what to do next.
    pane.keys("Enter", "F9")
    pane.wait_for("デモ操作")
    pane.keys("7")
    pane.wait_for("オフライン  データ")
    pane.keys("F9")
    pane.wait_for("デモ操作")
    pane.keys("3")
    pane.wait_for("残り3回")
    pane.keys("1", "2", "3", "4")
    screen = pane.wait_for("要確認", "オフライン：", "次に")
    assert "現在の資格は未確認" in screen
    # Leaving the kiosk needs the staff PIN.
    pane.keys("Enter", "F12")
    pane.wait_for("保守PIN")
    pane.keys("9", "9", "9", "9", "Enter")
    # tmux marks the pane dead when the terminal closes and fills in the status only once it has
    # reaped the process: wait for the status (or a signal) rather than for pane_dead alone.
    deadline = time.monotonic() + 10
    while True:
        status, signal = pane.tmux("display-message", "-p", "-t", "ui",
                                   "#{pane_dead_status}|#{pane_dead_signal}").strip().split("|")
        if status or signal:
            break
        assert time.monotonic() < deadline, "the demo did not exit after the staff PIN"
        time.sleep(0.1)
    assert (status, signal) == ("0", "")
