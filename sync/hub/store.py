"""The hub's store: the only place on the hub that speaks SQL.

Each facility has one database (``facilities/<facility>/cache.db``): the device's schema (made and
migrated by `madoguchi.edge.store`, the records being the facility's roster) plus the hub's own
tables: the changes not yet published, enrollment tokens, devices, and the answers given to
uploaded outboxes. The hub's tables have their own schema version (meta `hub_schema_version`):
each migration runs once, in order, in one transaction; never edit a released one.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from madoguchi.edge import store

if TYPE_CHECKING:
    from madoguchi.sync.hub.ingest import RosterPatient

SCHEMA_KEY = "hub_schema_version"


def _baseline(conn: sqlite3.Connection) -> None:
    """The hub's tables as release 0.1.0 made them (IF NOT EXISTS: they were made on demand)."""
    conn.execute('CREATE TABLE IF NOT EXISTS "hub_change" ("code" TEXT, "key" TEXT, PRIMARY KEY ("code", "key"))')
    conn.execute("CREATE TABLE IF NOT EXISTS enroll_token (token_hash TEXT PRIMARY KEY, created_at TEXT NOT NULL, "
                 "expires_at TEXT NOT NULL, used_at TEXT, device_id TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS device (id TEXT PRIMARY KEY, name TEXT NOT NULL, "
                 "enrolled_at TEXT NOT NULL, fingerprint TEXT NOT NULL UNIQUE, revoked_at TEXT)")
    conn.execute("CREATE TABLE IF NOT EXISTS reconciled_entry (device_id TEXT NOT NULL, entry_id INTEGER NOT NULL, "
                 "received_at TEXT NOT NULL, result TEXT NOT NULL, PRIMARY KEY (device_id, entry_id))")


def _roster_patient(conn: sqlite3.Connection) -> None:
    """The facility's own roster, as its レセコン exports it (madoguchi.sync.hub.ingest)."""
    conn.execute("CREATE TABLE roster_patient (patient_id TEXT PRIMARY KEY, insurer_number TEXT NOT NULL, "
                 "symbol TEXT NOT NULL, number TEXT NOT NULL, branch TEXT NOT NULL, birth_date TEXT NOT NULL, "
                 "name_kana TEXT NOT NULL, name TEXT NOT NULL)")


MIGRATIONS = (_baseline, _roster_patient)
SCHEMA_VERSION = len(MIGRATIONS)


def open_facility_store(directory: Path, create: bool = False) -> sqlite3.Connection:
    """Open (with `create`, make) a facility's store, both schemas migrated."""
    conn = store.open_database(store.secure_dir(directory) if create else directory, create=create)
    try:
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    return int(store.get_meta(conn, SCHEMA_KEY) or 0)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the hub's tables to SCHEMA_VERSION; the number of migrations run."""
    if schema_version(conn) == SCHEMA_VERSION:
        return 0
    with store.transaction(conn):
        version = schema_version(conn)
        if version > SCHEMA_VERSION:
            raise store.StoreTooNew(f"the hub's tables have schema version {version}, newer than this "
                                    f"madoguchi knows ({SCHEMA_VERSION}): update madoguchi")
        for step in MIGRATIONS[version:]:
            step(conn)
        store.set_meta(conn, SCHEMA_KEY, str(SCHEMA_VERSION))
    return SCHEMA_VERSION - version


# ---- changes not yet published ---------------------------------------------------------

def note_changes(conn: sqlite3.Connection, code: str, keys: Iterable[Any]) -> None:
    conn.executemany("INSERT OR IGNORE INTO hub_change (code, key) VALUES (?, ?)", ((code, str(k)) for k in keys))


def pending_changes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return [(code, key) for code, key in conn.execute("SELECT code, key FROM hub_change ORDER BY code, key")]


