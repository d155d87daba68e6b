"""Mutual TLS on the hub API: who is refused, and what a revoked device can no longer get."""

from __future__ import annotations

import json
import ssl
import urllib.request

import pytest
import requests
from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineUnavailable
from madoguchi.sync import bundle
from madoguchi.sync.device.client import load_device_config, sync_once
from madoguchi.sync.device.enroll import enroll_device
from madoguchi.sync.device.hubclient import HubClient, HubRefused, load_enrollment
from madoguchi.sync.hub import api, pki
from madoguchi.sync.hub import repository as hub

from tests.conftest import TODAY
from tests.sync.conftest import FACILITY

PROTECTED = [("GET", "/v1/device"), ("GET", "/v1/facility-key"), ("POST", "/v1/check")]


def ca_only(hub_api) -> dict:
    """requests arguments trusting the hub CA, with no client certificate."""
    return {"verify": str(pki.ca_cert_path(hub_api.paths)), "timeout": 5}


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_no_client_certificate_gets_401(hub_api, method, path):
    response = requests.request(method, hub_api.url + path, json={}, **ca_only(hub_api))
    assert response.status_code == 401
    assert "enroll" in response.json()["detail"]


def test_the_public_endpoints_need_no_certificate(hub_api):
    response = requests.get(hub_api.url + "/v1/ca", **ca_only(hub_api))
    assert response.status_code == 200
    assert pki.ca_hash(response.json()["ca_pem"].encode()) == hub_api.token().split(".")[2]


def test_a_certificate_from_another_ca_fails_the_handshake(hub_api, tmp_path, population_records):
    other = hub.HubPaths(tmp_path / "other-hub")
    hub.import_population(other, FACILITY, [json.dumps(r) for r in population_records[:5]], TODAY)
    hub.publish(other, FACILITY)
    # a device of another hub (its own CA) with the same facility name
    other_server = api.ApiServer(api.create_app(other, lambda: None), other, "127.0.0.1", 0).start()
    try:
        enroll_device(tmp_path / "stranger", other_server.url, pki.make_token(other, FACILITY), timeout=5)
    finally:
        other_server.stop()
    stranger = load_enrollment(tmp_path / "stranger")
    # TLS 1.3: the server checks the client certificate after the client's side of the handshake,
    # so the refusal shows as an alert or a closed connection
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(hub_api.url + "/v1/device", cert=(str(stranger.cert), str(stranger.key)), **ca_only(hub_api))
    # and through the device's own client, pointed at this hub and trusting its CA
    (tmp_path / "stranger" / "sync" / "hub-ca.pem").write_bytes(pki.ca_cert_path(hub_api.paths).read_bytes())
    (tmp_path / "stranger" / "sync" / "hub.json").write_text(json.dumps(
        {"hub_url": hub_api.url, "device_id": stranger.device_id, "facility": FACILITY}))
    with pytest.raises(OnlineUnavailable):
        HubClient.from_data_dir(tmp_path / "stranger").get_json("/v1/device", 5)


def test_a_certificate_of_this_ca_unknown_to_the_registry_gets_403(hub_api, device, tmp_path):
    enrollment = load_enrollment(device)
    conn = store.open_database(hub_api.paths.store_dir(FACILITY))
    with store.transaction(conn):
        conn.execute("DELETE FROM device")
    conn.close()
    response = requests.get(hub_api.url + "/v1/device", cert=(str(enrollment.cert), str(enrollment.key)),
                            **ca_only(hub_api))
    assert response.status_code == 403


def test_a_revoked_device_is_refused_at_once(hub_api, device, capsys):
    client = HubClient.from_data_dir(device)
    assert client.get_json("/v1/device", 5)["id"] == load_enrollment(device).device_id  # keep-alive connection open
    from madoguchi.cli import main

    assert main(["--data-dir", str(hub_api.paths.hub_dir.parent), "hub", "revoke-device",
                 load_enrollment(device).device_id]) == 0
    assert "rotated" in capsys.readouterr().out
    for method, path in PROTECTED:
        with pytest.raises(HubRefused, match="revoked"):
            client.request_json(method, path, {"card_link": "x"} if method == "POST" else None, 5)


def test_after_revocation_only_the_others_read_new_bundles(hub_api, tmp_path, population_records):
    revoked, kept = hub_api.enroll(tmp_path / "revoked"), hub_api.enroll(tmp_path / "kept")
    conns = {d: store.open_database(d) for d in (revoked, kept)}
    for d, conn in conns.items():
        assert sync_once(load_device_config(d), conn).result == "ok"
    old_key_id = bundle.key_id(bundle.load_facility_key(hub_api.paths.facility_key(FACILITY)))

    device, new_key_id = pki.revoke_device(hub_api.paths, load_enrollment(revoked).device_id)
    assert device.revoked_at and new_key_id != old_key_id
    # a later change, published with the new key
    hub.revoke(hub_api.paths, FACILITY, "link-after-rotation", "lost card")
    published = hub.publish(hub_api.paths, FACILITY)

    outcome = sync_once(load_device_config(kept), conns[kept])
    assert outcome.result == "ok", outcome.detail
    assert store.revocation_reason(conns[kept], "link-after-rotation") == "lost card"
    assert (kept / "sync" / "facility-keys" / f"{new_key_id}.key").exists()
    assert store.get_sync_state(conns[kept]).data_version == published.data_version

    outcome = sync_once(load_device_config(revoked), conns[revoked])
    assert outcome.result == "rejected"
    assert "refused" in outcome.detail and new_key_id in outcome.detail
    assert store.revocation_reason(conns[revoked], "link-after-rotation") is None
    assert not (revoked / "sync" / "facility-keys" / f"{new_key_id}.key").exists()
    # a device enrolled after the rotation gets the new key and reads everything listed
    late = hub_api.enroll(tmp_path / "late")
    conn = store.open_database(late)
    assert sync_once(load_device_config(late), conn).result == "ok"
    assert store.revocation_reason(conn, "link-after-rotation") == "lost card"


def test_the_api_port_speaks_tls_only(hub_api):
    context = ssl.create_default_context(cafile=str(pki.ca_cert_path(hub_api.paths)))
    with urllib.request.urlopen(hub_api.url + "/v1/ca", context=context, timeout=5) as response:
        assert response.status == 200
    with pytest.raises(requests.exceptions.ConnectionError):  # plain HTTP on the TLS port
        requests.get(hub_api.url.replace("https", "http") + "/v1/ca", timeout=5)
