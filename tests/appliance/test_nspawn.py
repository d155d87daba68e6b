"""install.sh in a booted Debian 12 container (systemd-nspawn --boot of a debootstrapped
bookworm): the units come up under a real systemd, the watchdog restarts a hung sync daemon,
`systemctl reload` (SIGUSR1) syncs now, and a reboot keeps the cache.

Slow: the first run debootstraps a base system into /var/tmp/madoguchi-nspawn-base (kept for
later runs); each run copies it and installs the Debian packages inside. The Python packages
come from the lock's files downloaded on this machine (an offline install: PIP_NO_INDEX, PIP_FIND_LINKS).
The hub runs on this machine's 127.0.0.1, which the container shares.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.appliance.test_install import snapshot

BASE = Path("/var/tmp/madoguchi-nspawn-base")


def debian_mirror() -> str:
    """The Debian mirror this machine's apt already uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list.d/*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and not line.rstrip().endswith("-security"):
                return line.split()[1]
    for line in Path("/etc/apt/sources.list").read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["deb"] and "security" not in line:
            return next(p for p in parts[1:] if "://" in p)
    raise AssertionError("no Debian mirror configured for apt")

pytestmark = [
    pytest.mark.slow,
    # On a fresh machine (as CI is) the base is debootstrapped first: more than the default 300 s
    # under load.
    pytest.mark.timeout(1800),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
    pytest.mark.skipif(not (shutil.which("systemd-nspawn") and shutil.which("debootstrap")),
                       reason="systemd-container and debootstrap not installed"),
]


def base_system() -> Path:
    """The cached base, made again unless a debootstrap of these packages completed: one that was
    killed half-way (a full disk, a timeout) leaves a root that looks whole and does not boot."""
    packages = "systemd,systemd-sysv,dbus,ca-certificates,python3"
    complete = BASE / ".complete"
    if not complete.exists() or complete.read_text() != packages:
        new = BASE.with_name(BASE.name + ".new")
        for path in (BASE, new):
            unmounted(path)
            shutil.rmtree(path, ignore_errors=True)
        # debootstrap mounts /proc in its target and unmounts it only when it ends normally: in
        # namespaces of its own, a killed one leaves no mount and no process behind (copying a
        # mounted /proc filled the disk once).
        subprocess.run(["unshare", "--mount", "--propagation", "private", "--pid", "--kill-child",
                        "debootstrap", "--variant=minbase",
                        f"--include={packages}", "bookworm", str(new), debian_mirror()],
                       check=True, capture_output=True, timeout=1200)
        (new / "etc/hostname").write_text("madoguchi-test\n")
        (new / ".complete").write_text(packages)
        new.rename(BASE)
    unmounted(BASE)
    return BASE


def unmounted(path: Path) -> None:
    """Fails if anything is mounted at or under PATH: never copy or delete through a mount."""
    where = str(path.resolve())
    points = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    inside = [point for point in points if point == where or point.startswith(where + "/")]
    assert not inside, f"mounted under {where}: {inside}; unmount them (findmnt -R {where}) and run again"


