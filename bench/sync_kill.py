"""kill -9 during the apply, many times (the suite does 24): integrity_check ok and the data
wholly old or wholly new after every kill, for the full bundle and a delta.

    .venv/bin/python bench/sync_kill.py --kills 100 --patients 20000
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _common import watchdog  # noqa: E402

from tests.integration.test_sync_kill import download, run_child, state_of  # noqa: E402
from tests.integration.test_sync_support import make_world  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=100, help="kills landed during applies (half full, half delta)")
    parser.add_argument("--patients", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--watchdog", type=float, default=1800.0, help="give up after this many seconds in all")
    args = parser.parse_args()
    watchdog(args.watchdog)
    with tempfile.TemporaryDirectory(prefix="sync-kill-") as tmp:
        run(Path(tmp), args.kills, args.patients, random.Random(args.seed))


def run(tmp: Path, kills: int, patients: int, rng: random.Random) -> None:
    world = make_world(tmp, patients)
    world.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pristine = tmp / "pristine"
    shutil.copytree(world.device.data_dir, pristine)
    old = state_of(pristine)
    world.change_records(patients // 2, delete=patients // 50)
    world.publish(full=True)
    bundles = download(world, ["full.bundle", "delta-1-2.bundle"], tmp / "bundles")
    world.server.shutdown()
    world.conn.close()
    bad = 0
    for name, (path, custom) in bundles.items():
        target = tmp / "calibrate"
        shutil.copytree(pristine, target)
        _, duration = run_child(target, path, custom, None)
        new = state_of(target)
        shutil.rmtree(target)
        landed = tries = 0
        counts = {"old": 0, "new": 0}
        while landed < kills // 2:
            tries += 1
            target = tmp / f"kill-{tries}"
            shutil.copytree(pristine, target)
            killed, _ = run_child(target, path, custom, rng.uniform(0, duration))
            landed += killed
            check, version, digest = state_of(target)
            if check != "ok":
                bad += 1
            elif (version, digest) == old[1:]:
                counts["old"] += 1
            elif (version, digest) == new[1:]:
                counts["new"] += 1
            else:
                bad += 1
            shutil.rmtree(target)
        print(f"{name}: apply {duration:.2f} s; {landed} kills landed in {tries} runs: "
              f"wholly old {counts['old']}, wholly new {counts['new']}")
    print(f"corrupt or partial: {bad}")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
