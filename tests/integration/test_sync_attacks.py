"""Every attack on the way from the hub is refused; the desk keeps answering from the old cache
and the rejection is visible in `sync status`."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta

import pytest
from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.hub import repository as hub

from madoguchi.cli.sync import sync_status
from tests.integration.test_sync_support import FACILITY, World, world  # noqa: F401 - fixture


def assert_rejected(w: World, reason: str, kept_version: int) -> None:
    outcome = w.sync()
    assert outcome.result == "rejected", outcome
    assert reason in outcome.detail
    state = store.get_sync_state(w.conn)
    assert state.data_version == kept_version
    assert bundle.digest_hex(bundle.scan_digest(w.conn)) == store.get_meta(w.conn, "data_digest")
    assert w.desk_answers()
    status = sync_status(w.device.data_dir)
    assert status["rejected"] is True and status["last_result"] == "rejected"
    assert reason in status["rejection_reason"]
    assert status["data_version"] == kept_version
    assert store.get_sync_state(w.conn).attempt.rejected  # what the desk reads


def test_tampered_bundle_is_rejected_then_a_repaired_hub_clears_the_rejection(world):
    world.change_records(20)
    world.publish()
    target = world.target_file("delta-1-2.bundle")
    original = target.read_bytes()
    data = bytearray(original)
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    assert_rejected(world, "LengthOrHashMismatchError", 1)

    target.write_bytes(original)
    outcome = world.sync()
    assert outcome.result == "ok" and outcome.applied == ("delta-1-2.bundle",)
    status = sync_status(world.device.data_dir)
    assert status["rejected"] is False and status["data_version"] == 2


def test_extra_bytes_are_rejected(world):
    world.change_records(20)
    world.publish()
    target = world.target_file("delta-1-2.bundle")
    target.write_bytes(target.read_bytes() + b"\0" * 64)
    assert_rejected(world, "DownloadLengthMismatchError", 1)


def test_metadata_edited_without_signing_is_rejected(world):
    world.change_records(20)
    world.publish()
    path = world.served("metadata", f"{world.version('targets')}.targets.json")
    targets = json.loads(path.read_text())
    targets["signed"]["targets"]["full.bundle"]["custom"]["digest"] = "0" * 64
    path.write_text(json.dumps(targets))
    assert_rejected(world, "UnsignedMetadataError", 1)


def test_replayed_old_timestamp_is_rejected(world):
    old = world.served("metadata", "timestamp.json").read_bytes()
    world.change_records(20)
    world.publish()
    assert world.sync().result == "ok"
    world.served("metadata", "timestamp.json").write_bytes(old)
    assert_rejected(world, "BadVersionNumberError", 2)


def test_signed_timestamp_naming_an_old_snapshot_is_rejected(world):
    old_snapshot = world.version("snapshot")
    world.change_records(20)
    world.publish()
    assert world.sync().result == "ok"
    repo = hub.Repository(world.paths, FACILITY)
    repo.sign_timestamp(store.utcnow(), repo.load("timestamp"), old_snapshot)  # validly signed, newer version
    assert_rejected(world, "BadVersionNumberError", 2)


def test_expired_timestamp_is_rejected(world):
    world.change_records(20)
    frozen = store.utcnow() - hub.TIMESTAMP_EXPIRY - timedelta(minutes=5)
    world.publish(now=frozen)  # the hub's clock stood still: everything it signs is already expired
    assert_rejected(world, "ExpiredMetadataError", 1)


def test_bundle_for_another_facility_key_is_rejected(world):
    world.device.facility_key_path.write_text(bundle.new_facility_key())
    world.change_records(20)
    world.publish()
    assert_rejected(world, "failed authentication", 1)


def test_hub_down_is_offline_not_a_rejection(world):
    world.server.shutdown()
    world.server.server_close()
    outcome = world.sync()
    assert outcome.result == "offline"
    status = sync_status(world.device.data_dir)
    assert status["last_result"] == "offline" and status["rejected"] is False
    assert world.desk_answers()


@pytest.mark.parametrize("cut", [1, 100])
def test_truncated_or_extended_bundle_file_fails_decryption(tmp_path, cut):
    key = bytes.fromhex(bundle.new_facility_key())
    path = tmp_path / "b"
    with open(path, "wb") as out:
        writer = bundle.BundleWriter(out, key)
        writer.write_line(b'["h",{}]')
        writer.close()
    data = path.read_bytes()
    for bad in (data[:-cut], data + b"x" * cut):
        path.write_bytes(bad)
        with pytest.raises(bundle.BundleError):
            list(bundle.read_lines(path, key))


def test_device_without_state_can_start_over(world):
    """A device whose metadata was lost still verifies from its trusted root (re-init)."""
    shutil.rmtree(world.device.metadata_dir)
    world.device.metadata_dir.mkdir()
    shutil.copyfile(world.paths.trusted_root(FACILITY), world.device.metadata_dir / "root.json")
    world.change_records(5)
    world.publish()
    assert world.sync().applied == ("delta-1-2.bundle",)
