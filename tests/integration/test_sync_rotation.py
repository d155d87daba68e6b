"""Root key rotation: a device holding an old root walks the chain; a broken chain is refused."""

from __future__ import annotations

import json

from madoguchi.edge import store
from madoguchi.sync.hub import repository as hub
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata

from madoguchi.cli.sync import sync_status
from tests.integration.test_sync_support import FACILITY, world  # noqa: F401 - fixture


def trusted_root_version(w) -> int:
    return json.loads((w.device.metadata_dir / "root.json").read_text())["signed"]["version"]


def test_old_device_walks_two_root_rotations(world):
    assert trusted_root_version(world) == 1
    old_timestamp_key = (world.paths.keys(FACILITY) / "timestamp.pem").read_bytes()
    assert hub.rotate_root(world.paths, FACILITY) == 2
    assert hub.rotate_root(world.paths, FACILITY) == 3
    assert (world.paths.keys(FACILITY) / "timestamp.pem").read_bytes() != old_timestamp_key
    world.change_records(10)
    world.publish()
    outcome = world.sync()
    assert outcome.result == "ok" and outcome.data_version == 2
    assert trusted_root_version(world) == 3
    assert world.desk_answers()


def test_root_not_signed_by_the_previous_root_is_refused(world):
    repo = hub.Repository(world.paths, FACILITY)
    root = repo.load("root")
    intruder = CryptoSigner.generate_ed25519()
    for keyid in list(root.signed.roles["root"].keyids):
        root.signed.revoke_key(keyid, "root")
    root.signed.add_key(intruder.public_key, "root")
    root.signed.version += 1
    repo.write(root, [intruder])  # signed by the new key only: the chain is broken
    outcome = world.sync()
    assert outcome.result == "rejected" and "UnsignedMetadataError" in outcome.detail
    assert trusted_root_version(world) == 1
    assert sync_status(world.device.data_dir)["rejected"]
    assert store.get_sync_state(world.conn).data_version == 1
    assert world.desk_answers()


def test_timestamp_signed_with_a_rotated_out_key_is_refused(world):
    old_signer = hub._signer(world.paths, FACILITY, "timestamp")
    hub.rotate_root(world.paths, FACILITY)
    assert world.sync().result == "unchanged"
    repo = hub.Repository(world.paths, FACILITY)
    stamp = repo.load("timestamp")
    stamp.signed.version += 1
    stamp.signatures.clear()
    stamp.sign(old_signer)
    (repo.dir / "timestamp.json").write_bytes(stamp.to_bytes())
    outcome = world.sync()
    assert outcome.result == "rejected" and "UnsignedMetadataError" in outcome.detail
    assert isinstance(Metadata.from_file(str(world.device.metadata_dir / "timestamp.json")), Metadata)
