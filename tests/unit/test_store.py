

import pytest
from madoguchi.edge import store

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
    from datetime import date
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
