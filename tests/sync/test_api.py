"""Live queries: the desk asks the hub over mTLS, the hub asks the simulator, within the budget."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import date, timedelta

import pytest
import requests
from madoguchi.edge import store
from madoguchi.edge.card import CardSession
from madoguchi.edge.card.transport import InProcessReader
from madoguchi.edge.config import Config, Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind, Validity
from madoguchi.edge.verdict import CheckRequest, Method, OnlineUnavailable, Outcome, Source
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simserver import HttpUpstream, SimulatorServer
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync import bundle
from madoguchi.sync.device.client import load_device_config, sync_once
from madoguchi.sync.device.hubclient import HubClient, HubRequestError, live_source_for, load_enrollment
from madoguchi.sync.hub import api
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.tables import get_digest

from tests.conftest import NOW, TODAY
from tests.sync.conftest import FACILITY
from tests.unit import card_helpers

POLICY = Policy(online_budget_seconds=1.5)


def by_numbers(sample: dict) -> CheckRequest:
    return CheckRequest(Method.NUMBERS, DocumentKind.ELIGIBILITY_CERTIFICATE, insurer_number=sample["insurer_number"],
                        symbol=sample["symbol"], number=sample["number"], branch=sample["branch"],
                        birth_date=date.fromisoformat(sample["birth_date"]))


@pytest.fixture
def desk(device):
    """(connection, live source) of an enrolled device with a synced cache."""
    conn = store.open_database(device)
    assert sync_once(load_device_config(device), conn).result == "ok"
    client = HubClient.from_data_dir(device)
    yield conn, client.live_source(conn)
    client.close()
    conn.close()


def check(conn, source, request, policy=POLICY):
    started = time.monotonic()
    result = run_check(conn, request, policy, source, clock=lambda: NOW)
    return result, time.monotonic() - started


def test_a_live_check_answers_online_within_the_budget(desk, population_samples):
    conn, source = desk
    result, elapsed = check(conn, source, by_numbers(population_samples["valid"]))
    assert result.verdict.source == Source.ONLINE
    assert result.verdict.outcome == Outcome.OK
    assert result.outbox_id is None  # nothing to reconcile
    assert elapsed < POLICY.online_budget_seconds
    assert conn.execute("SELECT count(*) FROM live_record").fetchone()[0] == 1


def test_a_slow_upstream_gives_a_cache_verdict_within_the_budget(hub_api, desk, population_samples):
    conn, source = desk
    hub_api.national.latency = 5.0
    policy = Policy(online_budget_seconds=0.5)
    result, elapsed = check(conn, source, by_numbers(population_samples["valid"]), policy)
    assert result.verdict.source == Source.CACHE
    assert result.verdict.outcome == Outcome.OK
    assert result.outbox_id is not None  # reconciled later
    assert elapsed < 1.0
    assert conn.execute("SELECT count(*) FROM live_record").fetchone()[0] == 0


def test_an_unreachable_hub_gives_a_cache_verdict(hub_api, desk, population_samples):
    conn, source = desk
    hub_api.api.stop()
    result, elapsed = check(conn, source, by_numbers(population_samples["valid"]))
    assert result.verdict.source == Source.CACHE and result.verdict.outcome == Outcome.OK
    assert elapsed < POLICY.online_budget_seconds


def test_a_live_answer_refreshes_the_devices_view_not_the_signed_cache(hub_api, desk, device, population_samples):
    conn, source = desk
    sample = population_samples["valid"]
    hub_api.national.lose(sample["patient_id"], TODAY - timedelta(days=1))
    before = conn.execute("SELECT * FROM qualification WHERE patient_id = ?", (sample["patient_id"],)).fetchall()
    online, _ = check(conn, source, by_numbers(sample))
    assert online.verdict.source == Source.ONLINE and online.verdict.validity == Validity.INVALID

    hub_api.national.cut()  # now offline: the cache lookup prefers the newer live answer
    offline, _ = check(conn, source, by_numbers(sample))
    assert offline.verdict.source == Source.CACHE
    assert offline.verdict.outcome == Outcome.NG
    assert offline.verdict.record.disqualification_date == TODAY - timedelta(days=1)
    # the signed table is untouched: its digest still matches a full scan
    after = conn.execute("SELECT * FROM qualification WHERE patient_id = ?", (sample["patient_id"],)).fetchall()
    assert after == before
    assert bundle.scan_digest(conn) == get_digest(conn)

    # the hub kept the live answer in the roster: the next bundle carries it to every device
    hub_api.national.restore()
    deadline = time.monotonic() + 5
    while not hub.publish(hub_api.paths, FACILITY).changed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sync_once(load_device_config(device), conn).result == "ok"
    row = conn.execute("SELECT disqualification_date FROM qualification WHERE patient_id = ? "
                       "AND disqualification_date IS NOT NULL", (sample["patient_id"],)).fetchone()
    assert row == ((TODAY - timedelta(days=1)).isoformat(),)
    # the signed cache has caught up: the live answer is dropped, the answer stays the same
    assert conn.execute("SELECT count(*) FROM live_record").fetchone()[0] == 0
    assert check(conn, source, by_numbers(sample))[0].verdict.outcome == Outcome.NG


def test_a_card_and_a_patient_card_are_asked_live(hub_api, desk, population_samples):
    conn, source = desk
    sample = population_samples["family_member"]
    hub_api.national.link_card("link-live-1", sample["patient_id"])
    result, _ = check(conn, source, CheckRequest(Method.CARD, card_link="link-live-1"))
    assert result.verdict.source == Source.ONLINE and result.verdict.record.patient_id == sample["patient_id"]
    result, _ = check(conn, source, CheckRequest(Method.PATIENT_ID, DocumentKind.ELIGIBILITY_CERTIFICATE,
                                                 patient_id=sample["patient_id"]))
    assert result.verdict.source == Source.ONLINE and result.verdict.record.patient_id == sample["patient_id"]


def test_the_api_refuses_bad_questions_clearly(hub_api, device):
    client = HubClient.from_data_dir(device)
    with pytest.raises(HubRequestError, match="422"):
        client.post_json("/v1/check", {"symbol": "x"}, 5)
    with pytest.raises(HubRequestError, match="422"):
        client.post_json("/v1/check", {"card_link": "x", "budget_seconds": 0}, 5)
    with pytest.raises(HubRequestError, match="404"):
        client.get_json("/v1/facility-key?key_id=0123456789abcdef", 5)
    hub_api.national.cut()
    with pytest.raises(OnlineUnavailable, match="503"):
        client.post_json("/v1/check", {"card_link": "x"}, 5)


def test_not_enrolled_means_no_live_source(tmp_path):
    assert HubClient.from_data_dir(tmp_path) is None
    assert live_source_for(tmp_path, None) is None


def test_hub_serve_runs_the_api_and_status_shows_it(hub_api, tmp_path):
    env = {**os.environ, "MADOGUCHI_CONFIG": os.devnull}
    base = [sys.executable, "-m", "madoguchi", "--data-dir", str(hub_api.paths.hub_dir.parent), "hub"]
    hub_api.api.stop()
    process = subprocess.Popen([*base, "serve", "--port", "0", "--api-port", "0"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [process.stdout.readline(), process.stdout.readline()]
        url = re.search(r"(https://\S+?)/ ", lines[1]).group(1)
        answer = requests.get(url + "/v1/ca", verify=str(hub_api.paths.hub_dir / "pki" / "ca.pem"), timeout=5)
        assert answer.status_code == 200
        status = subprocess.run([*base, "status", "--json"], capture_output=True, text=True, env=env, timeout=60)
        api = json.loads(status.stdout)["api"]
        assert api["running"] and api["url"] == url and api["upstream"] == "simulator"
        token = subprocess.run([*base, "enroll-token", "--facility", FACILITY], capture_output=True, text=True,
                               env=env, timeout=60).stdout.strip()
        assert token.endswith(api["ca_sha256"])
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0, process.stderr.read()
    status = subprocess.run([*base, "status", "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert json.loads(status.stdout)["api"]["running"] is False


def test_the_check_command_asks_the_hub_when_enrolled(hub_api, desk, device, population_samples, capsys):
    from madoguchi.cli import main

    hub_api.national.clock = store.utcnow  # `check` runs on the real clock: an answer from NOW would be days old
    sample = population_samples["valid"]
    args = ["--data-dir", str(device), "check", "--insurer", sample["insurer_number"], "--symbol", sample["symbol"],
            "--number", sample["number"], "--branch", sample["branch"], "--birth", sample["birth_date"], "--json"]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "online"
    hub_api.national.cut()
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["source"] == "cache"


def test_the_card_check_asks_the_hub_when_enrolled(hub_api, desk, device, population_samples):
    """`check --card` decides like every other way of checking: live from the hub when enrolled."""
    from madoguchi.cli.card import check_holder

    conn, _ = desk
    reader = InProcessReader()
    reader.insert(card_helpers.card())
    session = CardSession(reader.open(5), card_helpers.anchors())
    try:
        proof = session.prove_holder("1234")
    finally:
        session.close()
    sample = population_samples["valid"]
    hub_api.national.link_card(store.card_link_for(conn, proof.certificate_der), sample["patient_id"])
    hub_api.national.clock = store.utcnow  # the check runs on the real clock: an answer from NOW would be days old
    config = Config(device)
    verdict = check_holder(config, conn, proof).verdict.to_json()
    assert verdict["source"] == "online" and verdict["record"]["patient_id"] == sample["patient_id"]
    hub_api.national.cut()
    assert check_holder(config, conn, proof).verdict.to_json()["source"] == "cache"


def test_the_hub_can_ask_the_simulator_over_http(hub_api, desk, device, population_records, population_samples):
    """`hub serve --upstream http://...`: the same live query through the simulator's network face."""
    national = NationalSystem(population_records, clock=lambda: NOW)
    simulator = SimulatorServer(("127.0.0.1", 0), SimulatedUpstream(national))
    simulator.serve_in_thread()
    upstream_url = f"http://127.0.0.1:{simulator.server_address[1]}"
    server = api.ApiServer(api.create_app(hub_api.paths, lambda: HttpUpstream(upstream_url)), hub_api.paths,
                           "127.0.0.1", 0).start()
    client = HubClient(dataclasses.replace(load_enrollment(device), hub_url=server.url))
    conn, _ = desk
    try:
        result, elapsed = check(conn, client.live_source(conn), by_numbers(population_samples["valid"]))
        assert result.verdict.source == Source.ONLINE and elapsed < POLICY.online_budget_seconds
        national.latency = 5.0
        result, elapsed = check(conn, client.live_source(conn), by_numbers(population_samples["valid"]),
                                Policy(online_budget_seconds=0.5))
        assert result.verdict.source == Source.CACHE and elapsed < 1.0
    finally:
        client.close()
        server.stop()
        simulator.shutdown()
        simulator.server_close()


