"""install.sh for real, as root, on this machine: device mode (headless) enrolled by a one-time
token with a hub on 127.0.0.1, a second run that changes nothing, then --uninstall and
--uninstall --purge.

Runs from a snapshot of the sources (others may edit the tree meanwhile). Without systemd as
PID 1 the units are installed but not started; the first sync is run by hand by install.sh.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = [Path("/opt/madoguchi"), Path("/etc/madoguchi"), Path("/etc/credstore.encrypted/madoguchi-db-key"),
             Path("/usr/lib/sysusers.d/madoguchi.conf"), Path("/usr/lib/tmpfiles.d/madoguchi.conf"),
             Path("/usr/local/bin/madoguchi"), Path("/etc/systemd/system/madoguchi-sync.service")]

KIOSK_PACKAGES = ("cage", "foot", "xwayland", "fonts-noto-cjk")
HEADLESS = {"WLR_BACKENDS": "headless", "WLR_RENDERER": "pixman"}

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="install.sh needs root"),
    pytest.mark.skipif(shutil.which("systemd-creds") is None, reason="systemd-creds missing"),
    pytest.mark.skipif(Path("/opt/madoguchi").exists(), reason="madoguchi is installed on this machine: not touching it"),
]


def shellcheck(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["shellcheck", *map(str, paths)], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck missing (scripts/bootstrap test)")
def test_shellcheck_is_clean():
    result = shellcheck(ROOT / "install.sh", ROOT / "systemd" / "madoguchi-admin")
    assert result.returncode == 0, result.stdout


def snapshot(dest: Path) -> Path:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("edge", "sync", "tui", "sim", "madoguchi", "systemd", "docs", "requirements"):
        shutil.copytree(ROOT / name, dest / name, ignore=ignore)
    for name in ("install.sh", "pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    return dest


def installed_hashes() -> dict[str, str]:
    hashes = {}
    for top in INSTALLED:
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file() and not path.is_symlink():
                hashes[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def run(source: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MADOGUCHI_", "VIRTUAL_ENV"))}
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return subprocess.run([str(source / "install.sh"), *args], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=900)


def installed(package: str) -> bool:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True)
    return "install ok installed" in result.stdout


def tmux_screen(socket: str) -> str:
    return subprocess.run(["tmux", "-S", socket, "capture-pane", "-p", "-t", "ui"], capture_output=True,
                          text=True, timeout=10).stdout


def check_the_kiosk_runs_headless() -> None:
    """The kiosk unit's own ExecStart, as the madoguchi user, on a headless screen: the desk comes
    up inside cage/foot/tmux on the encrypted cache, and `madoguchi support` shows it read-only."""
    unit = Path("/etc/systemd/system/madoguchi-kiosk@.service").read_text()
    command = shlex.split(next(line for line in unit.splitlines() if line.startswith("ExecStart="))[10:])
    env = dict(line.split("=", 1) for line in Path("/etc/madoguchi/kiosk.env").read_text().splitlines()
               if line and not line.startswith("#"))
    for line in unit.splitlines():
        if line.startswith("Environment="):
            env |= dict(item.split("=", 1) for item in shlex.split(line[12:]))
    socket = command[command.index("-S") + 1]
    runtime, secrets_dir = Path(socket).parent, Path(tempfile.mkdtemp(dir="/run"))
    xdg = Path(tempfile.mkdtemp(dir="/run"))
    for directory in (runtime, xdg, secrets_dir):
        directory.mkdir(mode=0o700, exist_ok=True)
        shutil.chown(directory, "madoguchi", "madoguchi")
    subprocess.run(["systemd-creds", "decrypt", "--name=madoguchi-db-key", "/etc/credstore.encrypted/madoguchi-db-key",
                    str(secrets_dir / "madoguchi-db-key")], check=True, capture_output=True)
    shutil.chown(secrets_dir / "madoguchi-db-key", "madoguchi")
    (secrets_dir / "madoguchi-db-key").chmod(0o400)  # as systemd hands a credential over
    env |= HEADLESS | {"XDG_RUNTIME_DIR": str(xdg), "CREDENTIALS_DIRECTORY": str(secrets_dir)}
    kiosk = subprocess.Popen(["runuser", "-u", "madoguchi", "--", "env", *(f"{k}={v}" for k, v in env.items()),
                              *command], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    viewer = tempfile.mktemp(dir="/run")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(tmux_screen(socket).split()) < 3:
            assert kiosk.poll() is None, kiosk.stderr.read()[-3000:]
            time.sleep(0.5)
        time.sleep(2)  # still up: not a crash screen on its way out
        desk = tmux_screen(socket)
        assert kiosk.poll() is None and len(desk.split()) >= 3, desk
        subprocess.run(["tmux", "-S", viewer, "new-session", "-d", "-s", "ui", "-x", "200", "-y", "50",
                        "/usr/local/bin/madoguchi support"], check=True, timeout=10)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and desk.split()[0] not in tmux_screen(viewer):
            time.sleep(0.5)
        assert desk.split()[0] in tmux_screen(viewer), tmux_screen(viewer)
        print(f"kiosk: the desk is up headless ({desk.split()[0]} ...); support shows it read-only")
    finally:
        subprocess.run(["tmux", "-S", viewer, "kill-server"], capture_output=True)
        Path(viewer).unlink(missing_ok=True)
        subprocess.run(["runuser", "-u", "madoguchi", "--", "tmux", "-S", socket, "kill-server"], capture_output=True)
        os.killpg(kiosk.pid, signal.SIGTERM)
        kiosk.wait(timeout=30)
        for directory in (runtime, xdg, secrets_dir):
            shutil.rmtree(directory, ignore_errors=True)


def test_install_twice_then_uninstall(tmp_path, hub):
    source = snapshot(tmp_path / "src")
    kiosk = all(installed(p) for p in KIOSK_PACKAGES)  # else headless, as in CI without them
    token = hub.token()
    enroll = ["--hub-url", hub.api_url, "--token", token] + ([] if kiosk else ["--no-kiosk"])
    try:
        not_enrolled = run(source, "--device", "--no-kiosk")  # no terminal to ask on: fails before any change
        assert not_enrolled.returncode == 2 and "not enrolled" in not_enrolled.stderr
        assert not_enrolled.stdout == "" and not Path("/opt/madoguchi").exists()

        started = time.monotonic()
        broken = run(source, "--device", "--hub-url", "https://127.0.0.1:9", *enroll[2:])  # nobody there
        assert broken.returncode != 0 and "FAILED at line" in broken.stderr
        assert "during: enrollment with the hub" in broken.stderr and "run the same command again" in broken.stderr
        first = run(source, "--device", *enroll)  # repairs what the failed run left
        print(f"first install (failing run + repairing run): {time.monotonic() - started:.1f} s")
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
        assert "==> installed (" in first.stdout

        doctor = subprocess.run(["/usr/local/bin/madoguchi", "doctor", "--json"], capture_output=True, text=True,
                                timeout=120, stdin=subprocess.DEVNULL)
        checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
        for name in ("enrollment", "hub", "hub-api", "tuf", "cache", "encryption", "outbox", "disk"):
            assert checks[name]["status"] == "ok", checks[name]
        key = subprocess.run(["systemd-creds", "decrypt", "--name=madoguchi-db-key",
                              "/etc/credstore.encrypted/madoguchi-db-key", "-"], capture_output=True, text=True,
                             check=True).stdout.strip()
        assert len(key) == 64 and key not in first.stdout + first.stderr + doctor.stdout + doctor.stderr
        cache = Path("/var/lib/madoguchi/cache.db")
        assert not cache.read_bytes().startswith(b"SQLite format 3")  # encrypted at rest
        assert cache.stat().st_uid != 0 and Path("/var/lib/madoguchi").stat().st_mode & 0o777 == 0o700
        assert "vsmartcard-vpcd" not in first.stdout.split("Debian packages")[1].split("==>")[0].replace(
            "WARNING", "")  # never installed by install.sh

        if kiosk:
            check_the_kiosk_runs_headless()

        before = installed_hashes()
        started = time.monotonic()
        second = run(source, "--device", *enroll)
        print(f"second install: {time.monotonic() - started:.1f} s")
        assert second.returncode == 0, second.stdout[-4000:] + second.stderr[-4000:]
        assert "==> installed (0 changes)" in second.stdout
        assert "    changed:" not in second.stdout
        assert installed_hashes() == before

        uninstall = run(source, "--uninstall")
        assert uninstall.returncode == 0, uninstall.stdout + uninstall.stderr
        assert not Path("/opt/madoguchi").exists() and not Path("/usr/local/bin/madoguchi").exists()
        assert cache.exists() and Path("/etc/credstore.encrypted/madoguchi-db-key").exists()  # data kept
    finally:
        purge = run(source, "--uninstall", "--purge")
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert not Path("/var/lib/madoguchi").exists() and not Path("/etc/madoguchi").exists()
    assert subprocess.run(["id", "madoguchi"], capture_output=True).returncode != 0


def test_hub_install_publishes_encrypted(tmp_path, hub):
    """--hub: the hub's facility store is encrypted too, and `sudo madoguchi ...` (the wrapper)
    runs hub commands as the madoguchi user with the key."""
    source = snapshot(tmp_path / "src")
    shared = Path(tempfile.mkdtemp(dir="/tmp"))
    shared.chmod(0o755)
    population = shared / "population.jsonl"
    shutil.copy(hub.data_dir.parent / "population.jsonl", population)
    population.chmod(0o644)
    try:
        undecided = run(source, "--hub", "--listen", "127.0.0.1:8471")
        assert undecided.returncode == 2 and "--upstream simulator (demos and training only)" in undecided.stderr
        first = run(source, "--hub", "--listen", "127.0.0.1:8471", "--upstream", "simulator")
        assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-4000:]
        assert "MADOGUCHI_HUB_PORT=8471" in Path("/etc/madoguchi/hub.env").read_text()
        assert 'upstream = "simulator"' in Path("/etc/madoguchi/config.toml").read_text()
        admin = ["/usr/local/bin/madoguchi"]
        medium = shared / "root-medium"  # the root key's medium, writable by the service user as mounted
        medium.mkdir()
        shutil.chown(medium, "madoguchi", "madoguchi")
        subprocess.run([*admin, "hub", "import", str(population), "--facility", "clinic-b", "--root-keys",
                        str(medium)], check=True,
                       capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        doctor = subprocess.run([*admin, "doctor", "--json"], capture_output=True, text=True, timeout=120,
                                stdin=subprocess.DEVNULL)
        checks = {c["name"]: c for c in json.loads(doctor.stdout)["checks"]}
        assert checks["facility clinic-b"]["status"] == "ok", checks
        database = Path("/var/lib/madoguchi/hub/facilities/clinic-b/cache.db")
        assert database.exists() and not database.read_bytes().startswith(b"SQLite format 3")
        again = run(source, "--hub")  # --listen and --upstream kept from the configuration
        assert "==> installed (0 changes)" in again.stdout, again.stdout[-3000:]
    finally:
        purge = run(source, "--uninstall", "--purge")
        shutil.rmtree(shared)
    assert purge.returncode == 0, purge.stdout + purge.stderr
