"""The simulator's network face: real HTTP on 127.0.0.1, and the `madoguchi upstream simulate` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta

import pytest
import requests
from madoguchi.edge.model import Validity
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.simserver import HttpUpstream, SimulatorServer
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.hub.upstream.base import NumbersQuery, UpstreamError, UpstreamTimeout, UpstreamUnavailable

from tests.conftest import NOW, TODAY


@pytest.fixture
def server(population_records):
    national = NationalSystem(population_records, clock=lambda: NOW)
    server = SimulatorServer(("127.0.0.1", 0), SimulatedUpstream(national))
    server.serve_in_thread()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def client(server):
    return HttpUpstream(f"http://127.0.0.1:{server.server_address[1]}")


def query(sample: dict, branch: bool = True) -> NumbersQuery:
    return NumbersQuery(sample["insurer_number"], sample["symbol"], sample["number"],
                        date.fromisoformat(sample["birth_date"]), sample["branch"] if branch else "")


def control(client: HttpUpstream, **body) -> dict:
    response = requests.post(client.base_url + "/v1/control", json=body, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()


def test_checks_over_http(client, population_samples):
    answer = client.check(query(population_samples["valid"]), 2.0)
    assert answer.validity == Validity.VALID
    assert answer.records[0].patient_id == population_samples["valid"]["patient_id"]
    answers = client.batch_check([query(population_samples["lost"]), query(population_samples["not_found"])], 2.0)
    assert [a.validity for a in answers] == [Validity.INVALID, Validity.NOT_FOUND]


def test_a_welfare_answer_keeps_its_fund_over_http(client, population_samples):
    sample = population_samples["welfare_75"]
    (record,) = client.check(query(sample), 2.0).records
    assert record.is_welfare and record.welfare_office and record.copay_percent is None
    assert [(f.payer_number, f.recipient_number) for f in record.public_funds] == [
        (sample["insurer_number"], sample["number"])]


def test_behaviour_on_demand(client, population_samples):
    sample = population_samples["valid"]
    control(client, twin={"patient_id": sample["patient_id"], "twin_patient_id": "T1"},
            link_card={"card_link": "link-1", "patient_id": sample["patient_id"]},
            reader={"card_link": "link-1"})
    assert client.check(query(sample, branch=False), 2.0).validity == Validity.MULTIPLE
    assert client.resolve_card("link-1", 2.0).records[0].patient_id == sample["patient_id"]
    assert [a.validity for a in client.pushes(1.0)] == [Validity.VALID]
    control(client, lose={"patient_id": sample["patient_id"], "day": (TODAY - timedelta(days=1)).isoformat()})
    assert client.check(query(sample), 2.0).validity == Validity.INVALID

    assert control(client, cut=True)["cut"]
    with pytest.raises(UpstreamUnavailable):
        client.check(query(sample), 2.0)
    control(client, cut=False, latency=3.0)
    with pytest.raises(UpstreamTimeout):
        client.check(query(sample), 0.2)


def test_bad_requests_are_refused_cleanly(client):
    url = client.base_url
    assert requests.post(url + "/v1/check", data=b"{not json", timeout=5).status_code == 400
    assert requests.post(url + "/v1/check", json={"insurer_number": "1"}, timeout=5).status_code == 400
    assert requests.post(url + "/v1/batch", json={"queries": []}, timeout=5).status_code == 400
    assert requests.post(url + "/v1/control", json={"outage": {"start": "x"}}, timeout=5).status_code == 400
    assert requests.get(url + "/v1/nothing", timeout=5).status_code == 404
    assert requests.get(url + "/v1/status", timeout=5).json()["simulator"] is True


def test_an_unreachable_simulator_is_unavailable():
    with pytest.raises(UpstreamUnavailable):
        HttpUpstream("http://127.0.0.1:9").check(NumbersQuery("06139990", "1", "1", date(1980, 1, 1)), 1.0)
    assert issubclass(UpstreamUnavailable, UpstreamError)


def test_the_simulate_command(tmp_path, population_records, population_samples):
    population = tmp_path / "population.jsonl"
    population.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in population_records),
                          encoding="utf-8")
    process = subprocess.Popen([sys.executable, "-m", "madoguchi", "upstream", "simulate", "--population",
                                str(population), "--port", "0", "--latency", "0"],
                               stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        banner = process.stdout.readline()
        assert "SIMULATOR" in banner
        url = banner.split(" on ")[1].split()[0]
        sample = population_samples["valid"]
        answer = HttpUpstream(url).check(query(sample), 5.0)
        assert answer.records[0].name == sample["name"]
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
