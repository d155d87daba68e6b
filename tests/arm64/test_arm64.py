"""madoguchi on arm64, the Raspberry Pi's architecture, under emulation (scripts/arm64: a cached
Debian 12 arm64 root, qemu-user-static). Inside it, tests/arm64/on_device.py installs madoguchi as
install.sh installs it on a desk (requirements/device.txt, pyscard built from source, SQLCipher)
enrolled by token with a hub running here on 127.0.0.1, and then, on arm64:
  - the first signed sync (TUF over loopback, the cache encrypted by SQLCipher), in install.sh
  - `madoguchi doctor --json`
  - a check by numbers and a check from a scanned JAHIS prescription code
  - the production desk (`madoguchi tui`) up to its first frame, in tmux
  - the sync daemon's first run (sd_notify), and a signed sync applying a larger population
  - the core and store unit tests: tests/unit/test_{numbers,model,verdict,reconcile,store}.py, on
    install.sh's environment with the lock's pytest beside it (/opt/pytest)
Peak memory and times are printed (pytest -s) for the README's Pi budget. Select with -m arm64.
ARM64_PATIENTS (default 2000) sizes the population the device applies after the install.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from madoguchi.edge.qr.jahis import build_jahis
from madoguchi.sim.documents import prescription_from_person

ROOT = Path(__file__).resolve().parents[2]
FACILITY = "clinic-a"
PATIENTS = int(os.environ.get("ARM64_PATIENTS", "2000"))
MUST_RUN = bool(os.environ.get("CI"))  # in CI a missing emulator is a failure, not a skip

pytestmark = [
    pytest.mark.arm64,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(os.geteuid() != 0, reason="scripts/arm64 needs root (chroot, mounts)"),
    pytest.mark.skipif(not MUST_RUN and shutil.which("qemu-aarch64-static") is None,
                       reason="qemu-user-static missing (scripts/bootstrap test)"),
]


def madoguchi(data_dir: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_") or k == "MADOGUCHI_ROOT_KEYS"}
    env |= {"MADOGUCHI_DATA_DIR": str(data_dir), "MADOGUCHI_CONFIG": os.devnull}
    return subprocess.run([sys.executable, "-m", "madoguchi", *args], env=env, capture_output=True, text=True,
                          timeout=1200, check=True).stdout


@pytest.fixture(scope="module")
def device(tmp_path_factory):
    """Everything on_device.py recorded, once the run inside the arm64 root is over."""
    base = tmp_path_factory.mktemp("arm64")
    data = base / "hub"
    share = base / "share"
    share.mkdir(mode=0o755)
    people = json.loads(madoguchi(data, "population", "--patients", "1000", "--out", str(base / "first.jsonl"),
                                  "--json"))["samples"]
    madoguchi(data, "hub", "import", str(base / "first.jsonl"), "--facility", FACILITY)
    (share / "person.json").write_text(json.dumps(people["valid"], ensure_ascii=False))
    (share / "prescription.bin").write_bytes(build_jahis(prescription_from_person(people["valid"]), 10, eof=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_") or k == "MADOGUCHI_ROOT_KEYS"}
    env |= {"MADOGUCHI_DATA_DIR": str(data), "MADOGUCHI_CONFIG": os.devnull}
    hub = subprocess.Popen([sys.executable, "-m", "madoguchi", "hub", "serve", "--port", "0", "--api-port", "0",
                            "--population", str(base / "first.jsonl")], env=env, stdout=subprocess.PIPE, text=True)
    inside = None
    try:
        assert re.search(r"http://127\.0\.0\.1:\d+/", hub.stdout.readline())
        api = re.search(r"(https://127\.0\.0\.1:\d+)/", hub.stdout.readline())
        assert api
        token = madoguchi(data, "hub", "enroll-token", "--facility", FACILITY).strip()
        started = time.monotonic()
        inside = subprocess.Popen([str(ROOT / "scripts" / "arm64"), "run", "python3", "tests/arm64/on_device.py",
                                   api.group(1), token], env=env | {"ARM64_SHARE": str(share)},
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        # After the install: a larger population for the device to apply (seed 2: other people).
        while not (share / "installed").exists() and inside.poll() is None:
            time.sleep(1)
        if inside.poll() is None:
            madoguchi(data, "population", "--patients", str(PATIENTS), "--seed", "2", "--out",
                      str(base / "second.jsonl"))
            published = madoguchi(data, "hub", "import", str(base / "second.jsonl"), "--facility", FACILITY, "--json")
            print(f"arm64: hub republished for the device: {published.strip()}")
            (share / "republished").touch()
        output, _ = inside.communicate(timeout=3600)
        print(output[-6000:])
        print("\n".join(line for line in output.splitlines() if line.startswith("arm64: ")))  # the build's times
        print(f"arm64: the whole run inside took {time.monotonic() - started:.0f} s")
        results = json.loads((share / "results.json").read_text()) if (share / "results.json").exists() else {}
        for name, step in results.items():
            if isinstance(step, dict) and "peak_mb" in step:
                print(f"arm64: {name}: {step.get('seconds', step.get('seconds_to_first_frame'))} s, "
                      f"peak {step['peak_mb']} MB")
        if "unit" in results:
            print("arm64: unit tests:", (results["unit"]["stdout"].strip().splitlines() or [""])[-1])
        assert inside.returncode == 0, output[-6000:]
        yield results
    finally:
        if inside is not None and inside.poll() is None:
            inside.terminate()
            inside.wait(timeout=120)
        hub.terminate()
        hub.wait(timeout=30)


def succeeded(device: dict, name: str) -> dict:
    step = device.get(name)
    assert step is not None, f"{name} did not run: {sorted(device)}"
    assert step["returncode"] == 0, step["stdout"][-4000:] + step["stderr"]
    return step


def test_it_runs_on_arm64(device):
    assert device["machine"] == "aarch64"


def test_install_sh_installs_from_the_lock_and_syncs(device):
    step = succeeded(device, "install")
    assert "==> installed (" in step["stdout"]
    assert "syncing once by hand" in step["stdout"]


def test_doctor(device):
    checks = {c["name"]: c for c in json.loads(device["doctor"]["stdout"])["checks"]}
    for name in ("enrollment", "hub", "hub-api", "tuf", "cache", "encryption", "outbox", "disk"):
        assert checks[name]["status"] == "ok", checks[name]


def test_a_check_by_numbers_and_a_jahis_scan(device):
    verdict = json.loads(succeeded(device, "check")["stdout"])
    assert (verdict["verdict"], verdict["validity"]) == ("ok", 1), verdict
    # A prescription's code finds the patient but is not an insurance document (edge/verdict.py).
    verdict = json.loads(succeeded(device, "jahis")["stdout"])
    assert (verdict["verdict"], verdict["reason"], verdict["validity"]) == ("confirm", "document_needed", 1), verdict


def test_the_desk_shows_its_first_frame(device):
    desk = device["desk"]
    assert re.search(r"本日 \d+件", desk["screen"]) and "F2" in desk["screen"], desk["screen"]


def test_the_daemon_runs_and_a_larger_population_is_applied(device):
    daemon = device["daemon"]
    assert daemon["running"] and any(m.startswith("READY=1") for m in daemon["messages"]), daemon
    succeeded(device, "apply")
    stats = json.loads(succeeded(device, "cache")["stdout"])
    assert stats["records"] >= PATIENTS, stats


def test_core_and_store_unit_tests(device):
    step = succeeded(device, "unit")
    assert re.search(r"\d+ passed", step["stdout"]) and "failed" not in step["stdout"], step["stdout"][-3000:]
