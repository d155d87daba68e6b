"""`madoguchi doctor`: each check against real parts (a synced store, a hub on 127.0.0.1, files)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Config
from madoguchi.sync.device.client import init_device, sync_once

from madoguchi.ops.doctor import (
    Status,
    cache_checks,
    clock_check,
    disk_check,
    metadata_check,
    run_checks,
    scanner_check,
    sync_checks,
)
from tests.appliance.conftest import madoguchi_env
from tests.conftest import NOW


@pytest.fixture
def device(tmp_path, hub, monkeypatch):
    """A device data directory enrolled with the hub and synced once."""
    monkeypatch.delenv(store.DATABASE_KEY_FILE_ENV, raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    config = init_device(tmp_path / "device", hub.root, hub.facility_key, hub.url)
    conn = store.open_database(config.data_dir)
    assert sync_once(config, conn).ok
    conn.close()
    return config


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_synced_device_is_healthy(device):
    config = Config(device.data_dir)
    now = store.utcnow()
    checks = by_name(sync_checks(config, now) + cache_checks(config, now)[0])
    for name in ("enrollment", "hub", "tuf", "cache", "outbox", "disk"):
        assert checks[name].status is Status.OK, checks[name]
    assert "data version 1" in checks["cache"].detail
    assert checks["encryption"].status is Status.WARN  # the tests run unencrypted


def test_tampered_metadata_fails(device):
    path = device.metadata_dir / "timestamp.json"
    data = json.loads(path.read_text())
    data["signed"]["version"] += 1
    path.write_text(json.dumps(data))
    check = metadata_check(device.metadata_dir, store.utcnow())
    assert check.status is Status.FAIL and check.fix_ja and check.fix_en


def test_expired_metadata_warns(device):
    check = metadata_check(device.metadata_dir, store.utcnow() + timedelta(days=2))
    assert check.status is Status.WARN and "expired: timestamp" in check.detail


def test_an_unreachable_hub_fails_with_a_fix(device, tmp_path):
    config = init_device(tmp_path / "other", device.metadata_dir / "root.json", device.facility_key_path,
                         "http://127.0.0.1:9/clinic-a")
    checks = by_name(sync_checks(Config(config.data_dir), store.utcnow()))
    assert checks["hub"].status is Status.FAIL and "ハブ" in checks["hub"].fix_ja
    assert checks["tuf"].status is Status.WARN  # root only: never synced


def test_old_data_warns_and_a_clock_behind_the_data_fails(device):
    config = Config(device.data_dir)
    later = store.utcnow() + config.policy.cache_max_age + timedelta(hours=1)
    checks, newest = cache_checks(config, later)
    assert by_name(checks)["cache"].status is Status.WARN
    assert clock_check(newest - timedelta(minutes=5), newest, synchronised=True).status is Status.FAIL
    assert clock_check(newest + timedelta(minutes=5), newest, synchronised=True).status is Status.OK
    assert clock_check(newest + timedelta(minutes=5), newest, synchronised=False).status is Status.WARN


def test_no_cache_and_no_enrollment_fail(tmp_path):
    config = Config(tmp_path)
    assert by_name(cache_checks(config, NOW)[0])["cache"].status is Status.FAIL
    assert by_name(sync_checks(config, NOW))["enrollment"].status is Status.FAIL


def test_disk_needs_twice_the_database(populated):
    data_dir, _conn = populated
    assert disk_check(data_dir).status is Status.OK


def test_scanner_present_missing_or_not_configured(tmp_path):
    config = Config(tmp_path)
    assert scanner_check(config).status is Status.WARN
    assert scanner_check(replace(config, raw={"scanner": {"serial_port": "/dev/null"}})).status is Status.OK
    missing = scanner_check(replace(config, raw={"scanner": {"serial_port": str(tmp_path / "ttyACM9")}}))
    assert missing.status is Status.FAIL and "スキャナー" in missing.fix_ja


def test_hub_role_checks_the_published_facilities(hub):
    checks = run_checks(Config(hub.data_dir, raw={"appliance": {"role": "hub"}}))
    facility = by_name(checks)["facility clinic-a"]
    assert facility.status is Status.OK and "data version 1" in facility.detail


def test_the_command_prints_json_and_fails_when_something_fails(tmp_path):
    result = subprocess.run([sys.executable, "-m", "madoguchi", "doctor", "--json"], env=madoguchi_env(tmp_path),
                            capture_output=True, text=True, timeout=60)
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["summary"]["fail"] >= 1
    for check in report["checks"]:
        assert check["status"] in ("ok", "warn", "fail")
        assert check["status"] == "ok" or (check["fix_ja"] and check["fix_en"])
