"""`madoguchi vcard` and `madoguchi check --card` as a person at the desk would use them."""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)
MADOGUCHI = [sys.executable, "-c", "import sys; from madoguchi.cli import main; sys.exit(main())"]


def environment(data_dir: Path) -> dict:
    """A configuration of our own: no real J-LIS roots, only the test CA `vcard` puts in the data dir."""
    config = data_dir / "config.toml"
    if not config.exists():
        config.write_text(f'[card]\ntrust_anchors = "{data_dir / "no-roots"}"\n')
    return {**os.environ, "MADOGUCHI_CONFIG": str(config)}


def madoguchi(data_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([*MADOGUCHI, "--data-dir", str(data_dir), *args], input=stdin, capture_output=True,
                          text=True, timeout=60, env=environment(data_dir))


def check_card(data_dir: Path, pin: str) -> tuple[int, dict]:
    done = madoguchi(data_dir, "check", "--card", "--json", "--pin-stdin", "--reader", "Virtual PCD 00 00",
                     stdin=pin + "\n")
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout)


def check_card_at_a_terminal(data_dir: Path, pin: str) -> str:
    """`check --card` with the PIN typed at a terminal (a pty): everything the terminal shows."""
    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    main_fd, terminal_fd = os.openpty()
    child = subprocess.Popen([*MADOGUCHI, "--data-dir", str(data_dir), "check", "--card", "--json"],
                             stdin=terminal_fd, stdout=terminal_fd, stderr=terminal_fd,
                             preexec_fn=controlling_terminal, env=environment(data_dir))
    os.close(terminal_fd)
    shown, typed = b"", False
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            if not typed and "暗証番号（4桁）:".encode() in shown:
                os.write(main_fd, pin.encode() + b"\n")
                typed = True
            ready, _, _ = select.select([main_fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
    finally:
        child.wait(timeout=30)
        os.close(main_fd)
    assert typed, shown.decode(errors="replace")
    return shown.decode(errors="replace")


def test_vcard_then_check_card_from_the_command_line(pcscd, tmp_path):
    population = madoguchi(tmp_path, "population", "--patients", "100", "--json")
    assert population.returncode == 0, population.stderr
    person = json.loads(population.stdout)["samples"]["valid"]
    audit_log = tmp_path / "vcard-audit.jsonl"
    vcard = subprocess.Popen([*MADOGUCHI, "--data-dir", str(tmp_path), "vcard", "--person", str(person["person_id"]),
                              "--pin", "2580", "--remove-during", "sign", "--audit-log", str(audit_log)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=environment(tmp_path))
    try:
        ready = json.loads(vcard.stdout.readline() or "{}")
        assert ready.get("status") == "inserted", vcard.stderr.read() if vcard.poll() is not None else ready

        code, removed = check_card(tmp_path, "2580")  # the card leaves during the signature
        assert code == 1 and removed["card_error"] == "CardRemoved" and "カードが外されました" in removed["message_ja"]

        code, verdict = check_card(tmp_path, "2580")  # put back: the next insertion works
        assert code == 0, verdict
        assert verdict["verdict"] == "ok" and verdict["method"] == "card"
        assert verdict["record"]["name"] == person["name"]

        shown = check_card_at_a_terminal(tmp_path, "2580")  # typed, never echoed
        assert "2580" not in shown and '"verdict": "ok"' in shown, shown

        tries = []
        for pin in ("0000", "1111"):
            code, wrong = check_card(tmp_path, pin)
            assert code == 1 and wrong["card_error"] == "WrongPin"
            tries.append(wrong["tries_left"])
        assert tries == [2, 1] and "目視確認" in wrong["message_ja"]
        code, locked = check_card(tmp_path, "2222")
        assert code == 1 and locked["card_error"] == "CardLocked"
        assert "市区町村窓口でロック解除" in locked["message_ja"] and locked["next_steps_ja"]
        code, still = check_card(tmp_path, "2580")  # locked: refused before any VERIFY
        assert still["card_error"] == "CardLocked"

        visual = madoguchi(tmp_path, "check", "--card", "--visual", "--json")
        assert visual.returncode == 0, visual.stderr
        assert json.loads(visual.stdout)["method"] == "visual" and json.loads(visual.stdout)["verdict"] == "ok"
    finally:
        vcard.send_signal(signal.SIGTERM)
        vcard.wait(timeout=10)
        vcard.stdout.close()
        vcard.stderr.close()
    audit = [json.loads(line) for line in audit_log.read_text().splitlines()]
    verifies = [e["command"] for e in audit if e["command"].startswith("0020008004")]
    assert verifies == ["0020008004********"] * 6  # one per PIN typed; none once locked
    assert not [e for e in audit if e["note"].startswith("FORBIDDEN")]
    for pin in ("2580", "0000", "1111", "2222"):
        assert pin.encode().hex() not in audit_log.read_text()


def test_vcard_refuses_an_unknown_person_and_a_bad_pin(tmp_path):
    assert madoguchi(tmp_path, "population", "--patients", "10").returncode == 0
    unknown = madoguchi(tmp_path, "vcard", "--person", "999999")
    assert unknown.returncode == 2 and "no records for person 999999" in unknown.stderr
    bad_pin = madoguchi(tmp_path, "vcard", "--person", "1", "--pin", "12a4")
    assert bad_pin.returncode == 2 and "4 digits" in bad_pin.stderr