def test_a_hub_that_never_answers_costs_the_desk_only_the_budget(desk, device, population_samples):
    """The connection is accepted (by the kernel) but no TLS handshake ever comes back."""
    silent = socket.create_server(("127.0.0.1", 0))
    address = f"https://127.0.0.1:{silent.getsockname()[1]}"
    client = HubClient(dataclasses.replace(load_enrollment(device), hub_url=address))
    conn, _ = desk
    try:
        result, elapsed = check(conn, client.live_source(conn), by_numbers(population_samples["valid"]),
                                Policy(online_budget_seconds=0.4))
        assert result.verdict.source == Source.CACHE and result.verdict.outcome == Outcome.OK
        assert elapsed < 0.8
    finally:
        client.close()
        silent.close()


def test_a_card_and_a_smartphone_each_find_the_patient_through_the_hub(hub_api, desk, device, population_samples):
    """Two certificates, two card links (docs/domain.md §2). The hub links each certificate the
    upstream resolves to its patient (`certificate_link`), publishes it, and every desk then finds
    the patient by either offline; revoking the card's certificate leaves the phone's working."""
    conn, source = desk
    sample = population_samples["valid"]
    card, phone = store.card_link_for(conn, b"card certificate"), store.card_link_for(conn, b"phone certificate")
    for link in (card, phone):
        hub_api.national.link_card(link, sample["patient_id"])
    by_card = CheckRequest(Method.CARD, card_link=card)
    by_phone = CheckRequest(Method.CARD, DocumentKind.SMARTPHONE, card_link=phone)
    for request in (by_card, by_phone):
        verdict = check(conn, source, request)[0].verdict
        assert (verdict.source, verdict.outcome) == (Source.ONLINE, Outcome.OK)
    hub_api.api.app.state.live_answers.flush()
    hub.publish(hub_api.paths, FACILITY)
    assert sync_once(load_device_config(device), conn).result == "ok"
    store.prune_live_records(conn)  # the bundle caught up with the live answers: only it finds them now
    assert conn.execute("SELECT count(*) FROM live_record").fetchone()[0] == 0
    hub_api.national.cut()
    for request in (by_card, by_phone):
        verdict = check(conn, source, request)[0].verdict
        assert (verdict.source, verdict.outcome, verdict.record.patient_id) == (
            Source.CACHE, Outcome.OK, sample["patient_id"])

    hub.revoke(hub_api.paths, FACILITY, card, "紛失")
    hub.publish(hub_api.paths, FACILITY)
    assert sync_once(load_device_config(device), conn).result == "ok"
    assert check(conn, source, by_card)[0].verdict.reason == "certificate_revoked"
    assert check(conn, source, by_phone)[0].verdict.outcome == Outcome.OK


