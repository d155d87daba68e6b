"""The house rules that import-linter cannot see: what a process really loads.

The static rules (layers, the device never imports the hub, production never imports the
simulated world, the core imports neither sqlite3 nor requests nor textual) are import-linter
contracts in pyproject.toml, run by scripts/lint before the suite.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running `statement`."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    return set(json.loads(out.stdout))


@pytest.mark.parametrize("module", ["madoguchi.sync.device.daemon", "madoguchi.sync.device.enroll"])
def test_the_device_loads_no_hub_and_no_simulated_world(module):
    loaded = loaded_after(f"import {module}")
    assert module in loaded
    forbidden = sorted(m for m in loaded if m.startswith(("madoguchi.sync.hub", "madoguchi.sim"))
                       or m.split(".")[0] in ("fastapi", "uvicorn", "textual", "http.server"))
    assert not forbidden, forbidden


def test_the_desk_loads_no_sync_and_no_simulated_world():
    loaded = loaded_after("import madoguchi.tui.run")
    assert not sorted(m for m in loaded if m.startswith(("madoguchi.sync", "madoguchi.sim")))


def test_the_check_sees_a_loaded_module():
    assert "madoguchi.sim.population" in loaded_after("import madoguchi.sim.population")


@pytest.mark.parametrize("command", ["check", "cache", "audit", "reconcile", "sync"])
def test_commands_that_do_not_start_the_simulated_world_do_not_load_it(command):
    loaded = loaded_after(f"from madoguchi.cli import build_parser\nbuild_parser({command!r})")
    assert f"madoguchi.cli.{command}" in loaded
    assert not sorted(m for m in loaded if m.startswith("madoguchi.sim"))


@pytest.mark.parametrize("command", ["demo", "tui"])
def test_the_desk_commands_load_no_sync_hub_or_doctor_module(command):
    loaded = loaded_after(f"from madoguchi.cli import build_parser\nbuild_parser({command!r})")
    assert "madoguchi.cli.desk" in loaded
    assert not sorted(m for m in loaded if m.startswith(("madoguchi.cli.sync", "madoguchi.cli.hub",
                                                          "madoguchi.cli.doctor", "madoguchi.ops", "madoguchi.sync",
                                                          "madoguchi.sim")))
