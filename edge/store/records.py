"""Qualification records: the signed cache, the live overlay, the lookups the verdict needs,
and the row-level statements of the synced tables (bulk apply, delta apply, digest scan).

Rows for bulk work are tuples in COLUMN_NAMES order (the bundle's order too).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from madoguchi.edge.model import (
    QualificationRecord,
    UnreadableRecord,
    Validity,
    fields_from_json,
    record_details,
    stored_field_problems,
    stored_row_check,
)
from madoguchi.edge.store.db import (
    AS_OF,
    COLUMN_NAMES,
    INDEX_BUILD_CACHE_KIB,
    PAGE_CACHE_KIB,
    StoreMissing,
    create_record_indexes,
    database_path,
    get_meta,
    keyed_hash,
    record_table_sql,
    transaction,
)
from madoguchi.edge.store.sync_state import SyncState, get_sync_state

Row = Sequence[Any]

# The tables a bundle carries, with their columns (the first is the key). Only the keys of
# `meta` that a bundle names are synced (sync.bundle.SYNCED_META_KEYS).
SYNCED_TABLES: dict[str, tuple[str, ...]] = {
    "meta": ("key", "value"),
    "insurer": ("insurer_number", "name"),
    "revoked_certificate": ("card_link", "reason"),
    "certificate_link": ("card_link", "patient_id"),
    "qualification": COLUMN_NAMES,
}


def _insert_sql(table: str, columns: Sequence[str] = COLUMN_NAMES) -> str:
    return f"INSERT OR REPLACE INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


_SELECT_SQL = f"SELECT {', '.join(COLUMN_NAMES)} FROM qualification"
_LIVE_SELECT_SQL = f"SELECT {', '.join(COLUMN_NAMES)} FROM live_record"


def card_link_for(conn: sqlite3.Connection, certificate_der: bytes) -> str:
    """The card link: a keyed hash of the auth certificate (never its serial in clear).

    The key (`link_key`) is the facility's and arrives with the cache, so the hub and
    every desk compute the same link.
    """
    key = get_meta(conn, "link_key")
    if not key:
        raise StoreMissing("the cache has no card link key yet: sync first")
    return keyed_hash(key, certificate_der)


# ---- records: bulk apply ----------------------------------------------------

def row_problems(row: object) -> list[str]:
    """What is wrong with a qualification row (COLUMN_NAMES order): [] when it is a good one."""
    if not isinstance(row, (list, tuple)) or len(row) != len(COLUMN_NAMES):
        return [f"{len(row) if isinstance(row, (list, tuple)) else 'no'} columns, not {len(COLUMN_NAMES)}"]
    if _good_row(row):
        return []
    return stored_field_problems(dict(zip(COLUMN_NAMES, row, strict=True)))


_good_row = stored_row_check(COLUMN_NAMES)


def record_row(data: dict[str, Any]) -> tuple[Any, ...]:
    """A record as a dict (JSON form) → a row tuple in COLUMN_NAMES order."""
    diseases = data.get("specific_diseases")
    return (
        data["record_id"], data["insurer_number"], data.get("insurer_name", ""),
        data.get("symbol", ""), data["number"], data.get("branch", ""), data["birth_date"],
        data.get("personal_family", 1), data.get("name", ""), data.get("name_kana", ""),
        data.get("name_other", ""), data.get("sex", 0), data.get("address"),
        data.get("post_number"), data["qualification_date"], data.get("disqualification_date"),
        data.get("loss_reason", ""), data.get("card_classification", ""), data.get("valid_from"),
        data.get("valid_until"), data.get("copay_percent"), int(bool(data.get("preschool"))),
        data.get("elderly_copay_percent"), data.get("elderly_valid_from"),
        data.get("elderly_valid_until"), data.get("limit_class", ""),
        json.dumps(diseases, ensure_ascii=False) if diseases else "",
        int(bool(data.get("nondisclosure"))), data.get("validity", 1),
        data.get("patient_id", ""), data.get("card_link", ""), data["as_of"],
        record_details(data, COLUMN_NAMES),
    )


def replace_all_records(conn: sqlite3.Connection, rows: Iterable[Row]) -> int:
    """Replace the whole cache with `rows`, inside the caller's transaction.

    Loads into a fresh table and builds the indexes after the load (faster than
    inserting into indexed pages), then swaps it in. Readers see the old data until
    the transaction commits. Returns the number of rows.
    """
    conn.execute("DROP TABLE IF EXISTS qualification_new")
    conn.execute(record_table_sql("qualification_new"))
    count = conn.executemany(_insert_sql("qualification_new"), rows).rowcount
    conn.execute("DROP TABLE qualification")
    conn.execute("ALTER TABLE qualification_new RENAME TO qualification")
    # Each index build sorts in memory up to the page cache's size, on top of the cache
    # itself: a smaller cache meanwhile keeps a 1M apply under 150 MB for little time.
    conn.execute(f"PRAGMA cache_size = -{INDEX_BUILD_CACHE_KIB}")
    try:
        create_record_indexes(conn)
    finally:
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    return count


def upsert_records(conn: sqlite3.Connection, rows: Iterable[Row]) -> int:
    """Insert or replace rows by record_id, inside the caller's transaction."""
    return conn.executemany(_insert_sql("qualification"), rows).rowcount


