"""The store's schema versions: a database made by release 0.1.0 is migrated and keeps its data;
a new database starts at the latest version; opening a migrated database changes nothing."""

import json
import shutil
import sqlite3
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from madoguchi.edge import store
from madoguchi.sync import bundle

from tests.unit.test_cli import madoguchi
from tests.unit.test_store import full_record

RELEASE_0_1_0 = Path(__file__).parent.parent / "fixtures" / "release-0.1.0"


@pytest.fixture
def old_database(tmp_path):
    """A copy of the 0.1.0 database (the fixture itself is never written) and what it holds."""
    shutil.copy(RELEASE_0_1_0 / store.DATABASE_NAME, tmp_path / store.DATABASE_NAME)
    return tmp_path, json.loads((RELEASE_0_1_0 / "about.json").read_text(encoding="utf-8"))


def counts(conn):
    one = lambda table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: E731
    return {"audit_entries": one("audit"), "outbox": one("outbox"), "followups": one("followup"),
            "live_records": one("live_record")}


def indexes(conn, table):
    return {r[1] for r in conn.execute(f"PRAGMA index_list({table})")}


def test_the_release_0_1_0_database_is_the_baseline(old_database):
    data_dir, _ = old_database
    raw = sqlite3.connect(data_dir / store.DATABASE_NAME)
    assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
    assert "idx_audit_at" not in indexes(raw, "audit")
    raw.close()


def test_a_release_0_1_0_database_is_migrated_and_keeps_its_data(old_database):
    data_dir, about = old_database
    conn = store.open_database(data_dir)
    assert store.schema_version(conn) == store.SCHEMA_VERSION >= 3
    assert "idx_audit_at" in indexes(conn, "audit")
    plan = conn.execute("EXPLAIN QUERY PLAN SELECT count(*) FROM audit WHERE at >= '2026-11-16'").fetchall()
    assert "idx_audit_at" in " ".join(str(step[-1]) for step in plan)
    assert counts(conn) == {k: about[k] for k in ("audit_entries", "outbox", "followups", "live_records")}
    assert store.verify_audit(conn) == (about["audit_entries"], [])
    sample = about["valid_sample"]
    found = store.find_by_numbers(conn, sample["insurer_number"], sample["symbol"], sample["number"],
                                  sample["branch"], date.fromisoformat(sample["birth_date"]))
    assert [(r.patient_id, r.name) for r in found] == [(sample["patient_id"], sample["name"])]
    conn.close()
    verified = madoguchi("audit", "verify", data_dir=data_dir)
    assert verified.returncode == 0, verified.stderr


def release_0_1_0_digest(conn) -> int:
    """The data digest as release 0.1.0 computed it: every row of its tables, whole."""
    total = sum(bundle.row_hash(tag, bundle.canonical(row)) for table, tag in (
        ("qualification", bundle.QUALIFICATION), ("insurer", bundle.INSURER),
        ("revoked_certificate", bundle.REVOKED)) for row in conn.execute(f"SELECT * FROM {table}"))
    link_key = conn.execute("SELECT value FROM meta WHERE key = 'link_key'").fetchone()[0]
    return (total + bundle.row_hash(bundle.META, bundle.canonical(("link_key", link_key)))) % bundle.DIGEST_MODULUS


def test_a_migrated_cache_keeps_its_digest_and_takes_every_field(old_database):
    """Version 3: `details` and `certificate_link`. The rows already there hash as before (an old
    hub's next delta still applies), and a record with every newer field is kept whole."""
    data_dir, about = old_database
    raw = sqlite3.connect(data_dir / store.DATABASE_NAME)
    before = release_0_1_0_digest(raw)
    raw.close()
    conn = store.open_database(data_dir)
    assert bundle.scan_digest(conn) == before
    sample = about["valid_sample"]
    found = store.find_by_patient_id(conn, sample["patient_id"])
    assert found and all(r.prescription_issue == "" and r.specific_disease_certificates == () for r in found)
    record = replace(full_record(), record_id=found[0].record_id, patient_id=sample["patient_id"])
    with store.transaction(conn):
        store.upsert_records(conn, [store.record_row(record.to_json())])
    store.save_live_records(conn, [replace(record, as_of=record.as_of + timedelta(hours=1))])
    latest = [r for r in store.find_by_patient_id(conn, sample["patient_id"]) if r.record_id == record.record_id]
    assert latest == [replace(record, as_of=record.as_of + timedelta(hours=1))]
    assert store.find_by_card_link(conn, "0" * 64) == []  # the link table is there, and empty
    conn.close()


def test_a_second_open_of_a_migrated_database_is_a_no_op(old_database):
    data_dir, _ = old_database
    store.open_database(data_dir).close()
    path = data_dir / store.DATABASE_NAME
    raw = sqlite3.connect(path)
    schema = raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall()
    changes = raw.execute("PRAGMA data_version").fetchone()[0]
    conn = store.open_database(data_dir)
    assert store.migrate(conn) == 0
    conn.close()
    assert raw.execute("SELECT type, name, sql FROM sqlite_master ORDER BY name").fetchall() == schema
    assert raw.execute("PRAGMA data_version").fetchone()[0] == changes, "the second open wrote to the database"
    raw.close()


def test_a_new_database_starts_at_the_latest_version(tmp_path):
    conn = store.open_database(tmp_path, create=True)
    assert store.schema_version(conn) == store.SCHEMA_VERSION
    assert "idx_audit_at" in indexes(conn, "audit")
    assert store.migrate(conn) == 0
    assert store.get_meta(conn, "audit_key")


def test_a_database_from_a_newer_release_is_refused_with_its_reason(tmp_path):
    store.open_database(tmp_path, create=True).close()
    raw = sqlite3.connect(tmp_path / store.DATABASE_NAME)
    raw.execute(f"PRAGMA user_version = {store.SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(store.StoreTooNew, match="newer than this madoguchi knows"):
        store.open_database(tmp_path)


def test_the_hubs_tables_are_made_once_by_their_schema_version(tmp_path):
    from madoguchi.sync.hub import store as hubstore

    old = store.open_database(tmp_path, create=True)  # a 0.1.0 hub store: the device's schema + hub_change
    old.execute('CREATE TABLE "hub_change" ("code" TEXT, "key" TEXT, PRIMARY KEY ("code", "key"))')
    old.execute("INSERT INTO hub_change VALUES ('q', '1')")
    old.close()
    conn = hubstore.open_facility_store(tmp_path)
    assert hubstore.schema_version(conn) == hubstore.SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"hub_change", "enroll_token", "device", "reconciled_entry"} <= tables
    assert hubstore.pending_changes(conn) == [("q", "1")]
    assert hubstore.migrate(conn) == 0
    conn.close()