class Container:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.process: subprocess.Popen | None = None

    def boot(self) -> None:
        self.process = subprocess.Popen(
            ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit",
             "--machine=madoguchi-test", "--console=pipe"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = self.run("systemctl", "is-system-running", check=False).stdout.strip()
            if state in ("running", "degraded"):
                return
            time.sleep(0.5)
        raise AssertionError(f"the container did not boot: {state}")

    @property
    def leader(self) -> int:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return int(children[0])

    def run(self, *command: str, check: bool = True, timeout: float = 600, env: dict | None = None):
        prefix = ["env", *(f"{k}={v}" for k, v in (env or {}).items())]
        try:
            leader = self.leader
        except (IndexError, FileNotFoundError):
            return subprocess.CompletedProcess(command, 1, "", "not booted")
        result = subprocess.run(["nsenter", "-t", str(leader), "-a", *prefix, *command], capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if check:
            assert result.returncode == 0, f"{command}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
        return result

    def show(self, unit: str, prop: str) -> str:
        return self.run("systemctl", "show", unit, "-p", prop, "--value").stdout.strip()

    def poweroff(self) -> None:
        if self.process and self.process.poll() is None:
            self.run("systemctl", "poweroff", check=False)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.terminate()  # systemd-nspawn: the container's init is killed with it
                try:
                    self.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()


def wait_until(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_the_appliance_in_a_booted_container(tmp_path, hub):
    root = tmp_path / "root"
    started = time.monotonic()
    subprocess.run(["cp", "-a", str(base_system()), str(root)], check=True)
    print(f"the container's root (debootstrap unless {BASE} was there): {time.monotonic() - started:.1f} s")
    source = snapshot(root / "root" / "src")
    wheels = root / "wheels"
    # The lock's own files (their hashes are checked), pyscard as its source archive, built in the container.
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "-d", str(wheels), "--require-hashes", "-r",
                    str(source / "requirements" / "device.txt")], check=True, capture_output=True, timeout=600)
    enroll = root / "root" / "enroll"
    enroll.mkdir()
    shutil.copy(hub.root, enroll / "root.json")
    shutil.copy(hub.facility_key, enroll / "facility.key")
    container = Container(root)
    try:
        container.boot()
        started = time.monotonic()
        install = container.run("/root/src/install.sh", "--device", "--no-kiosk", "--root", "/root/enroll/root.json",
                                "--facility-key", "/root/enroll/facility.key", "--url", hub.url, check=False,
                                env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": "/wheels"})
        print(f"install in the container (Debian packages included): {time.monotonic() - started:.1f} s")
        assert install.returncode == 0, install.stdout[-4000:] + install.stderr[-4000:]
        for unit in ("madoguchi-sync.service", "pcscd.socket"):
            assert container.show(unit, "ActiveState") == "active", unit
        checks = {c["name"]: c for c in json.loads(container.run("madoguchi", "doctor", "--json", check=False).stdout)["checks"]}
        for name in ("pcscd", "hub", "tuf", "cache", "encryption", "madoguchi-sync.service"):
            assert checks[name]["status"] == "ok", checks[name]
        security = container.run("systemd-analyze", "security", "madoguchi-sync.service", check=False).stdout
        print(security.strip().splitlines()[-1])

        # `systemctl reload` = SIGUSR1 = sync now (the interval is 30 s)
        def last_attempt() -> str:
            return json.loads(container.run("madoguchi", "sync", "status", "--json").stdout)["last_attempt_at"]
        assert wait_until(lambda: last_attempt() is not None, 30)
        before = last_attempt()
        time.sleep(1)
        container.run("systemctl", "reload", "madoguchi-sync.service")
        assert wait_until(lambda: last_attempt() != before, 10), "SIGUSR1 did not sync"

        # a hung daemon (SIGSTOP) stops its watchdog pings: systemd restarts it
        container.run("mkdir", "-p", "/etc/systemd/system/madoguchi-sync.service.d")
        (root / "etc/systemd/system/madoguchi-sync.service.d/test-watchdog.conf").write_text("[Service]\nWatchdogSec=4\n")
        container.run("systemctl", "daemon-reload")
        container.run("systemctl", "restart", "madoguchi-sync.service")
        assert wait_until(lambda: container.show("madoguchi-sync.service", "StatusText").startswith(("ok", "unchanged")), 30)
        hung = container.show("madoguchi-sync.service", "MainPID")
        container.run("sh", "-c", f"kill -STOP {hung}")
        assert wait_until(lambda: container.show("madoguchi-sync.service", "NRestarts") == "1", 30)
        assert wait_until(lambda: container.show("madoguchi-sync.service", "ActiveState") == "active", 30)
        assert container.show("madoguchi-sync.service", "MainPID") != hung
        result = container.run("journalctl", "-u", "madoguchi-sync.service", "--no-pager").stdout
        assert "watchdog" in result

        # a reboot keeps the cache, and the units come back
        version = json.loads(container.run("madoguchi", "sync", "status", "--json").stdout)["data_version"]
        container.poweroff()
        container.boot()
        assert wait_until(lambda: container.show("madoguchi-sync.service", "ActiveState") == "active", 60)
        status = json.loads(container.run("madoguchi", "sync", "status", "--json").stdout)
        assert status["data_version"] == version == 1
    finally:
        container.poweroff()
        unmounted(root)
        shutil.rmtree(root, ignore_errors=True)
