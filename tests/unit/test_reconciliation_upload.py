"""Outbox upload (sync/upload.py) against the hub's re-check (sync/reconciliation.py), wired
in-process on real stores; tests/integration/test_hub_reconcile.py runs it over the hub API."""

from datetime import date, timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.store import list_followups
from madoguchi.edge.verdict import CheckRequest, Declaration, Method, OnlineUnavailable
from madoguchi.sim.national import NationalSystem
from madoguchi.sim.population import load_population
from madoguchi.sim.simulator import SimulatedUpstream
from madoguchi.sync.device.upload import upload_outbox
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.reconciliation import BUSY, BadUpload, parse_entries, recheck_uploaded

from tests.conftest import NOW, TODAY
from tests.unit.test_verdict import by_numbers

POLICY = Policy()


@pytest.fixture
def hub_conn(tmp_path, population_records):
    conn = hubstore.open_facility_store(tmp_path / "hub", create=True)
    load_population(conn, population_records, TODAY, NOW)
    yield conn
    conn.close()


def lost_recently(records, patient_id):
    truth = [dict(r) for r in records]
    for r in truth:
        if r["patient_id"] == patient_id:
            r["disqualification_date"] = (TODAY - timedelta(days=2)).isoformat()
    return truth


class Hub:
    """The hub's handler of POST /v1/outbox, called in-process; `drop_answers` loses that many
    answers on the way back after the hub has processed the upload (a cut connection)."""

    def __init__(self, conn, upstream, device_id="desk-1"):
        self.conn, self.upstream, self.device_id = conn, upstream, device_id
        self.drop_answers = 0
        self.uploads = 0
        self.now = NOW
        self.budget = 10.0

    def post_json(self, path, body, timeout):
        assert path == "/v1/outbox"
        self.uploads += 1
        results = recheck_uploaded(self.conn, self.device_id, parse_entries(body), self.upstream, POLICY, self.now,
                                   1.0, self.budget)
        if self.drop_answers:
            self.drop_answers -= 1
            raise OnlineUnavailable("connection reset")
        return {"results": results}


def offline_check(conn, request):
    national = NationalSystem([], clock=lambda: NOW)
    national.cut()
    return run_check(conn, request, POLICY, national.online_source(), clock=lambda: NOW)


def test_offline_ok_for_a_lost_patient_becomes_one_followup_even_when_answers_are_lost(
        populated, hub_conn, population_records, population_samples):
    _, conn = populated
    sample = population_samples["valid"]
    assert offline_check(conn, by_numbers(sample)).verdict.outcome.value == "ok"
    national = NationalSystem(lost_recently(population_records, sample["patient_id"]), clock=lambda: NOW)
    hub = Hub(hub_conn, SimulatedUpstream(national))
    hub.drop_answers = 2
    for _ in range(2):
        assert upload_outbox(conn, hub.post_json, clock=lambda: NOW).error.startswith("hub unreachable")
    assert list_followups(conn) == []
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.followups, outcome.error) == (1, 1, "")
    assert [f.kind for f in list_followups(conn)] == ["lost_after_ok"]
    assert upload_outbox(conn, hub.post_json, clock=lambda: NOW).reconciled == 0  # nothing left to send
    assert hub.uploads == 3


def test_a_patient_who_lost_the_qualification_after_the_visit_was_rightly_accepted(
        populated, hub_conn, population_records, population_samples):
    _, conn = populated
    accepted_then, lost_before = population_samples["valid"], population_samples["family_member"]
    for sample in (accepted_then, lost_before):
        assert offline_check(conn, by_numbers(sample)).verdict.outcome.value == "ok"
    national = NationalSystem(population_records, clock=lambda: NOW + timedelta(days=3))
    national.lose(accepted_then["patient_id"], TODAY + timedelta(days=1))
    national.lose(lost_before["patient_id"], TODAY)
    hub = Hub(hub_conn, SimulatedUpstream(national))
    hub.now = NOW + timedelta(days=3)  # a long weekend offline
    assert upload_outbox(conn, hub.post_json, clock=lambda: hub.now).reconciled == 2
    [followup] = list_followups(conn)
    assert followup.kind == "lost_after_ok" and followup.outbox_id == 2