def delete_records(conn: sqlite3.Connection, record_ids: Iterable[int]) -> int:
    return conn.executemany("DELETE FROM qualification WHERE record_id = ?", ((i,) for i in record_ids)).rowcount


def count_records(conn: sqlite3.Connection) -> int:
    count: int = conn.execute("SELECT count(*) FROM qualification").fetchone()[0]
    return count


# ---- synced tables, row by row (a delta on the device, a change on the hub) -----------

def _columns(table: str) -> tuple[str, ...]:
    try:
        return SYNCED_TABLES[table]
    except KeyError:
        raise ValueError(f"not a synced table: {table!r}") from None


def rows_by_key(conn: sqlite3.Connection, table: str, keys: Iterable[Any]) -> Iterator[tuple[Any, ...]]:
    """The current rows with these keys (each key once), a few hundred per query."""
    columns = _columns(table)
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        yield from conn.execute(f"SELECT {', '.join(columns)} FROM {table} "
                                f"WHERE {columns[0]} IN ({', '.join('?' * len(chunk))})", chunk)


def row_by_key(conn: sqlite3.Connection, table: str, key: Any) -> tuple[Any, ...] | None:
    columns = _columns(table)
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT {', '.join(columns)} FROM {table} WHERE {columns[0]} = ?", (key,)).fetchone()
    return row


def table_rows(conn: sqlite3.Connection, table: str) -> Iterator[tuple[Any, ...]]:
    """Every row of a synced table, by key (a full bundle, the digest scan)."""
    columns = _columns(table)
    if table == "meta":
        raise ValueError("meta is synced by key: use get_meta")
    yield from conn.execute(f"SELECT {', '.join(columns)} FROM {table} ORDER BY {columns[0]}")


def put_rows(conn: sqlite3.Connection, table: str, rows: Iterable[Row]) -> None:
    """Insert or replace whole rows (inside the caller's transaction)."""
    conn.executemany(_insert_sql(table, _columns(table)), rows)


def delete_rows(conn: sqlite3.Connection, table: str, keys: Iterable[Any]) -> None:
    conn.executemany(f"DELETE FROM {table} WHERE {_columns(table)[0]} = ?", ((k,) for k in keys))


def update_columns(conn: sqlite3.Connection, table: str, changed: Sequence[int], params: Iterable[Row]) -> None:
    """Update only the columns at positions `changed` (each params row: their values, then the
    key): an index whose columns did not change is not touched (on a big cache, its pages are cold)."""
    columns = _columns(table)
    assignments = ", ".join(f"{columns[i]} = ?" for i in changed)
    conn.executemany(f"UPDATE {table} SET {assignments} WHERE {columns[0]} = ?", params)


def clear_synced(conn: sqlite3.Connection, meta_keys: Sequence[str]) -> None:
    """Empty the small synced tables (a full apply; `qualification` is replaced whole)."""
    conn.execute("DELETE FROM insurer")
    conn.execute("DELETE FROM revoked_certificate")
    conn.execute("DELETE FROM certificate_link")
    conn.execute(f"DELETE FROM meta WHERE key IN ({', '.join('?' * len(meta_keys))})", tuple(meta_keys))


# ---- records: lookups -------------------------------------------------------

def _record(row: Row) -> QualificationRecord:
    try:
        return _read_record(row)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # never the value: it may be personal
        raise UnreadableRecord(f"stored record {row[0] if row else '?'} cannot be read "
                               f"({type(exc).__name__}; {'; '.join(row_problems(row)) or 'bad value'})") from None


