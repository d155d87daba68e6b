"""Shared set-up for the sync tests: a real hub (SQLite store, TUF repository, HTTP server on
127.0.0.1 with an ephemeral port) and a real device data directory. No tests in here."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import JST, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.verdict import CheckRequest, Method
from madoguchi.sim import population
from madoguchi.sync.device.client import DeviceConfig, init_device, sync_once
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.tables import QUALIFICATION_TABLE

TODAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=JST)
FACILITY = "clinic-a"


@dataclass
class World:
    tmp: Path
    paths: hub.HubPaths
    server: object
    device: DeviceConfig
    conn: sqlite3.Connection
    sample: dict  # a patient with a valid record, to check the desk still answers

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def hub_conn(self) -> sqlite3.Connection:
        return hub.open_facility_store(self.paths, FACILITY)

    def change_records(self, count: int, delete: int = 1) -> None:
        """Change `count` records on the hub (a new as_of) and delete `delete`; not published."""
        conn = self.hub_conn()
        try:
            rows = conn.execute(f"SELECT * FROM qualification ORDER BY random() LIMIT {count + delete}").fetchall()
            stamp = store.utcnow().isoformat(timespec="microseconds")
            puts = [(*row[:store.AS_OF], stamp, *row[store.AS_OF + 1:]) for row in rows[:count]]
            with store.transaction(conn):
                hub.change(conn, QUALIFICATION_TABLE, puts, [row[0] for row in rows[count:]])
        finally:
            conn.close()

    def publish(self, **kwargs) -> hub.Published:
        return hub.publish(self.paths, FACILITY, **kwargs)

    def sync(self):
        return sync_once(self.device, self.conn)

    def served(self, *parts: str) -> Path:
        return self.paths.repo(FACILITY).joinpath(*parts)

    def target_file(self, name: str) -> Path:
        targets = json.loads(self.served("metadata", f"{self.version('targets')}.targets.json").read_text())
        sha = targets["signed"]["targets"][name]["hashes"]["sha256"]
        return self.served("targets", f"{sha}.{name}")

    def version(self, role: str) -> int:
        return int(self.served("metadata", f".{role}-version").read_text())

    def desk_answers(self) -> bool:
        """The desk still answers from the cache: a check of a known patient finds the record."""
        s = self.sample
        request = CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=s["insurer_number"],
                               symbol=s["symbol"], number=s["number"], branch=s["branch"],
                               birth_date=date.fromisoformat(s["birth_date"]))
        verdict = run_check(self.conn, request, Policy()).verdict
        return verdict.record is not None and verdict.record.number == s["number"]


def write_population(path: Path, patients: int, seed: int = 1) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for rec in population.generate(patients, seed, TODAY, NOW):
            out.write(json.dumps(rec, ensure_ascii=False) + "\n")


def start_server(paths: hub.HubPaths, port: int = 0):
    server = hub.make_server(paths, "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def make_world(tmp: Path, patients: int = 300) -> World:
    paths = hub.HubPaths(tmp / "hub")
    pop = tmp / "population.jsonl"
    write_population(pop, patients)
    with open(pop, encoding="utf-8") as lines:
        hub.import_population(paths, FACILITY, lines, TODAY)
    hub.publish(paths, FACILITY)
    server = start_server(paths)
    url = f"http://127.0.0.1:{server.server_address[1]}/{FACILITY}"
    device = init_device(tmp / "device", paths.trusted_root(FACILITY), paths.facility_key(FACILITY), url)
    device = DeviceConfig(device.data_dir, device.url, socket_timeout=2)
    conn = store.open_database(device.data_dir)
    sample = population.samples(patients, 1, TODAY, NOW)["valid"]
    world = World(tmp, paths, server, device, conn, sample)
    outcome = world.sync()
    assert outcome.result == "ok", outcome
    return world


@pytest.fixture
def world(tmp_path):
    w = make_world(tmp_path)
    yield w
    w.server.shutdown()
    w.server.server_close()
    w.conn.close()
