"""Which bundles a device takes: deltas when it can, the full bundle and the deltas after it when
it is new or too far behind, the full bundle when a delta does not give the hub's data."""

from __future__ import annotations

import json

from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.device.client import DeviceConfig, init_device, sync_once
from madoguchi.sync.hub import repository as hub

from madoguchi.cli import main
from madoguchi.cli.sync import sync_status
from tests.integration.test_sync_support import FACILITY, TODAY, world  # noqa: F401 - fixture


def new_device(w, name: str) -> tuple[DeviceConfig, object]:
    device = init_device(w.tmp / name, w.paths.trusted_root(FACILITY), w.paths.facility_key(FACILITY), w.device.url)
    return device, store.open_database(device.data_dir)


def test_deltas_for_a_current_device_full_and_deltas_for_a_new_one(world):
    for _ in range(3):
        world.change_records(7)
        world.publish()
    outcome = world.sync()
    assert outcome.applied == ("delta-1-2.bundle", "delta-2-3.bundle", "delta-3-4.bundle")
    device, conn = new_device(world, "new-device")
    outcome = sync_once(device, conn)
    assert outcome.applied == ("full.bundle", "delta-1-2.bundle", "delta-2-3.bundle", "delta-3-4.bundle")
    assert bundle.scan_digest(conn) == bundle.scan_digest(world.conn)
    assert store.get_sync_state(conn).data_version == 4
    conn.close()


def test_device_behind_the_pruned_deltas_takes_the_full_bundle(world, monkeypatch):
    monkeypatch.setattr(hub, "KEEP_DELTAS", 2)
    for _ in range(5):
        world.change_records(3)
        world.publish()
    targets = json.loads(world.served("metadata", f"{world.version('targets')}.targets.json").read_text())
    assert "delta-1-2.bundle" not in targets["signed"]["targets"]
    outcome = world.sync()
    assert outcome.result == "ok" and outcome.applied[0] == "full.bundle"
    assert store.get_sync_state(world.conn).data_version == 6
    assert bundle.digest_hex(bundle.scan_digest(world.conn)) == store.get_meta(world.conn, "data_digest")


def test_a_delta_that_does_not_give_the_hubs_data_is_rolled_back_for_the_full_bundle(world):
    # Local drift in the rows the delta replaces (the digest is updated from those rows only).
    world.conn.execute("UPDATE qualification SET copay_percent = 0")
    world.change_records(5)
    world.publish(full=True)
    outcome = world.sync()
    assert outcome.result == "ok" and outcome.applied == ("full.bundle",)
    assert world.conn.execute("SELECT count(*) FROM qualification WHERE copay_percent = 0").fetchone()[0] == 0
    assert bundle.digest_hex(bundle.scan_digest(world.conn)) == store.get_meta(world.conn, "data_digest")


def test_timestamp_job_keeps_devices_unchanged_and_fresh(world):
    before = json.loads(world.served("metadata", "timestamp.json").read_text())["signed"]["version"]
    assert hub.refresh_timestamps(world.paths) == [FACILITY]
    assert json.loads(world.served("metadata", "timestamp.json").read_text())["signed"]["version"] == before + 1
    assert world.sync().result == "unchanged"
    assert sync_status(world.device.data_dir)["last_result"] == "unchanged"


def test_cli_hub_and_sync_commands(tmp_path, capsys, monkeypatch):
    from tests.integration.test_sync_support import start_server, write_population

    monkeypatch.setenv("MADOGUCHI_CONFIG", "/dev/null")
    pop = tmp_path / "pop.jsonl"
    write_population(pop, 100)
    hub_dir, dev_dir = str(tmp_path / "hubdata"), str(tmp_path / "device")
    assert main(["--data-dir", hub_dir, "hub", "import", str(pop), "--facility", "c1", "--today", "2026-11-20",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["data_version"] == 1
    assert main(["--data-dir", hub_dir, "hub", "status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    facility = status["facilities"][0]
    assert status["served_dir"].endswith("hub/repo") and facility["database"].endswith("cache.db")
    assert not facility["facility_key"].startswith(status["served_dir"])
    server = start_server(hub.HubPaths(tmp_path / "hubdata" / "hub"))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/c1"
        assert main(["--data-dir", dev_dir, "sync", "once"]) == 3  # not set up yet
        assert main(["--data-dir", dev_dir, "sync", "init", "--root", facility["trusted_root"], "--facility-key",
                     facility["facility_key"], "--url", url]) == 0
        assert main(["--data-dir", dev_dir, "sync", "once", "--json"]) == 0
        capsys.readouterr()
        assert main(["--data-dir", dev_dir, "sync", "status", "--json"]) == 0
        state = json.loads(capsys.readouterr().out)
        assert state["data_version"] == 1 and state["last_result"] == "ok" and state["data_age_seconds"] >= 0
        assert main(["--data-dir", dev_dir, "cache", "stats", "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["data_version"] == 1  # the same recorded state
    finally:
        server.shutdown()
        server.server_close()
    assert main(["--data-dir", dev_dir, "sync", "once"]) == 3  # hub gone: offline
    assert main(["--data-dir", hub_dir, "hub", "import", str(tmp_path / "missing"), "--facility", "c1"]) == 2
    assert main(["--data-dir", hub_dir, "hub", "import", str(pop), "--facility", "bad name"]) == 2


def test_hub_serve_serves_the_repository_not_the_keys_and_stops_on_sigterm(world):
    import os
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request
    from pathlib import Path

    hub.refresh_timestamps(world.paths)
    env = {**os.environ, "MADOGUCHI_CONFIG": "/dev/null"}
    serve = subprocess.Popen([sys.executable, "-m", "madoguchi", "--data-dir", str(world.paths.hub_dir.parent),
                              "hub", "serve", "--port", "0"], cwd=Path(__file__).resolve().parents[2], env=env,
                             stdout=subprocess.PIPE, text=True)
    try:
        line = serve.stdout.readline()
        base = line.rsplit(" on ", 1)[1].strip()
        with urllib.request.urlopen(f"{base}{FACILITY}/metadata/timestamp.json", timeout=5) as answer:
            assert json.loads(answer.read())["signed"]["_type"] == "timestamp"
        for leak in (f"{base}../keys/{FACILITY}/facility.key", f"{base}%2e%2e/keys/{FACILITY}/root.pem"):
            try:
                urllib.request.urlopen(leak, timeout=5)
                raise AssertionError(f"{leak} was served")
            except urllib.error.HTTPError as exc:
                assert exc.code == 404
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=10) == 0
    finally:
        if serve.poll() is None:
            serve.kill()
        serve.stdout.close()


def test_a_bad_population_line_changes_nothing_on_the_hub(world):
    bad = world.tmp / "bad.jsonl"
    good = json.dumps({"record_id": 1, "insurer_number": "01130012", "number": "1", "birth_date": "1980-01-01",
                       "qualification_date": "2020-01-01", "as_of": "2026-11-20T09:00:00+09:00",
                       "registered_on": "2020-01-01"})
    bad.write_text(good + "\n" + '{"record_id": 2}\n')
    before = hub.facility_status(world.paths, FACILITY)
    with open(bad) as lines:
        try:
            hub.import_population(world.paths, FACILITY, lines, TODAY)
            raise AssertionError("a bad line was accepted")
        except hub.HubError as exc:
            assert "line 2" in str(exc) and "missing" in str(exc)
    assert hub.facility_status(world.paths, FACILITY) == before
