"""doctor's Japanese fix lines say what to do (not the problem again), and the enrollment
check names one way to enroll in its detail and in its fix."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from madoguchi.sync.device.client import NotInitialized, load_device_config

ROOT = Path(__file__).resolve().parents[2]


def fixes_ja(path: Path) -> list[tuple[str, str]]:
    """(check name, fix_ja) of every Check(...) whose fix_ja (4th argument) is a literal."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Check" and len(node.args) >= 4:
            if isinstance(node.args[3], ast.Constant):
                name = node.args[0].value if isinstance(node.args[0], ast.Constant) else ""
                found.append((name, node.args[3].value))
    return found


def test_every_fix_ja_of_the_doctor_checks_is_an_instruction():
    fixes = fixes_ja(ROOT / "madoguchi" / "ops" / "doctor.py")
    assert len(fixes) >= 10
    assert [f for f in fixes if "ください" not in f[1]] == []


def test_enrollment_detail_and_fix_say_the_same(tmp_path):
    with pytest.raises(NotInitialized) as error:
        load_device_config(tmp_path)
    assert "install.sh" in str(error.value) and "sync init" not in str(error.value)
    enrollment = [f for name, f in fixes_ja(ROOT / "madoguchi" / "ops" / "doctor.py") if name == "enrollment"]
    assert enrollment and all("ください" in f and "install.sh" in f for f in enrollment)
