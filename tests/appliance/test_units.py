"""The systemd units: `systemd-analyze verify` prints nothing, `security --offline` exposure ≤ 2.0.

verify runs in a temporary root holding the units, Debian's own units and an executable at
every path an ExecStart names (verify checks they exist; the real ones appear only after
install.sh), so a wrong key, a bad value or a missing dependency shows as output.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UNITS_DIR = ROOT / "systemd"
UNITS = sorted(p.name for p in UNITS_DIR.glob("*.service"))
INSTANCE = {"madoguchi-kiosk@.service": "madoguchi-kiosk@tty1.service"}
EXPOSURE_LIMIT = 20  # systemd-analyze's 0-100 scale: exposure 2.0

pytestmark = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")


def executables(unit_text: str) -> set[str]:
    """Absolute paths of the programs the unit's Exec*= lines run."""
    paths = set()
    for line in unit_text.splitlines():
        m = re.match(r"Exec\w+=[-@:+!]*(\S+)", line)
        if m and m.group(1).startswith("/"):
            paths.add(m.group(1))
    return paths


def verify_root(tmp_path: Path, unit_files: list[Path]) -> Path:
    root = tmp_path / "root"
    (root / "etc/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd").mkdir(parents=True)
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for unit in unit_files:
        shutil.copy(unit, root / "etc/systemd/system" / unit.name)
        for program in executables(unit.read_text()):
            target = root / program.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("#!/bin/sh\n")
            target.chmod(0o755)
    return root


def verify(root: Path, unit: str) -> str:
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", f"--root={root}", unit],
                            capture_output=True, text=True, timeout=60)
    return (result.stdout + result.stderr).strip() + ("" if result.returncode == 0 else f"\nexit {result.returncode}")


@pytest.mark.parametrize("unit", UNITS)
def test_verify_prints_nothing(tmp_path, unit):
    root = verify_root(tmp_path, [UNITS_DIR / u for u in UNITS])
    assert verify(root, INSTANCE.get(unit, unit)) == ""


def test_verify_would_see_a_mistake(tmp_path):
    broken = tmp_path / "madoguchi-sync.service"
    broken.write_text((UNITS_DIR / "madoguchi-sync.service").read_text().replace(
        "Restart=on-failure", "Restart=on-failure\nRestartSecs=5"))
    assert "RestartSecs" in verify(verify_root(tmp_path, [broken]), "madoguchi-sync.service")


def exposure(unit_path: Path) -> tuple[float, str]:
    result = subprocess.run(["systemd-analyze", "security", "--offline=true", f"--threshold={EXPOSURE_LIMIT}",
                             "--no-pager", str(unit_path)], capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
    assert m, result.stdout + result.stderr
    return float(m.group(1)), result.stdout


@pytest.mark.parametrize("unit", UNITS)
def test_exposure_is_at_most_2(unit):
    level, report = exposure(UNITS_DIR / unit)
    assert level <= EXPOSURE_LIMIT / 10, report


@pytest.mark.parametrize("unit", ["madoguchi-sync.service", "madoguchi-hub.service"])
def test_the_background_services_are_sandboxed(unit):
    """The settings the issue names, and a journal identifier per unit."""
    text = (UNITS_DIR / unit).read_text()
    for setting in ("ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes",
                    "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "SystemCallFilter=@system-service",
                    "StateDirectory=madoguchi", "Restart=on-failure", f"SyslogIdentifier={unit.removesuffix('.service')}",
                    "LoadCredentialEncrypted=madoguchi-db-key:"):
        assert setting in text, setting


def test_the_sync_daemon_is_watched():
    text = (UNITS_DIR / "madoguchi-sync.service").read_text()
    assert "Type=notify" in text and re.search(r"^WatchdogSec=\d+", text, re.M)
    assert "ExecReload=/bin/kill -USR1 $MAINPID" in text  # `systemctl reload` = sync now


def test_the_kiosk_runs_the_desk_in_tmux_under_cage():
    text = (UNITS_DIR / "madoguchi-kiosk@.service").read_text()
    command = shlex.split(re.search(r"^ExecStart=(.*)$", text, re.M).group(1))
    assert command[0] == "/usr/bin/cage" and "/usr/bin/foot" in command and "/usr/bin/tmux" in command
    assert command[-2:] == ["/opt/madoguchi/venv/bin/madoguchi", "tui"]
    for setting in ("User=madoguchi", "PAMName=madoguchi-kiosk", "Conflicts=getty@%i.service", "TTYPath=/dev/%I",
                    "Restart=always", "WLR_LIBINPUT_NO_DEVICES=1", "XKB_DEFAULT_LAYOUT=jp",
                    "EnvironmentFile=-/etc/madoguchi/kiosk.env"):
        assert setting in text, setting
