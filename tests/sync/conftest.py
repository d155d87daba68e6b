"""A real hub for the API tests: a facility roster, the static TUF repository on 127.0.0.1, the
API over real TLS (uvicorn) with certificates from the hub's own CA, and the simulator upstream."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.device.enroll import enroll_device
from madoguchi.sync.hub import api, pki
from madoguchi.sync.hub import repository as hub

from tests.conftest import NOW, TODAY

FACILITY = "clinic-a"


@dataclass
class Hub:
    paths: hub.HubPaths
    url: str  # the API
    national: NationalSystem
    api: api.ApiServer

    def token(self, **kwargs) -> str:
        return pki.make_token(self.paths, FACILITY, **kwargs)

    def enroll(self, data_dir: Path) -> Path:
        enroll_device(data_dir, self.url, self.token(), timeout=5)
        return data_dir


@pytest.fixture
def hub_api(tmp_path, population_records):
    paths = hub.HubPaths(tmp_path / "hub")
    lines = [json.dumps(r, ensure_ascii=False) for r in population_records]
    hub.import_population(paths, FACILITY, lines, TODAY)
    hub.publish(paths, FACILITY)
    static = hub.make_server(paths, "127.0.0.1", 0)
    threading.Thread(target=static.serve_forever, daemon=True).start()
    national = NationalSystem(population_records, clock=lambda: NOW)
    upstream = SimulatedUpstream(national)
    app = api.create_app(paths, lambda: upstream, repository_port=static.server_address[1])
    server = api.ApiServer(app, paths, "127.0.0.1", 0).start()
    yield Hub(paths, server.url, national, server)
    server.stop()
    static.shutdown()
    static.server_close()


@pytest.fixture
def device(hub_api, tmp_path) -> Path:
    """The data directory of a device enrolled with `hub_api`."""
    return hub_api.enroll(tmp_path / "device")
