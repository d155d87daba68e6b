"""A real hub on 127.0.0.1 (`madoguchi hub serve` in its own process, with its API over mTLS)
with one facility."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

FACILITY = "clinic-a"


@dataclass(frozen=True)
class Hub:
    data_dir: Path
    url: str  # the facility's repository
    api_url: str  # the hub API (enrollment, live queries, outbox)

    def token(self) -> str:
        return madoguchi(self.data_dir, "hub", "enroll-token", "--facility", FACILITY).stdout.strip()

    @property
    def root(self) -> Path:
        return self.data_dir / "hub" / "repo" / FACILITY / "metadata" / "root.json"

    @property
    def facility_key(self) -> Path:
        return self.data_dir / "hub" / "keys" / FACILITY / "facility.key"


def madoguchi_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MADOGUCHI_") and k != "CREDENTIALS_DIRECTORY"}
    return env | {"MADOGUCHI_DATA_DIR": str(data_dir), "MADOGUCHI_CONFIG": os.devnull}


def madoguchi(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "madoguchi", *args], env=madoguchi_env(data_dir),
                          capture_output=True, text=True, timeout=120, check=True)


@pytest.fixture(scope="session")
def hub(tmp_path_factory):
    base = tmp_path_factory.mktemp("hub")
    data_dir = base / "data"
    madoguchi(data_dir, "population", "--patients", "200", "--out", str(base / "population.jsonl"))
    madoguchi(data_dir, "hub", "import", str(base / "population.jsonl"), "--facility", FACILITY,
              "--root-keys", str(base / "root-medium"))
    server = subprocess.Popen([sys.executable, "-m", "madoguchi", "hub", "serve", "--port", "0", "--api-port", "0",
                               "--population", str(base / "population.jsonl")],
                              env=madoguchi_env(data_dir), stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        port = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert port, f"hub serve said: {line!r}"
        line = server.stdout.readline()
        api = re.search(r"(https://127\.0\.0\.1:\d+)/", line)
        assert api, f"hub serve said: {line!r}"
        yield Hub(data_dir, f"http://127.0.0.1:{port.group(1)}/{FACILITY}", api.group(1))
    finally:
        server.terminate()
        server.wait(timeout=30)
