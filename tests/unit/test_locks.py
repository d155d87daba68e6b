"""The lock files (requirements/*.txt, made by scripts/lock) and the dependency audit
(scripts/audit): every package pinned with hashes, one version everywhere, pyproject.toml's
requirements met, and an audit that cannot run says so instead of passing."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = {"dev": ["dev", "reader", "hub", "images", "camera", "samples", "sqlcipher"], "base": [],
         "device": ["reader", "sqlcipher"], "hub": ["hub", "sqlcipher"]}


def pins(name: str) -> dict[str, tuple[str, frozenset[str]]]:
    """{package: (version, hashes)} of requirements/NAME.txt."""
    text = (ROOT / "requirements" / f"{name}.txt").read_text()
    found = {}
    for entry in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 1)[1]):
        if entry.startswith("#") or not entry.strip():
            continue
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)", entry)
        assert match, f"{name}.txt: not an exact pin: {entry.splitlines()[0]}"
        hashes = frozenset(re.findall(r"--hash=sha256:([0-9a-f]{64})", entry))
        assert hashes, f"{name}.txt: {match.group(1)} has no hash"
        found[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return found


def test_every_lock_pins_its_extras_at_one_version_everywhere():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    build = [line for line in (ROOT / "requirements" / "build.in").read_text().splitlines()
             if line and not line.startswith("#")]
    dev = pins("dev")
    for name, extras in LOCKS.items():
        locked = pins(name)
        wanted = project["dependencies"] + build + [r for e in extras for r in project["optional-dependencies"][e]]
        for line in wanted:
            requirement = Requirement(line)
            package = canonicalize_name(requirement.name)
            if package == "madoguchi":  # an extra naming others (madoguchi[images]): in the list already
                assert requirement.extras <= set(extras), line
                continue
            assert package in locked, f"{name}.txt lacks {package}: run scripts/lock"
            assert requirement.specifier.contains(locked[package][0]), f"{name}.txt: {package} {locked[package][0]}"
        for package, pin in locked.items():
            assert dev.get(package) == pin, f"{name}.txt and dev.txt differ on {package}: run scripts/lock"


def test_a_binary_package_is_pinned_with_more_than_one_platform_s_files():
    # cryptography publishes wheels for amd64 and arm64 (and others) and a source archive: a lock
    # made from one machine's files only would refuse the other architecture's wheel.
    assert len(pins("device")["cryptography"][1]) > 5


@pytest.mark.skipif(not (ROOT / ".venv" / "bin" / "pip-audit").exists(), reason="pip-audit missing (scripts/bootstrap test)")
def test_an_audit_that_cannot_reach_its_service_fails_loudly():
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: every connection is refused
    proxy = f"http://127.0.0.1:{closed.getsockname()[1]}"
    try:
        env = os.environ | {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy}
        env.pop("NO_PROXY", None)
        env.pop("no_proxy", None)
        result = subprocess.run([str(ROOT / "scripts" / "audit"), "requirements/device.txt"], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=300)
    finally:
        closed.close()
    assert result.returncode == 3, result.stdout + result.stderr
    assert "cannot audit" in result.stderr and "No known vulnerabilities" not in result.stdout