def test_an_unreachable_upstream_keeps_entries_pending_in_order(populated, hub_conn, population_records,
                                                                population_samples):
    _, conn = populated
    for kind in ("valid", "lost", "family_member"):
        offline_check(conn, by_numbers(population_samples[kind]))
    national = NationalSystem(population_records, clock=lambda: NOW)
    national.cut()
    hub = Hub(hub_conn, SimulatedUpstream(national))
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.pending) == (0, 3) and "upstream" in outcome.error
    assert conn.execute("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL").fetchone()[0] == 3
    national.restore()
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.pending, outcome.followups) == (3, 0, 0)  # the cache was right


def test_a_slow_upstream_gets_the_hubs_time_budget_and_the_rest_waits(populated, hub_conn, population_records,
                                                                     population_samples):
    _, conn = populated
    for kind in ("valid", "lost", "family_member", "kouki"):
        offline_check(conn, by_numbers(population_samples[kind]))
    national = NationalSystem(population_records, clock=lambda: NOW)
    national.latency = 0.5  # slower than the hub's whole budget for the upload
    hub = Hub(hub_conn, SimulatedUpstream(national))
    hub.budget = 0.2
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.pending) == (0, 4) and outcome.error == BUSY  # not "unreachable"
    national.latency, hub.budget = 0.0, 10.0
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.pending, outcome.error) == (4, 0, "")


def test_a_declaration_is_resolved_through_the_roster_and_an_unknown_one_waits(
        populated, hub_conn, population_records, population_samples):
    _, conn = populated
    sample = population_samples["elderly_70_74"]
    known = Declaration(sample["name"], sample["name_kana"], date.fromisoformat(sample["birth_date"]))
    unknown = Declaration("不明　太郎", "フメイ　タロウ", date(1980, 1, 1))
    for declaration in (known, unknown):
        run_check(conn, CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True, declaration=declaration),
                  POLICY, clock=lambda: NOW)
    hub = Hub(hub_conn, SimulatedUpstream(NationalSystem(population_records, clock=lambda: NOW)))
    outcome = upload_outbox(conn, hub.post_json, clock=lambda: NOW)
    assert (outcome.reconciled, outcome.pending) == (1, 1)
    [followup] = list_followups(conn)
    assert followup.kind == "declaration_resolved" and sample["insurer_number"] in followup.message_ja
    assert upload_outbox(conn, hub.post_json, clock=lambda: NOW).pending == 1  # asked again next time


def test_an_entry_the_hub_cannot_read_becomes_a_followup_not_a_loss(populated, hub_conn, population_records):
    _, conn = populated
    store.add_to_outbox(conn, 0, {"method": "numbers", "document": "no-such-document", "inputs": {}},
                        "ok", "cache", 30)
    hub = Hub(hub_conn, SimulatedUpstream(NationalSystem(population_records, clock=lambda: NOW)))
    assert upload_outbox(conn, hub.post_json, clock=lambda: NOW).followups == 1
    [followup] = list_followups(conn)
    assert followup.kind == "unreadable" and "手作業" in followup.correction_ja


@pytest.mark.parametrize("body", [None, [], {"entries": {}}, {"entries": [{"entry_id": "1"}]},
                                  {"entries": [{"entry_id": 1, "payload": {}, "verdict": "maybe"}]},
                                  {"entries": [{"entry_id": 1, "payload": {}, "verdict": "ok",
                                                "copay_percent": "30"}]},
                                  {"entries": [{"entry_id": True, "payload": {}, "verdict": "ok"}]},
                                  {"entries": [{"entry_id": i, "payload": {}, "verdict": "ok"} for i in range(501)]}])
def test_bad_uploads_are_refused_with_a_reason(body):
    with pytest.raises(BadUpload):
        parse_entries(body)
