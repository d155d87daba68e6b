"""Reconciliation over the real hub API: offline checks go up through mTLS, contradictions come
back as 要対応, once — also when the uploading process is killed with SIGKILL again and again."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import timedelta

import requests
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.store import list_followups
from madoguchi.sync.device.client import load_device_config, sync_once
from madoguchi.sync.device.hubclient import HubClient
from madoguchi.sync.device.upload import upload_outbox
from madoguchi.sync.hub import pki

from tests.conftest import NOW, TODAY
from tests.unit.test_verdict import by_numbers

from .conftest import FACILITY

POLICY = Policy()
MADOGUCHI = [sys.executable, "-m", "madoguchi"]


def synced_store(device):
    conn = store.open_database(device, create=True)
    assert sync_once(load_device_config(device), conn).ok
    return conn


def test_offline_checks_are_reconciled_through_the_hub(hub_api, device, population_samples):
    conn = synced_store(device)
    client = HubClient.from_data_dir(device)
    hub_api.national.cut()
    samples = [population_samples[k] for k in ("valid", "family_member", "lost")]
    for sample in samples:
        result = run_check(conn, by_numbers(sample), POLICY, client.live_source(conn), clock=lambda: NOW)
        assert result.verdict.source.value == "cache" and result.outbox_id
    outcome = upload_outbox(conn, client.post_json)
    assert (outcome.reconciled, outcome.pending) == (0, 3) and "upstream" in outcome.error
    hub_api.national.restore()
    hub_api.national.lose(samples[0]["patient_id"], TODAY - timedelta(days=1))
    outcome = upload_outbox(conn, client.post_json)
    assert (outcome.reconciled, outcome.followups, outcome.error) == (3, 1, "")
    [followup] = list_followups(conn)
    assert followup.kind == "lost_after_ok" and followup.outbox_id == 1


def test_a_device_without_a_client_certificate_cannot_upload(hub_api):
    answer = requests.post(hub_api.url + "/v1/outbox", json={"entries": []}, timeout=5,
                           verify=str(pki.ca_cert_path(hub_api.paths)))
    assert answer.status_code == 401


def test_kill_9_during_upload_reconciles_each_entry_exactly_once(hub_api, device, population_records,
                                                                 population_samples):
    conn = synced_store(device)
    valid = [r for r in population_records if r["validity"] == 1 and not r["disqualification_date"]
             and r["registered_on"] <= TODAY.isoformat()][:300]
    hub_api.national.cut()
    offline_ok = [run_check(conn, by_numbers(record), POLICY, clock=lambda: NOW).verdict.outcome.value == "ok"
                  for record in valid]  # no online source: from the cache
    lost = {r["patient_id"] for r in valid[::7]}
    for patient_id in lost:
        hub_api.national.lose(patient_id, TODAY - timedelta(days=3))
    hub_api.national.restore()
    hub_api.national.latency = 0.01  # ~1 s of upstream time per batch of 100
    expected = {i + 1: "lost_after_ok" if ok else None for i, (r, ok) in enumerate(zip(valid, offline_ok, strict=True))
                if r["patient_id"] in lost}
    expected |= {i + 1: "valid_after_all" for i, (r, ok) in enumerate(zip(valid, offline_ok, strict=True))
                 if r["patient_id"] not in lost and not ok}  # stale records: 要確認 offline
    expected = {k: v for k, v in expected.items() if v}
    conn.close()
    rng, kills = random.Random(5), 0
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    for _ in range(40):
        process = subprocess.Popen([*MADOGUCHI, "--data-dir", str(device), "sync", "upload", "--json"], env=env,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        try:
            process.wait(timeout=rng.uniform(0.3, 1.5))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)
            kills += 1
            continue
        report = json.loads(process.stdout.read())
        if report["reconciled"] == 0 and report["error"] is None:
            break
    conn = store.open_database(device)
    assert kills >= 3, "no upload was killed: the test proves nothing"
    assert conn.execute("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL").fetchone()[0] == 0
    followups = list_followups(conn)
    assert {f.outbox_id: f.kind for f in followups} == expected
    assert len(followups) == len(expected) and sum(k == "lost_after_ok" for k in expected.values()) > 20
    hub_conn = store.open_database(hub_api.paths.store_dir(FACILITY))
    assert hub_conn.execute("SELECT count(*) FROM reconciled_entry").fetchone()[0] == len(valid)
    assert store.verify_audit(conn)[1] == []


def test_doctor_checks_the_hub_api_over_mtls(hub_api, device, tmp_path):
    from madoguchi.sync.device.hubclient import load_enrollment

    from madoguchi.ops.doctor import Status, api_check

    assert api_check(device).status == Status.OK
    assert api_check(tmp_path / "never-enrolled").status == Status.WARN
    pki.revoke_device(hub_api.paths, load_enrollment(device).device_id)
    refused = api_check(device)
    assert refused.status == Status.FAIL and "拒否" in refused.fix_ja
