"""kill -9 of the applying process at random points: the cache is intact and wholly old or
wholly new, never partial (full bundles and deltas)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.device.client import load_device_config
from madoguchi.sync.tables import get_digest

from tests.integration.test_sync_support import make_world

ROOT = Path(__file__).resolve().parents[2]
KILLS = 24  # landed during the apply, half on a full bundle, half on a delta

CHILD = """
import json, sys
from pathlib import Path
from madoguchi.edge import store
from madoguchi.sync import bundle
from madoguchi.sync.device.client import apply_bundle
data_dir, path, custom = Path(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
conn = store.open_database(data_dir)
key = bundle.load_facility_key(data_dir / "sync" / "facility.key")
print("go", flush=True)
apply_bundle(conn, path, key, custom)
print("done", flush=True)
"""


def download(world, names: list[str], into: Path) -> dict[str, tuple[Path, dict]]:
    """Fetch verified bundles with a TUF Updater, as a sync run would."""
    from tuf.ngclient import Updater

    config = world.device
    updater = Updater(str(config.metadata_dir), f"{config.url}/metadata/", str(into), f"{config.url}/targets/",
                      bootstrap=None)
    updater.refresh()
    result = {}
    for name in names:
        info = updater.get_targetinfo(name)
        result[name] = (Path(updater.download_target(info, str(into / name))), dict(info.custom))
    return result


def state_of(data_dir: Path) -> tuple[str, int, str]:
    conn = sqlite3.connect(store.database_path(data_dir))
    try:
        check = conn.execute("PRAGMA integrity_check").fetchone()[0]
        version = conn.execute("SELECT data_version FROM sync_state WHERE id = 1").fetchone()[0]
        scanned = bundle.digest_hex(bundle.scan_digest(conn))
        assert scanned == bundle.digest_hex(get_digest(conn)), "recorded digest differs from the data"
    finally:
        conn.close()
    return check, version, scanned


def run_child(data_dir: Path, path: Path, custom: dict, delay: float | None) -> tuple[bool, float]:
    """Apply in a child; kill -9 it `delay` seconds after it starts applying. Returns
    (killed before it finished, seconds it ran)."""
    import json

    child = subprocess.Popen([sys.executable, "-c", CHILD, str(data_dir), str(path), json.dumps(custom)],
                             cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "go"
    started = time.monotonic()
    if delay is None:
        child.wait(timeout=60)
        return False, time.monotonic() - started
    time.sleep(delay)
    killed = child.poll() is None
    if killed:
        os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    return killed, time.monotonic() - started


def test_kill_9_during_apply_leaves_old_or_new_never_partial(tmp_path):
    world = make_world(tmp_path, patients=3000)
    try:
        world.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        pristine = tmp_path / "pristine"
        shutil.copytree(world.device.data_dir, pristine)
        old = state_of(pristine)
        world.change_records(2500, delete=50)
        world.publish(full=True)
        bundles = download(world, ["full.bundle", "delta-1-2.bundle"], tmp_path / "bundles")
    finally:
        world.server.shutdown()
        world.server.server_close()
        world.conn.close()
    assert load_device_config(pristine).url

    rng = random.Random(4)
    landed = {"full.bundle": 0, "delta-1-2.bundle": 0}
    outcomes = {"old": 0, "new": 0}
    new = None
    for name, (path, custom) in bundles.items():
        target = tmp_path / f"calibrate-{name}"
        shutil.copytree(pristine, target)
        _, duration = run_child(target, path, custom, None)
        new_state = state_of(target)
        assert new_state[1] == 2 and new_state[2] == custom["digest"]
        new = new or new_state
        assert new_state[2] == new[2]  # the delta and the full bundle give the same data
        attempt = 0
        while landed[name] < KILLS // 2 and attempt < KILLS * 2:
            attempt += 1
            target = tmp_path / f"kill-{name}-{attempt}"
            shutil.copytree(pristine, target)
            killed, _ = run_child(target, path, custom, rng.uniform(0, duration))
            landed[name] += killed
            check, version, digest = state_of(target)
            assert check == "ok"
            if (version, digest) == old[1:]:
                outcomes["old"] += 1
            else:
                assert (version, digest) == new[1:], f"partial data after kill {attempt} of {name}"
                outcomes["new"] += 1
            shutil.rmtree(target)
    assert landed == {"full.bundle": KILLS // 2, "delta-1-2.bundle": KILLS // 2}, landed
    assert outcomes["old"] > 0
