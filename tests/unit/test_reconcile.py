from datetime import date, timedelta

from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.desk import run_check
from madoguchi.edge.model import DocumentKind
from madoguchi.edge.store import list_followups, mark_handled
from madoguchi.edge.verdict import CheckRequest, Declaration, Method
from madoguchi.sim.demo import DemoHub
from madoguchi.sim.national import NationalSystem

from tests.conftest import NOW, TODAY
from tests.unit.test_verdict import by_numbers

POLICY = Policy()


def reconcile_through_hub(conn, national, directory, records):
    """The real mechanism, in-process: the outbox uploaded to the hub's re-check (a roster of
    `records`, `national` as its upstream), the answers settled; the followups it created."""
    before = {f.id for f in list_followups(conn, include_handled=True)}
    hub = DemoHub(directory, records, TODAY, NOW, national, POLICY, lambda: NOW)
    hub.reconcile(conn)
    hub.conn.close()
    return [f for f in list_followups(conn, include_handled=True) if f.id not in before]


def test_offline_ok_contradicted_online_becomes_one_followup(populated, population_records, population_samples, tmp_path):
    _, conn = populated
    sample = population_samples["valid"]
    truth = [dict(r) for r in population_records]
    for r in truth:  # the national system learnt of a loss the cache has not seen yet
        if r["patient_id"] == sample["patient_id"]:
            r["disqualification_date"] = (TODAY - timedelta(days=2)).isoformat()
    national = NationalSystem(truth, clock=lambda: NOW)
    national.cut()
    result = run_check(conn, by_numbers(sample), POLICY, national.online_source(), clock=lambda: NOW)
    assert result.verdict.outcome.value == "ok" and result.outbox_id
    assert reconcile_through_hub(conn, national, tmp_path / "hub", population_records) == []  # still cut: nothing lost
    national.restore()
    created = reconcile_through_hub(conn, national, tmp_path / "hub", population_records)
    assert [f.kind for f in created] == ["lost_after_ok"]
    assert reconcile_through_hub(conn, national, tmp_path / "hub", population_records) == []  # exactly once
    assert [f.id for f in list_followups(conn)] == [created[0].id]
    assert mark_handled(conn, created[0].id) and not mark_handled(conn, created[0].id)
    assert list_followups(conn) == []


def test_declaration_is_resolved_once_the_numbers_are_known(populated, population_records, population_samples, tmp_path):
    _, conn = populated
    sample = population_samples["elderly_70_74"]
    declaration = Declaration(sample["name"], sample["name_kana"], date.fromisoformat(sample["birth_date"]))
    run_check(conn, CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True, declaration=declaration), POLICY,
              clock=lambda: NOW)
    unknown = CheckRequest(Method.DECLARATION, DocumentKind.DECLARATION, card_presented=True,
                           declaration=Declaration("不明　太郎", "フメイ　タロウ", date(1980, 1, 1)))
    run_check(conn, unknown, POLICY, clock=lambda: NOW)
    national = NationalSystem(population_records, clock=lambda: NOW)
    created = reconcile_through_hub(conn, national, tmp_path / "hub", population_records)
    assert [f.kind for f in created] == ["declaration_resolved"]
    assert sample["insurer_number"] in created[0].message_ja
    pending = conn.execute("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL").fetchone()[0]
    assert pending == 1, "the unknown declarant stays in the outbox"


def test_offline_refusal_of_an_insured_patient_asks_for_a_refund(populated, population_records, population_samples, tmp_path):
    _, conn = populated
    sample = population_samples["not_found"]
    run_check(conn, by_numbers(sample), POLICY, clock=lambda: NOW)
    truth = population_records + [{**next(r for r in population_records if r["patient_id"] ==
                                          population_samples["valid"]["patient_id"]),
                                   "record_id": 99_999_999, "number": sample["number"], "patient_id": "new"}]
    created = reconcile_through_hub(conn, NationalSystem(truth, clock=lambda: NOW), tmp_path / "hub", population_records)
    assert [f.kind for f in created] == ["valid_after_all"] and "返金" in created[0].correction_ja
    assert store.verify_audit(conn)[1] == []


def test_a_welfare_patient_checked_offline_is_reconciled_without_a_ratio(populated, population_records,
                                                                          population_samples, tmp_path):
    # 医療扶助 checked from the cache: the re-check online agrees, and no ratio is ever compared
    _, conn = populated
    sample = population_samples["welfare_75"]
    request = CheckRequest(Method.NUMBERS, DocumentKind.MEDICAL_TICKET, insurer_number=sample["insurer_number"],
                           number=sample["number"], birth_date=date.fromisoformat(sample["birth_date"]))
    result = run_check(conn, request, POLICY, clock=lambda: NOW)
    assert result.verdict.outcome.value == "ok" and result.verdict.copay_percent is None and result.outbox_id
    national = NationalSystem(population_records, clock=lambda: NOW)
    assert reconcile_through_hub(conn, national, tmp_path / "hub", population_records) == []
    assert conn.execute("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL").fetchone()[0] == 0