def _read_record(row: Row) -> QualificationRecord:
    (record_id, insurer_number, insurer_name, symbol, number, branch, birth_date,
     personal_family, name, name_kana, name_other, sex, address, post_number,
     qualification_date, disqualification_date, loss_reason, card_classification,
     valid_from, valid_until, copay_percent, preschool, elderly_copay_percent,
     elderly_valid_from, elderly_valid_until, limit_class, specific_diseases,
     nondisclosure, validity, patient_id, card_link, as_of, details) = row
    d = date.fromisoformat
    return QualificationRecord(
        record_id=record_id, insurer_number=insurer_number, insurer_name=insurer_name,
        symbol=symbol, number=number, branch=branch, birth_date=d(birth_date),
        personal_family=personal_family, name=name, name_kana=name_kana,
        name_other=name_other or "", sex=sex, address=address, post_number=post_number,
        qualification_date=d(qualification_date) if qualification_date else None,
        disqualification_date=d(disqualification_date) if disqualification_date else None,
        loss_reason=loss_reason or "", card_classification=card_classification or "",
        valid_from=d(valid_from) if valid_from else None,
        valid_until=d(valid_until) if valid_until else None,
        copay_percent=copay_percent, preschool=bool(preschool),
        elderly_copay_percent=elderly_copay_percent,
        elderly_valid_from=d(elderly_valid_from) if elderly_valid_from else None,
        elderly_valid_until=d(elderly_valid_until) if elderly_valid_until else None,
        limit_class=limit_class or "",
        specific_diseases=tuple(json.loads(specific_diseases)) if specific_diseases else (),
        nondisclosure=bool(nondisclosure), validity=Validity(validity),
        patient_id=patient_id or "", card_link=card_link or "",
        as_of=datetime.fromisoformat(as_of),
        **(_details(details) if details else {}),
    )


def _details(text: str) -> dict[str, Any]:
    """The fields kept in `details` (those of the columns and those unknown here are ignored)."""
    return fields_from_json({k: v for k, v in json.loads(text).items() if k not in COLUMN_NAMES})


def find_by_numbers(conn: sqlite3.Connection, insurer_number: str, symbol: str, number: str, branch: str,
                    birth_date: date | None) -> list[QualificationRecord]:
    """Records matching the printed numbers and birth date; `branch` "" matches any 枝番."""
    birth = birth_date.isoformat() if birth_date else ""
    if branch:
        return _lookup(conn, " WHERE insurer_number = ? AND symbol = ? AND number = ? AND branch = ? "
                       "AND birth_date = ?", (insurer_number, symbol, number, branch, birth))
    return _lookup(conn, " WHERE insurer_number = ? AND symbol = ? AND number = ? AND birth_date = ?",
                   (insurer_number, symbol, number, birth))


def find_by_card_link(conn: sqlite3.Connection, card_link: str) -> list[QualificationRecord]:
    """The records carrying this card link, and those of the patient the hub resolved its
    certificate to (`certificate_link`: a card and a スマホ保険証 each find the patient)."""
    return _lookup(conn, " WHERE card_link = ? OR patient_id = "
                   "(SELECT patient_id FROM certificate_link WHERE card_link = ?)", (card_link, card_link))


def link_card(conn: sqlite3.Connection, patient_id: str, card_link: str) -> int:
    """Attach a card link to every record of a patient (what the hub's certificate resolution
    will do; `madoguchi vcard` uses it for its virtual card). Returns the number of records."""
    return conn.execute("UPDATE qualification SET card_link = ? WHERE patient_id = ?", (card_link, patient_id)).rowcount


def find_by_patient_id(conn: sqlite3.Connection, patient_id: str) -> list[QualificationRecord]:
    return _lookup(conn, " WHERE patient_id = ?", (patient_id,))


def find_patient_records(conn: sqlite3.Connection, record: QualificationRecord) -> list[QualificationRecord]:
    """Every record of the same patient (to tell 無効 from 無効・新しい資格あり)."""
    return find_by_patient_id(conn, record.patient_id) if record.patient_id else [record]


def revocation_reason(conn: sqlite3.Connection, card_link: str) -> str | None:
    row = conn.execute("SELECT reason FROM revoked_certificate WHERE card_link = ?", (card_link,)).fetchone()
    return str(row[0]) if row else None