def test_the_patients_consent_reaches_the_terminals_request_file(hub_api, desk, device, population_records,
                                                                  population_samples, tmp_path):
    """The desk's CheckRequest carries the patient's answer; the device sends it to the hub, the
    hub writes it into the terminal's request (LimitApplicationCertificateRelatedConsFlg)."""
    from madoguchi.edge.verdict import Consent
    from madoguchi.sync.hub.upstream.terminal import FileTerminal

    from tests.integration.fake_terminal import FakeTerminal

    share = tmp_path / "share"
    with FakeTerminal(share, NationalSystem(population_records, clock=lambda: NOW)) as terminal:
        server = api.ApiServer(api.create_app(hub_api.paths, lambda: FileTerminal(
            share, tmp_path / "quarantine", "1312345678", settle=0.1, clock=lambda: NOW)),
            hub_api.paths, "127.0.0.1", 0).start()
        client = HubClient(dataclasses.replace(load_enrollment(device), hub_url=server.url))
        conn, _ = desk
        try:
            for answer, sent in (("1", "1"), ("0", "0"), ("3", "0"), ("", "0")):
                request = dataclasses.replace(by_numbers(population_samples["valid"]), consent=Consent(limit=answer))
                result, _ = check(conn, client.live_source(conn), request, Policy(online_budget_seconds=5))
                assert result.verdict.source == Source.ONLINE
                assert terminal.seen[-1]["infos"][0]["LimitApplicationCertificateRelatedConsFlg"] == sent
                assert result.verdict.request["consent"]["limit"] == answer
        finally:
            client.close()
            server.stop()
