"""Enrollment by one-time token against a real hub API on 127.0.0.1 (real TLS, the hub's own CA)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from madoguchi.edge import store
from madoguchi.sync import bundle, protocol
from madoguchi.sync.device import hubclient
from madoguchi.sync.device.client import load_device_config, sync_once
from madoguchi.sync.device.enroll import EnrollmentError, enroll_device
from madoguchi.sync.hub import pki

from madoguchi.cli import main
from tests.sync.conftest import FACILITY


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_enrolled_device_syncs_without_init(hub_api, tmp_path, capsys):
    hub_dir = str(hub_api.paths.hub_dir.parent)
    assert main(["--data-dir", hub_dir, "hub", "enroll-token", "--facility", FACILITY, "--ttl", "1h"]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith(f"{FACILITY}.")
    data_dir = tmp_path / "desk"
    assert main(["--data-dir", str(data_dir), "sync", "enroll", "--hub-url", hub_api.url, "--token", token]) == 0
    assert "enrolled" in capsys.readouterr().out

    sync_dir = data_dir / "sync"
    for secret in ("device.key", "facility.key"):
        assert mode(sync_dir / secret) == 0o600
    assert b"PRIVATE KEY" in (sync_dir / "device.key").read_bytes()
    enrollment = hubclient.load_enrollment(data_dir)
    assert enrollment.facility == FACILITY and enrollment.hub_url == hub_api.url
    # the facility key and the trusted root are the hub's own
    assert (bundle.load_facility_key(sync_dir / "facility.key")
            == bundle.load_facility_key(hub_api.paths.facility_key(FACILITY)))
    assert (sync_dir / "metadata" / "root.json").read_bytes() == hub_api.paths.trusted_root(FACILITY).read_bytes()

    conn = store.open_database(data_dir)
    outcome = sync_once(load_device_config(data_dir), conn)
    assert outcome.result == "ok", outcome.detail
    assert conn.execute("SELECT count(*) FROM qualification").fetchone()[0] > 1000

    assert main(["--data-dir", hub_dir, "hub", "devices", "--facility", FACILITY, "--json"]) == 0
    devices = json.loads(capsys.readouterr().out)
    assert [d["id"] for d in devices] == [enrollment.device_id]
    assert devices[0]["revoked_at"] is None
    for secret in ("ca.key", "server.key"):
        assert mode(hub_api.paths.hub_dir / "pki" / secret) == 0o600
    # the hub keeps the token's hash, never the token
    hub_conn = store.open_database(hub_api.paths.store_dir(FACILITY))
    stored = [r[0] for r in hub_conn.execute("SELECT token_hash FROM enroll_token")]
    assert stored and token.split(".")[1] not in stored


def test_a_token_enrolls_one_device_only(hub_api, tmp_path):
    token = hub_api.token()
    enroll_device(tmp_path / "first", hub_api.url, token, timeout=5)
    with pytest.raises(EnrollmentError, match="unknown or spent token"):
        enroll_device(tmp_path / "second", hub_api.url, token, timeout=5)
    assert hubclient.load_enrollment(tmp_path / "second") is None
    assert len(pki.list_devices(hub_api.paths, FACILITY)) == 1


def test_an_expired_token_is_refused(hub_api, tmp_path):
    token = hub_api.token(ttl=timedelta(minutes=5), now=store.utcnow() - timedelta(minutes=6))
    with pytest.raises(EnrollmentError, match="expired"):
        enroll_device(tmp_path / "late", hub_api.url, token, timeout=5)
    assert pki.list_devices(hub_api.paths, FACILITY) == []


def test_a_token_naming_another_ca_is_refused_before_anything_is_sent(hub_api, tmp_path):
    facility, secret, ca_hash = hub_api.token().split(".")
    wrong = f"{facility}.{secret}.{'0' * 64 if ca_hash != '0' * 64 else '1' * 64}"
    with pytest.raises(EnrollmentError, match="does not match the token's hash"):
        enroll_device(tmp_path / "fooled", hub_api.url, wrong, timeout=5)
    assert not (tmp_path / "fooled").exists()
    # the token was not spent: the right one still works
    enroll_device(tmp_path / "fine", hub_api.url, f"{facility}.{secret}.{ca_hash}", timeout=5)


@pytest.mark.parametrize("token", ["", "x.y", "clinic-a.secret.nothex", "a.b.c.d"])
def test_malformed_tokens(hub_api, tmp_path, token):
    with pytest.raises(EnrollmentError):
        enroll_device(tmp_path / "d", hub_api.url, token, timeout=5)


def test_a_forged_secret_is_refused(hub_api, tmp_path):
    facility, _, ca_hash = hub_api.token().split(".")
    with pytest.raises(EnrollmentError, match="unknown or spent"):
        enroll_device(tmp_path / "d", hub_api.url, f"{facility}.guessed-secret.{ca_hash}", timeout=5)


def test_enroll_command_reports_an_unreachable_hub(tmp_path, capsys):
    token = f"{FACILITY}.secret.{'a' * 64}"
    code = main(["--data-dir", str(tmp_path), "sync", "enroll", "--hub-url", "https://127.0.0.1:9", "--token", token])
    assert code == 3
    assert "cannot reach the hub" in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() != 0, reason="install.sh needs root")
@pytest.mark.parametrize(("args", "message"), [
    (["--hub", "--hub-url", "https://hub:8443", "--token", "t"], "use them with --device"),
    (["--device", "--hub-url", "https://hub:8443"], "needs both --hub-url URL and --token T"),
    (["--device", "--hub-url", "https://hub:8443", "--token", "t", "--root", "r.json"], "choose one enrollment"),
])
def test_install_sh_token_options_are_checked_before_any_change(args, message):
    """install.sh's --token path: bad combinations stop before anything is installed (a full
    install by token runs `madoguchi sync enroll`, tested above)."""
    script = Path(__file__).resolve().parents[2] / "install.sh"
    result = subprocess.run([str(script), *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    assert result.returncode == 2 and message in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("ttl", ["0h", "0.0m", "24", "h", "1w"])
def test_a_bad_token_lifetime_is_refused(hub_api, ttl, capsys):
    code = main(["--data-dir", str(hub_api.paths.hub_dir.parent), "hub", "enroll-token", "--facility", FACILITY,
                 "--ttl", ttl])
    assert code == 2 and "--ttl" in capsys.readouterr().err


PARTS = st.text(st.characters(codec="ascii"), max_size=12)
HASHES = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
TOKENS = st.one_of(st.text(max_size=120), st.builds("{}.{}.{}".format, PARTS, PARTS, HASHES))


@given(TOKENS)
def test_any_text_is_a_token_or_refused_clearly(text):
    try:
        facility, secret, ca_hash = protocol.parse_token(text)
    except ValueError as exc:
        assert "not an enrollment token" in str(exc)
        return
    given_facility, given_secret, given_hash = text.strip().split(".")
    assert (facility, secret, ca_hash) == (given_facility, given_secret, given_hash.lower())
    assert pki.check_facility_name(facility) == facility and secret


def test_a_token_raced_by_several_devices_enrolls_exactly_one(hub_api, tmp_path):
    token = hub_api.token()
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        try:
            enroll_device(tmp_path / f"racer-{n}", hub_api.url, token, timeout=10)
            outcomes.append("enrolled")
        except EnrollmentError as exc:
            outcomes.append(str(exc))

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count("enrolled") == 1, outcomes
    assert all("unknown or spent token" in o for o in outcomes if o != "enrolled")
    assert len(pki.list_devices(hub_api.paths, FACILITY)) == 1


def test_no_token_for_a_facility_the_hub_does_not_have(hub_api, capsys):
    code = main(["--data-dir", str(hub_api.paths.hub_dir.parent), "hub", "enroll-token", "--facility", "typo"])
    assert code == 2 and "no facility 'typo'" in capsys.readouterr().err
    assert "typo" not in hub_api.paths.facilities()