def insurer_name(conn: sqlite3.Connection, insurer_number: str) -> str | None:
    row = conn.execute("SELECT name FROM insurer WHERE insurer_number = ?", (insurer_number,)).fetchone()
    return str(row[0]) if row else None


class Lookup:
    """The verdict's view of the store (`madoguchi.edge.verdict.RecordLookup`), bound to one
    connection: the cache with its live overlay, and the revoked certificates."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def find_by_numbers(self, insurer_number: str, symbol: str, number: str, branch: str,
                        birth_date: date | None) -> list[QualificationRecord]:
        return find_by_numbers(self.conn, insurer_number, symbol, number, branch, birth_date)

    def find_by_card_link(self, card_link: str) -> list[QualificationRecord]:
        return find_by_card_link(self.conn, card_link)

    def find_by_patient_id(self, patient_id: str) -> list[QualificationRecord]:
        return find_by_patient_id(self.conn, patient_id)

    def patient_history(self, record: QualificationRecord) -> list[QualificationRecord]:
        return find_patient_records(self.conn, record)

    def revocation_reason(self, card_link: str) -> str | None:
        return revocation_reason(self.conn, card_link)


# ---- live answers: an overlay on the signed cache -----------------------------------

def save_live_records(conn: sqlite3.Connection, records: Iterable[QualificationRecord]) -> int:
    """Keep the records of a live answer (they replace earlier live answers for the same ids).

    Committed without its own fsync: the check's audit entry, committed next with
    synchronous=FULL, syncs the WAL up to and including it, so an online check costs one fsync,
    not two. Lost in a power cut before that commit, it is a copy of what the hub keeps."""
    rows = [record_row(r.to_json()) for r in records]
    synchronous = int(conn.execute("PRAGMA synchronous").fetchone()[0])
    conn.execute("PRAGMA synchronous = NORMAL")
    try:
        with transaction(conn):
            return conn.executemany(_insert_sql("live_record"), rows).rowcount
    finally:
        conn.execute(f"PRAGMA synchronous = {synchronous}")


def prune_live_records(conn: sqlite3.Connection) -> int:
    """Drop the live answers the signed cache has caught up with (same record, as new or newer)."""
    with transaction(conn):
        return conn.execute(
            "DELETE FROM live_record WHERE EXISTS (SELECT 1 FROM qualification q WHERE q.record_id = "
            "live_record.record_id AND julianday(q.as_of) >= julianday(live_record.as_of))").rowcount


def _lookup(conn: sqlite3.Connection, where: str, params: tuple[Any, ...]) -> list[QualificationRecord]:
    """Cached records matching `where`, each replaced by its live answer when that is newer."""
    rows = {r[0]: r for r in conn.execute(_SELECT_SQL + where, params)}
    for row in conn.execute(_LIVE_SELECT_SQL + where, params):
        cached = rows.get(row[0])
        if cached is None or datetime.fromisoformat(row[AS_OF]) > datetime.fromisoformat(cached[AS_OF]):
            rows[row[0]] = row
    return [_record(r) for r in rows.values()]


@dataclass(frozen=True)
class CacheStats:
    records: int
    valid_today: int
    patients: int
    insurers: int
    revoked_certificates: int
    sync: SyncState | None
    audit_entries: int
    outbox_pending: int
    database_bytes: int


def cache_stats(conn: sqlite3.Connection, data_dir: Path, today: date) -> CacheStats:
    def one(sql: str, *args: str) -> int:
        value: int = conn.execute(sql, args).fetchone()[0]
        return value

    day = today.isoformat()
    path = database_path(data_dir)
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return CacheStats(
        records=one("SELECT count(*) FROM qualification"),
        valid_today=one(
            "SELECT count(*) FROM qualification WHERE validity IN (1, 6) AND qualification_date <= ? "
            "AND (disqualification_date IS NULL OR disqualification_date > ?)",
            day, day,
        ),
        patients=one("SELECT count(DISTINCT patient_id) FROM qualification WHERE patient_id != ''"),
        insurers=one("SELECT count(*) FROM insurer"),
        revoked_certificates=one("SELECT count(*) FROM revoked_certificate"),
        sync=get_sync_state(conn),
        audit_entries=one("SELECT count(*) FROM audit"),
        outbox_pending=one("SELECT count(*) FROM outbox WHERE reconciled_at IS NULL"),
        database_bytes=size,
    )