def count_changes(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT count(*) FROM hub_change").fetchone()[0])


def clear_changes(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM hub_change")


# ---- an import: the incoming roster compared with the current one ------------------------

def stage_import(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Load the incoming records into temporary tables of this connection (inside the caller's
    transaction) and work out what changed; read them with `staged_deleted` and `staged_changed`."""
    conn.execute("CREATE TEMP TABLE incoming AS SELECT * FROM qualification WHERE 0")
    conn.executemany(f"INSERT OR REPLACE INTO temp.incoming ({', '.join(store.COLUMN_NAMES)}) "
                     f"VALUES ({', '.join('?' * len(store.COLUMN_NAMES))})", rows)
    conn.execute("CREATE TEMP TABLE changed AS SELECT * FROM temp.incoming "
                 "EXCEPT SELECT * FROM qualification ORDER BY record_id")
    conn.execute("CREATE TEMP TABLE deleted AS SELECT record_id FROM qualification "
                 "EXCEPT SELECT record_id FROM temp.incoming")


def staged_deleted(conn: sqlite3.Connection) -> Iterator[int]:
    return (row[0] for row in conn.execute("SELECT * FROM temp.deleted"))


def staged_changed(conn: sqlite3.Connection) -> Iterator[tuple[Any, ...]]:
    return iter(conn.execute("SELECT * FROM temp.changed"))


def insurers(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT insurer_number, name FROM insurer"))


# ---- the roster: what the hub asks its upstream about ---------------------------------------

def latest_numbers(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, date, str]]:
    """(insurer_number, symbol, number, branch, birth_date, patient_id) of every patient's
    latest record, once per patient."""
    rows = conn.execute(
        "SELECT insurer_number, symbol, number, branch, birth_date, patient_id FROM qualification q "
        "WHERE coalesce(qualification_date, '') = (SELECT max(coalesce(qualification_date, '')) "
        "FROM qualification p WHERE p.patient_id = q.patient_id) GROUP BY patient_id ORDER BY patient_id").fetchall()
    return [(i, s, n, br, date.fromisoformat(b), pid) for i, s, n, br, b, pid in rows]


ROSTER_COLUMNS = ("patient_id", "insurer_number", "symbol", "number", "branch", "birth_date", "name_kana", "name")


def replace_roster(conn: sqlite3.Connection, patients: Iterable[RosterPatient]) -> tuple[int, int]:
    """Make the facility's own roster exactly `patients`; (added, removed) patient ids."""
    rows = [(p.patient_id, p.insurer_number, p.symbol, p.number, p.branch, p.birth_date.isoformat(),
             p.name_kana, p.name) for p in patients]
    with store.transaction(conn):
        before = {r[0] for r in conn.execute("SELECT patient_id FROM roster_patient")}
        conn.execute("DELETE FROM roster_patient")
        conn.executemany(f"INSERT INTO roster_patient ({', '.join(ROSTER_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(ROSTER_COLUMNS))})", rows)
    after = {r[0] for r in rows}
    return len(after - before), len(before - after)


def roster_numbers(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, date, str]]:
    """(insurer_number, symbol, number, branch, birth_date, patient_id) of the facility's own roster."""
    return [(i, s, n, b, date.fromisoformat(d), p) for p, i, s, n, b, d in conn.execute(
        "SELECT patient_id, insurer_number, symbol, number, branch, birth_date FROM roster_patient "
        "ORDER BY patient_id")]


def knows_patients(conn: sqlite3.Connection, patient_ids: set[str]) -> bool:
    """Whether the roster holds any of these patients."""
    return conn.execute(f"SELECT 1 FROM qualification WHERE patient_id IN ({', '.join('?' * len(patient_ids))}) "
                        "LIMIT 1", sorted(patient_ids)).fetchone() is not None


def numbers_by_kana(conn: sqlite3.Connection, birth_date: date, kana: str) -> list[tuple[str, str, str, str, str]]:
    """(patient_id, insurer_number, symbol, number, branch) of the records of people with this
    birth date and kana name (spaces ignored), latest qualification first."""
    rows: list[tuple[str, str, str, str, str]] = conn.execute(
        "SELECT patient_id, insurer_number, symbol, number, branch FROM qualification "
        "WHERE birth_date = ? AND replace(replace(name_kana, '　', ''), ' ', '') = ? "
        "ORDER BY qualification_date DESC", (birth_date.isoformat(), kana)).fetchall()
    return rows


# ---- enrollment tokens and devices ---------------------------------------------------------

DeviceRow = tuple[str, str, str, str | None, str]  # id, name, enrolled_at, revoked_at, fingerprint


def add_token(conn: sqlite3.Connection, token_hash: str, created_at: datetime, expires_at: datetime) -> None:
    conn.execute("INSERT INTO enroll_token (token_hash, created_at, expires_at) VALUES (?, ?, ?)",
                 (token_hash, created_at.isoformat(), expires_at.isoformat()))


def token_state(conn: sqlite3.Connection, token_hash: str) -> tuple[datetime, str | None] | None:
    """(expires_at, used_at) of a token, None if there is no such token."""
    row = conn.execute("SELECT expires_at, used_at FROM enroll_token WHERE token_hash = ?", (token_hash,)).fetchone()
    return (datetime.fromisoformat(row[0]), row[1]) if row else None


def spend_token(conn: sqlite3.Connection, token_hash: str, now: datetime, device_id: str) -> None:
    conn.execute("UPDATE enroll_token SET used_at = ?, device_id = ? WHERE token_hash = ?",
                 (now.isoformat(), device_id, token_hash))


def add_device(conn: sqlite3.Connection, device_id: str, name: str, enrolled_at: str, fingerprint: str) -> None:
    conn.execute("INSERT INTO device (id, name, enrolled_at, fingerprint) VALUES (?, ?, ?, ?)",
                 (device_id, name, enrolled_at, fingerprint))


def device(conn: sqlite3.Connection, device_id: str) -> DeviceRow | None:
    row: DeviceRow | None = conn.execute(
        "SELECT id, name, enrolled_at, revoked_at, fingerprint FROM device WHERE id = ?", (device_id,)).fetchone()
    return row


def devices(conn: sqlite3.Connection) -> list[DeviceRow]:
    rows: list[DeviceRow] = conn.execute(
        "SELECT id, name, enrolled_at, revoked_at, fingerprint FROM device ORDER BY enrolled_at").fetchall()
    return rows


def revoke_device(conn: sqlite3.Connection, device_id: str, now: datetime) -> bool:
    """Mark the device revoked (the first revocation's time stays); False if there is no such device."""
    return conn.execute("UPDATE device SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?",
                        (now.isoformat(), device_id)).rowcount > 0


# ---- answers to uploaded outboxes ----------------------------------------------------------

def reconciled_result(conn: sqlite3.Connection, device_id: str, entry_id: int) -> dict[str, Any] | None:
    """The answer already given for this device's outbox entry, if any."""
    row = conn.execute("SELECT result FROM reconciled_entry WHERE device_id = ? AND entry_id = ?",
                       (device_id, entry_id)).fetchone()
    return dict(json.loads(row[0])) if row else None


def keep_result(conn: sqlite3.Connection, device_id: str, entry_id: int, now: datetime,
                result: dict[str, Any]) -> None:
    """Keep the answer for this entry (the first one stays: a repeated upload gets the same)."""
    with store.transaction(conn):
        conn.execute("INSERT OR IGNORE INTO reconciled_entry (device_id, entry_id, received_at, result) "
                     "VALUES (?, ?, ?, ?)", (device_id, entry_id, now.isoformat(), json.dumps(result)))
