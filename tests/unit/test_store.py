"""The device's store: opening, lookups, bulk apply, the audit chain, every field of a record."""

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest
from madoguchi.edge import store
from madoguchi.edge.config import Policy
from madoguchi.edge.funds import PublicFund
from madoguchi.edge.model import (
    DocumentKind,
    QualificationRecord,
    SpecificDiseaseCertificate,
    stored_field_problems,
    stored_row_check,
)
from madoguchi.edge.verdict import CheckRequest, Method, Outcome, decide

from tests.conftest import NOW, TODAY


def test_open_database_sets_wal_busy_timeout_and_a_large_page_cache(tmp_path):
    conn = store.open_database(tmp_path, create=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == store.BUSY_TIMEOUT_MS
    assert conn.execute("PRAGMA cache_size").fetchone()[0] == -store.PAGE_CACHE_KIB
    indexes = {r[1] for r in conn.execute("PRAGMA index_list(qualification)")}
    assert set(store.INDEXES) <= indexes


def test_open_database_without_create_refuses_a_missing_store(tmp_path):
    with pytest.raises(store.StoreMissing, match="no database"):
        store.open_database(tmp_path)


def test_lookups_by_numbers_card_link_and_patient_id(populated, population_records):
    _, conn = populated
    rec = next(r for r in population_records if r["branch"] == "01" and r["registered_on"] <= TODAY.isoformat())
    found = store.find_by_numbers(conn, rec["insurer_number"], rec["symbol"], rec["number"], rec["branch"],
                                  date.fromisoformat(rec["birth_date"]))
    assert [r.record_id for r in found] == [rec["record_id"]]
    assert rec["record_id"] in [r.record_id for r in store.find_by_patient_id(conn, rec["patient_id"])]
    link = store.card_link_for(conn, b"certificate bytes")
    assert len(link) == 64 and "certificate" not in link
    conn.execute("UPDATE qualification SET card_link = ? WHERE record_id = ?", (link, rec["record_id"]))
    assert [r.record_id for r in store.find_by_card_link(conn, link)] == [rec["record_id"]]


def test_a_failed_full_apply_leaves_the_old_data_whole(populated):
    _, conn = populated
    before = conn.execute("SELECT count(*), max(record_id) FROM qualification").fetchone()

    def rows():
        yield store.record_row({"record_id": 1, "insurer_number": "01130012", "number": "1",
                                "birth_date": "2000-01-01", "qualification_date": "2020-01-01",
                                "as_of": NOW.isoformat()})
        raise RuntimeError("the bundle broke in the middle")

    with pytest.raises(RuntimeError):
        with store.transaction(conn):
            store.replace_all_records(conn, rows())
    assert conn.execute("SELECT count(*), max(record_id) FROM qualification").fetchone() == before
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _append(conn, n):
    with store.transaction(conn):
        for i in range(n):
            store.append_audit(conn, {"at": f"2026-11-16T10:00:0{i}", "method": "numbers", "verdict": "ok",
                                      "inputs_hash": store.inputs_hash(conn, {"number": str(i)})})


def test_audit_chain_verifies_when_intact(tmp_path):
    conn = store.open_database(tmp_path, create=True)
    _append(conn, 5)
    assert store.verify_audit(conn) == (5, [])


@pytest.mark.parametrize("tamper, expected", [
    ("UPDATE audit SET verdict = 'ng' WHERE id = 3", "entry was edited"),
    ("DELETE FROM audit WHERE id = 3", "entries 3..3 are missing"),
    ("DELETE FROM audit WHERE id = 5", "entries 5..5 at the end are missing"),
])
def test_audit_verify_detects_edited_and_deleted_entries(tmp_path, tamper, expected):
    conn = store.open_database(tmp_path, create=True)
    _append(conn, 5)
    conn.execute(tamper)
    count, problems = store.verify_audit(conn)
    assert any(expected in p.problem for p in problems), problems


def test_audit_keeps_personal_inputs_only_as_keyed_hashes(tmp_path):
    conn = store.open_database(tmp_path, create=True)
    digest = store.inputs_hash(conn, {"number": "1234567", "birth_date": "1975-01-02"})
    assert "1234567" not in digest and len(digest) == 64
    other = store.open_database(tmp_path / "other", create=True)
    assert store.inputs_hash(other, {"number": "1234567", "birth_date": "1975-01-02"}) != digest


def test_a_live_answer_is_kept_and_the_store_stays_at_synchronous_full(populated, population_records):
    """The live overlay commits without its own fsync (the check's audit commit right after syncs
    the WAL for both); the connection goes back to FULL for that audit commit, also on errors."""
    from dataclasses import replace
    from datetime import timedelta

    _, conn = populated
    full = conn.execute("PRAGMA synchronous").fetchone()[0]
    assert full == 2  # FULL, as open_database sets it
    record = store.find_by_patient_id(conn, population_records[0]["patient_id"])[0]
    newer = replace(record, as_of=record.as_of + timedelta(hours=1))
    assert store.save_live_records(conn, [newer]) == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == full
    assert store.find_by_patient_id(conn, record.patient_id)[0].as_of == newer.as_of
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.Error, or sqlcipher3's own when encrypted: binding fails
        store.save_live_records(conn, [replace(newer, name_other=("not", "text"))])
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == full


# ---- the record's other fields (`details`) and a patient's second certificate ------------------

def full_record() -> QualificationRecord:
    """A record with every field of a newer terminal answer set (docs/domain.md §5, §10)."""
    return QualificationRecord(
        record_id=7, insurer_number="06131064", insurer_name="組合", symbol="95", number="00001", branch="00",
        personal_family=1, name="岡田　翔太", name_kana="オカダ　ショウタ", birth_date=date(1986, 1, 20), sex=1,
        qualification_date=None, as_of=NOW, patient_id="00000001",
        name_other_kana="オカダ", sex2=2, certificate_issued_on=date(2025, 4, 1), prescription_issue="1",
        limit_certificate="02", limit_issued_on=date(2026, 8, 1), limit_valid_from=date(2026, 8, 1),
        limit_valid_until=date(2027, 7, 31), limit_long_term_from=date(2026, 10, 1), limit_certificate_changed=True,
        specific_disease_certificates=(SpecificDiseaseCertificate("人工透析を要する慢性腎不全", date(2026, 4, 1),
                                                                  date(2026, 4, 1), None, 10000),),
        consent_limit="1", consent_specific_diseases="0", consent_checkups="1", consent_medication="3",
        consent_diagnosis="1", consent_operation="2",
        public_funds=(PublicFund("12131015", "1234566", self_pay_yen=0, source="terminal"),),
        welfare_office="北区福祉事務所")


def test_every_field_of_a_record_is_kept_in_the_store(tmp_path):
    """What a newer answer says (処方箋発行形態, the 限度額 certificate, consents...) survives the cache."""
    conn = store.open_database(tmp_path, create=True)
    record = full_record()
    with store.transaction(conn):
        store.upsert_records(conn, [store.record_row(record.to_json())])
    assert store.find_by_patient_id(conn, "00000001") == [record]
    store.save_live_records(conn, [replace(record, as_of=NOW + timedelta(hours=1))])
    assert store.find_by_patient_id(conn, "00000001") == [replace(record, as_of=NOW + timedelta(hours=1))]
    assert json.loads(store.record_row(record.to_json())[-1])["prescription_issue"] == "1"
    bare = QualificationRecord.from_json({k: v for k, v in record.to_json().items()
                                          if k in store.COLUMN_NAMES})
    assert store.record_row(bare.to_json())[-1] == "", "a record with nothing more to say has empty details"


def test_details_of_a_newer_release_are_kept_and_ignored(tmp_path):
    """A field this release does not know (a newer hub's) neither refuses the row nor breaks the read."""
    conn = store.open_database(tmp_path, create=True)
    row = list(store.record_row(full_record().to_json()))
    row[-1] = json.dumps({**json.loads(row[-1]), "a_later_field": {"anything": [1, "x"]}}, ensure_ascii=False)
    assert store.row_problems(row) == []
    with store.transaction(conn):
        store.upsert_records(conn, [row])
    assert store.find_by_patient_id(conn, "00000001") == [full_record()]


@pytest.mark.parametrize(("details", "problem"), [
    ("not json", "details: not JSON"),
    ('["prescription_issue"]', "details: not a JSON object"),
    ('{"prescription_issue": 1}', "details: prescription_issue: not text"),
    ('{"prescription_issue": "1\\u0007"}', "details: prescription_issue: control characters"),
    ('{"limit_valid_until": "2027-13-01"}', "details: limit_valid_until: not a date as YYYY-MM-DD"),
    ('{"sex2": 9}', "details: sex2: not in 0..3"),
    ('{"sex2": true}', "details: sex2: not an integer"),
    ('{"limit_certificate_changed": 1}', "details: limit_certificate_changed: not true or false"),
    ('{"consent_limit": null}', "details: consent_limit: missing"),
    ('{"specific_disease_certificates": {"disease": "x"}}', "details: specific_disease_certificates: not a list"),
    ('{"specific_disease_certificates": [{"valid_from": "2026-04-01"}]}',
     "details: specific_disease_certificates: not a list of the expected shape"),
    ('{"specific_disease_certificates": [{"disease": "x", "self_pay_yen": 1.5}]}',
     "details: specific_disease_certificates: a number that is not an integer"),
    ('{"specific_disease_certificates": [{"disease": "' + "x" * 201 + '"}]}',
     "details: specific_disease_certificates: too long"),
    ('{"public_funds": [{"recipient_number": "1234566"}]}', "details: public_funds: not a list of the expected shape"),
    ('{"public_funds": [{"payer_number": "12131015", "self_pay_yen": 0.5}]}',
     "details: public_funds: a number that is not an integer"),
    ('{"welfare_office": ["北区"]}', "details: welfare_office: not text"),
    ('{"x": "' + "x" * 8000 + '"}', "details: too long"),
    (None, "details: missing"),
])
def test_a_bad_details_object_is_named_never_shown(details, problem):
    row = list(store.record_row(full_record().to_json()))
    row[-1] = details
    assert store.row_problems(row) == [problem]


# Values near every rule's edge, tried in every column of a good row.
EDGE_VALUES = [
    None, "", 0, 1, 2, 3, 6, 7, 100, 101, -1, 2**63 - 1, 2**63, True, False, 1.0, float("nan"), [], {}, "1",
    "x" * 200, "x" * 201, "ｘ" * 201, "a\x07", "a\n", "\ud800", "\U0001f600", "１２３４５６", "123456", "1234567",
    "12345678", "2020-02-29", "2021-02-29", "2020-13-01", "1849-12-31", "1850-01-01", "2200-12-31", "2201-01-01",
    "2020-01-01\n", "20200101", "2020-1-01", "2026-12-06T10:00:00", "2026-12-06T10:00:00+09:00", "not a time",
    '["a", "b"]', '["a", 1]', "{}", '{"prescription_issue": "1"}', '{"sex2": 9}', '{"later": [1]}', "not json",
    '{"x": "' + "y" * 7990 + '"}', "y" * 4001,
]


@pytest.mark.parametrize("column", store.COLUMN_NAMES)
def test_the_fast_row_check_agrees_with_the_field_rules(column):
    """The bulk apply's planned check (model.stored_row_check) accepts exactly the rows that the
    field-by-field rules accept, whatever is wrong with a column."""
    check = stored_row_check(store.COLUMN_NAMES)
    for value in EDGE_VALUES:
        row = list(store.record_row(full_record().to_json()))
        row[store.COLUMN_NAMES.index(column)] = value
        rules = stored_field_problems(dict(zip(store.COLUMN_NAMES, row, strict=True)))
        assert check(row) == (rules == []), (column, value, rules)
        assert store.row_problems(row) == rules


def test_a_patient_with_a_card_and_a_smartphone_is_found_by_either(populated, population_samples):
    """Two certificates, two card links (docs/domain.md §2): each finds the patient; one revoked
    does not block the other."""
    _, conn = populated
    sample = population_samples["valid"]
    card, phone = store.card_link_for(conn, b"card certificate"), store.card_link_for(conn, b"phone certificate")
    conn.execute("UPDATE qualification SET card_link = ? WHERE patient_id = ?", (card, sample["patient_id"]))
    conn.execute("INSERT INTO certificate_link (card_link, patient_id) VALUES (?, ?)", (phone, sample["patient_id"]))
    lookup = store.Lookup(conn)
    for link in (card, phone):
        assert {r.patient_id for r in lookup.find_by_card_link(link)} == {sample["patient_id"]}
    assert lookup.find_by_card_link(store.card_link_for(conn, b"another certificate")) == []
    conn.execute("INSERT INTO revoked_certificate (card_link, reason) VALUES (?, ?)", (card, "紛失"))
    by_card = decide(CheckRequest(Method.CARD, card_link=card), lookup, Policy(), NOW)
    by_phone = decide(CheckRequest(Method.CARD, DocumentKind.SMARTPHONE, card_link=phone), lookup, Policy(), NOW)
    assert (by_card.outcome, by_card.reason) == (Outcome.NG, "certificate_revoked")
    assert (by_phone.outcome, by_phone.record.patient_id) == (Outcome.OK, sample["patient_id"])
