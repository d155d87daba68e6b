"""scripts/bootstrap on a checkout where every Debian package is present: what it installs into
.venv (a stand-in python records pip's runs) and which packages the test mode asks for."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
KIOSK_STACK = {"cage", "foot", "xwayland", "fonts-noto-cjk"}


def checkout(tmp_path: Path) -> tuple[Path, dict, Path]:
    work = tmp_path / "checkout"
    (work / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap", work / "scripts" / "bootstrap")
    shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
    shutil.copytree(ROOT / "requirements", work / "requirements")
    log = tmp_path / "log"
    python = work / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text(f'#!/bin/sh\necho "pip $*" >> "{log}"\n')
    python.chmod(0o755)
    fake = tmp_path / "bin"
    fake.mkdir()
    dpkg = fake / "dpkg-query"  # every package is installed; which were asked about is logged
    dpkg.write_text(f'#!/bin/sh\nfor a; do last=$a; done\necho "dpkg $last" >> "{log}"\nprintf "install ok installed"\n')
    dpkg.chmod(0o755)
    return work, {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}, log


def bootstrap(work: Path, env: dict, mode: str) -> None:
    subprocess.run([str(work / "scripts" / "bootstrap"), mode], check=True, env=env, capture_output=True, timeout=60)


def installs(log: Path) -> list[str]:
    """The lock files pip installed (each followed by madoguchi itself, editable)."""
    lines = [line for line in log.read_text().splitlines() if line.startswith("pip ")]
    assert all(line == "pip -m pip install -q --no-deps --no-build-isolation -e ." for line in lines[1::2]), lines
    return lines[::2]


def test_demo_and_test_do_not_reinstall_each_other(tmp_path):
    work, env, log = checkout(tmp_path)
    for mode in ("demo", "test", "demo", "test", "demo"):
        bootstrap(work, env, mode)
    assert installs(log) == ["pip -m pip install -q --require-hashes -r requirements/base.txt",
                             "pip -m pip install -q --require-hashes -r requirements/dev.txt"]


def test_test_first_then_demo_installs_once(tmp_path):
    work, env, log = checkout(tmp_path)
    for mode in ("test", "demo", "test"):
        bootstrap(work, env, mode)
    assert len(installs(log)) == 1


def test_the_tests_do_not_pull_the_kiosk_stack(tmp_path):
    work, env, log = checkout(tmp_path)
    bootstrap(work, env, "test")
    asked = {line.split()[1] for line in log.read_text().splitlines() if line.startswith("dpkg ")}
    assert not asked & KIOSK_STACK and {"tmux", "pcscd", "vsmartcard-vpcd"} <= asked
    bootstrap(work, env, "kiosk")
    asked = {line.split()[1] for line in log.read_text().splitlines() if line.startswith("dpkg ")}
    assert KIOSK_STACK <= asked
