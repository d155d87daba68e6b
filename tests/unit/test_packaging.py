"""The wheel installs one top-level name, `madoguchi`, with every module of the repository's folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"madoguchi": "madoguchi", "edge": "madoguchi/edge", "tui": "madoguchi/tui", "sync": "madoguchi/sync",
           "sim": "madoguchi/sim"}


def test_the_wheel_has_one_top_level_package_and_every_module(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, timeout=300, capture_output=True)
    (wheel,) = tmp_path.glob("madoguchi-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"madoguchi"}
    expected = {f"{target}/{p.relative_to(ROOT / folder)}" for folder, target in FOLDERS.items()
                for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".tcss") and "__pycache__" not in p.parts}
    assert expected - set(names) == set()
    assert "madoguchi/py.typed" in names
