"""The local store: the signed cache of qualification records, the audit log, the outbox.

`open_database` is the one function that opens the database. Schema is made with
sqlite-utils; the hot paths (bulk apply, lookups, audit append) use raw sqlite3.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import sqlite_utils
from madoguchi.edge.model import QualificationRecord, UnreadableRecord, Validity, stored_field_problems

DATABASE_NAME = "cache.db"
PAGE_CACHE_KIB = 64 * 1024  # 64 MB: the default 2 MB doubles a bulk apply
BUSY_TIMEOUT_MS = 5000
INDEX_BUILD_CACHE_KIB = 16 * 1024


class StoreMissing(RuntimeError):
    """The database does not exist yet (nothing synced or loaded)."""


class StoreLocked(StoreMissing):
    """The database cannot be opened: encrypted and no key given, a wrong key, or a bad key file.
    A StoreMissing, so that every caller already gives its one-line reason."""


# Encryption at rest (SQLCipher): the raw 256-bit key, as 64 hex digits, comes from the systemd
# credential `madoguchi-db-key` (LoadCredentialEncrypted=), else from the file named by
# $MADOGUCHI_DB_KEY_FILE. No key: a plain SQLite file (the demo and the tests).
DATABASE_KEY_CREDENTIAL = "madoguchi-db-key"
DATABASE_KEY_FILE_ENV = "MADOGUCHI_DB_KEY_FILE"


# Column order of the `qualification` table; rows for bulk work are tuples in this order.
RECORD_COLUMNS: dict[str, type] = {
    "record_id": int,
    "insurer_number": str,
    "insurer_name": str,
    "symbol": str,
    "number": str,
    "branch": str,
    "birth_date": str,
    "personal_family": int,
    "name": str,
    "name_kana": str,
    "name_other": str,
    "sex": int,
    "address": str,
    "post_number": str,
    "qualification_date": str,
    "disqualification_date": str,
    "loss_reason": str,
    "card_classification": str,
    "valid_from": str,
    "valid_until": str,
    "copay_percent": int,
    "preschool": int,
    "elderly_copay_percent": int,
    "elderly_valid_from": str,
    "elderly_valid_until": str,
    "limit_class": str,
    "specific_diseases": str,
    "nondisclosure": int,
    "validity": int,
    "patient_id": str,
    "card_link": str,
    "as_of": str,
}
COLUMN_NAMES = tuple(RECORD_COLUMNS)
INDEXES = {
    "idx_qualification_numbers": ("insurer_number", "symbol", "number", "branch", "birth_date"),
    "idx_qualification_card_link": ("card_link",),
    "idx_qualification_patient_id": ("patient_id",),
}
_INSERT_SQL = (
    f"INSERT OR REPLACE INTO qualification ({', '.join(COLUMN_NAMES)}) "
    f"VALUES ({', '.join('?' * len(COLUMN_NAMES))})"
)
_SELECT_SQL = f"SELECT {', '.join(COLUMN_NAMES)} FROM qualification"
_LIVE_SELECT_SQL = f"SELECT {', '.join(COLUMN_NAMES)} FROM live_record"


def database_path(data_dir: Path) -> Path:
    return Path(data_dir) / DATABASE_NAME


def open_database(data_dir: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store in `data_dir`: WAL, busy timeout, a page cache sized for bulk work.

    The connection is in autocommit mode; use `transaction()` for writes.
    Raises StoreMissing if the database does not exist and `create` is false.
    """
    path = database_path(data_dir)
    if not create and not path.exists():
        raise StoreMissing(f"no database at {path}: run a sync or `madoguchi population` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = database_key()
    dbapi = sqlite3 if key is None else _sqlcipher()
    conn = dbapi.connect(path, isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000)
    if key is not None:
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    try:
        conn.execute("PRAGMA journal_mode = WAL")  # the first statement that reads the file
    except dbapi.DatabaseError as exc:
        conn.close()
        state = "no database key was given" if key is None else "the database key does not fit it"
        raise StoreLocked(f"cannot open {path}: {exc} ({state}; is it encrypted?)") from None
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    conn.execute("PRAGMA foreign_keys = ON")
    if create:
        _create_schema(conn)
    return conn


def database_key() -> bytes | None:
    """The SQLCipher key given to this process, or None (unencrypted)."""
    credentials = os.environ.get("CREDENTIALS_DIRECTORY")
    path = Path(credentials) / DATABASE_KEY_CREDENTIAL if credentials else None
    if path is None or not path.exists():
        named = os.environ.get(DATABASE_KEY_FILE_ENV)
        if not named:
            return None
        path = Path(named)
    try:
        if path.stat().st_mode & 0o077:
            raise StoreLocked(f"the database key {path} may be read by others than its owner: refused "
                              f"(chmod 600 it, or better use the systemd credential; see docs/appliance.md)")
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError) as exc:
        raise StoreLocked(f"cannot read the database key {path}: {exc}") from None
    if len(key) != 32:
        raise StoreLocked(f"the database key {path} must be 64 hex digits (256 bits), not {len(key) * 2}")
    return key


def _sqlcipher():
    try:
        from sqlcipher3 import dbapi2
    except ImportError:
        raise StoreLocked("a database key was given but sqlcipher3 is not installed (extra `sqlcipher`)") from None
    return dbapi2


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: committed whole, or rolled back whole."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create_schema(conn: sqlite3.Connection) -> None:
    db = sqlite_utils.Database(conn)
    if "qualification" not in db.table_names():
        conn.execute(db.create_table_sql("qualification", RECORD_COLUMNS, pk="record_id"))
        _create_indexes(conn)
    db["meta"].create({"key": str, "value": str}, pk="key", if_not_exists=True)
    db["insurer"].create({"insurer_number": str, "name": str}, pk="insurer_number", if_not_exists=True)
    db["revoked_certificate"].create(
        {"card_link": str, "reason": str}, pk="card_link", if_not_exists=True
    )
    db["sync_state"].create(SYNC_STATE_COLUMNS, pk="id", if_not_exists=True)
    for name, kind in SYNC_STATE_COLUMNS.items():  # databases made before the sync daemon existed
        if name not in db["sync_state"].columns_dict:
            db["sync_state"].add_column(name, kind)
    db["audit"].create(
        {
            "id": int,
            "at": str,
            "method": str,
            "inputs_hash": str,
            "verdict": str,
            "validity": int,
            "source": str,
            "data_as_of": str,
            "data_age_seconds": int,
            "record_id": int,
            "detail": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["outbox"].create(
        {
            "id": int,
            "audit_id": int,
            "created_at": str,
            "request": str,
            "verdict": str,
            "source": str,
            "copay_percent": int,
            "uploaded_at": str,
            "reconciled_at": str,
        },
        pk="id",
        if_not_exists=True,
    )
    db["followup"].create(  # 要対応: contradictions found by reconciliation (edge/reconcile.py)
        {"id": int, "outbox_id": int, "created_at": str, "kind": str, "message_ja": str,
         "correction_ja": str, "detail": str, "handled_at": str},
        pk="id", if_not_exists=True,
    )
    conn.execute("CREATE UNIQUE INDEX IF NOT EXISTS idx_followup_outbox ON followup (outbox_id)")
    _create_live_table(conn)
    with transaction(conn):
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('audit_key', ?)", (secrets.token_hex(32),))


def _create_indexes(conn: sqlite3.Connection, table: str = "qualification") -> None:
    for name, columns in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({', '.join(columns)})")


# ---- meta ------------------------------------------------------------------

def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def keyed_hash(key_hex: str, data: bytes) -> str:
    return hmac.new(bytes.fromhex(key_hex), data, hashlib.sha256).hexdigest()


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

def row_problems(row) -> list[str]:
    """What is wrong with a qualification row (COLUMN_NAMES order): [] when it is a good one."""
    if not isinstance(row, (list, tuple)) or len(row) != len(COLUMN_NAMES):
        return [f"{len(row) if isinstance(row, (list, tuple)) else 'no'} columns, not {len(COLUMN_NAMES)}"]
    return stored_field_problems(dict(zip(COLUMN_NAMES, row, strict=True)))


def record_row(data: dict) -> tuple:
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
    )


def replace_all_records(conn: sqlite3.Connection, rows: Iterable[tuple]) -> int:
    """Replace the whole cache with `rows`, inside the caller's transaction.

    Loads into a fresh table and builds the indexes after the load (faster than
    inserting into indexed pages), then swaps it in. Readers see the old data until
    the transaction commits. Returns the number of rows.
    """
    conn.execute("DROP TABLE IF EXISTS qualification_new")
    create_sql = sqlite_utils.Database(conn).create_table_sql(
        "qualification_new", RECORD_COLUMNS, pk="record_id"
    )
    conn.execute(create_sql)
    cursor = conn.executemany(_INSERT_SQL.replace("qualification", "qualification_new", 1), rows)
    count = cursor.rowcount
    conn.execute("DROP TABLE qualification")
    conn.execute("ALTER TABLE qualification_new RENAME TO qualification")
    # Each index build sorts in memory up to the page cache's size, on top of the cache
    # itself: a smaller cache meanwhile keeps a 1M apply under 150 MB for little time.
    conn.execute(f"PRAGMA cache_size = -{INDEX_BUILD_CACHE_KIB}")
    try:
        _create_indexes(conn)
    finally:
        conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_KIB}")
    return count


def upsert_records(conn: sqlite3.Connection, rows: Iterable[tuple]) -> int:
    """Insert or replace rows by record_id, inside the caller's transaction."""
    return conn.executemany(_INSERT_SQL, rows).rowcount


def delete_records(conn: sqlite3.Connection, record_ids: Iterable[int]) -> int:
    return conn.executemany("DELETE FROM qualification WHERE record_id = ?", ((i,) for i in record_ids)).rowcount


SYNC_STATE_COLUMNS: dict[str, type] = {
    "id": int, "data_version": int, "generated_at": str, "applied_at": str,
    # the last sync attempt, whatever came of it: ok, unchanged, offline, rejected, failed
    "last_attempt_at": str, "last_result": str, "last_error": str,
    # the last refused update (bad signature, replay, expiry, bad bundle); cleared by a good sync
    "rejected_at": str, "rejection_reason": str,
}


def set_sync_state(conn: sqlite3.Connection, data_version: int, generated_at: datetime) -> None:
    conn.execute(
        "INSERT INTO sync_state (id, data_version, generated_at, applied_at) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET data_version = excluded.data_version, "
        "generated_at = excluded.generated_at, applied_at = excluded.applied_at",
        (data_version, generated_at.isoformat(), utcnow().isoformat()),
    )


def record_sync_attempt(conn: sqlite3.Connection, result: str, error: str = "", at: datetime | None = None) -> None:
    """Record how the last sync attempt ended. `rejected` records the rejection (kept until a
    sync ends `ok` or `unchanged`); `offline` and `failed` leave an earlier rejection visible."""
    at_iso = (at or utcnow()).isoformat()
    conn.execute(
        "INSERT INTO sync_state (id, last_attempt_at, last_result, last_error) VALUES (1, ?, ?, ?) "
        "ON CONFLICT (id) DO UPDATE SET last_attempt_at = excluded.last_attempt_at, "
        "last_result = excluded.last_result, last_error = excluded.last_error",
        (at_iso, result, error),
    )
    if result == "rejected":
        conn.execute("UPDATE sync_state SET rejected_at = ?, rejection_reason = ? WHERE id = 1", (at_iso, error))
    elif result in ("ok", "unchanged"):
        conn.execute("UPDATE sync_state SET rejected_at = NULL, rejection_reason = NULL WHERE id = 1")


@dataclass(frozen=True)
class SyncAttempt:
    """How the last sync attempt ended, and the last refused update if not yet cleared."""

    at: datetime | None
    result: str  # ok, unchanged, offline, rejected, failed ("" before any attempt)
    error: str
    rejected_at: datetime | None
    rejection_reason: str

    @property
    def rejected(self) -> bool:
        """A refused update since the last good sync: show it in red at the desk."""
        return self.rejected_at is not None


@dataclass(frozen=True)
class SyncState:
    data_version: int
    generated_at: datetime
    applied_at: datetime
    attempt: SyncAttempt | None = None


def _sync_row(conn: sqlite3.Connection) -> dict | None:
    cursor = conn.execute("SELECT * FROM sync_state WHERE id = 1")
    row = cursor.fetchone()
    return dict(zip((c[0] for c in cursor.description), row, strict=True)) if row else None


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def get_sync_attempt(conn: sqlite3.Connection) -> SyncAttempt | None:
    """The last sync attempt (also before any data was applied); None if never tried."""
    row = _sync_row(conn)
    if not row or not row.get("last_attempt_at"):
        return None
    return SyncAttempt(_when(row["last_attempt_at"]), row.get("last_result") or "", row.get("last_error") or "",
                       _when(row.get("rejected_at")), row.get("rejection_reason") or "")


def get_sync_state(conn: sqlite3.Connection) -> SyncState | None:
    """What data the cache holds (None if nothing was ever applied), with the last attempt."""
    row = _sync_row(conn)
    if not row or row["data_version"] is None:
        return None
    return SyncState(row["data_version"], datetime.fromisoformat(row["generated_at"]),
                     datetime.fromisoformat(row["applied_at"]), get_sync_attempt(conn))


# ---- records: lookups -------------------------------------------------------

def _record(row: tuple) -> QualificationRecord:
    try:
        return _read_record(row)
    except (ValueError, TypeError, KeyError) as exc:  # never the value: it may be personal
        raise UnreadableRecord(f"stored record {row[0] if row else '?'} cannot be read "
                               f"({type(exc).__name__}; {'; '.join(row_problems(row)) or 'bad value'})") from None


def _read_record(row: tuple) -> QualificationRecord:
    (record_id, insurer_number, insurer_name, symbol, number, branch, birth_date,
     personal_family, name, name_kana, name_other, sex, address, post_number,
     qualification_date, disqualification_date, loss_reason, card_classification,
     valid_from, valid_until, copay_percent, preschool, elderly_copay_percent,
     elderly_valid_from, elderly_valid_until, limit_class, specific_diseases,
     nondisclosure, validity, patient_id, card_link, as_of) = row
    d = date.fromisoformat
    return QualificationRecord(
        record_id=record_id, insurer_number=insurer_number, insurer_name=insurer_name,
        symbol=symbol, number=number, branch=branch, birth_date=d(birth_date),
        personal_family=personal_family, name=name, name_kana=name_kana,
        name_other=name_other or "", sex=sex, address=address, post_number=post_number,
        qualification_date=d(qualification_date),
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
    )


def find_by_numbers(
    conn: sqlite3.Connection, insurer_number: str, symbol: str, number: str, branch: str, birth_date: date
) -> list[QualificationRecord]:
    """Records matching the printed numbers and birth date; `branch` "" matches any 枝番."""
    if branch:
        return _lookup(conn, " WHERE insurer_number = ? AND symbol = ? AND number = ? AND branch = ? "
                       "AND birth_date = ?", (insurer_number, symbol, number, branch, birth_date.isoformat()))
    return _lookup(conn, " WHERE insurer_number = ? AND symbol = ? AND number = ? AND birth_date = ?",
                   (insurer_number, symbol, number, birth_date.isoformat()))


def find_by_card_link(conn: sqlite3.Connection, card_link: str) -> list[QualificationRecord]:
    return _lookup(conn, " WHERE card_link = ?", (card_link,))


def link_card(conn: sqlite3.Connection, patient_id: str, card_link: str) -> int:
    """Attach a card link to every record of a patient (what the hub's certificate resolution
    will do; `madoguchi vcard` uses it for its virtual card). Returns the number of records."""
    return conn.execute("UPDATE qualification SET card_link = ? WHERE patient_id = ?", (card_link, patient_id)).rowcount


def find_by_patient_id(conn: sqlite3.Connection, patient_id: str) -> list[QualificationRecord]:
    return _lookup(conn, " WHERE patient_id = ?", (patient_id,))


# ---- live answers: an overlay on the signed cache -----------------------------------

def _create_live_table(conn: sqlite3.Connection) -> None:
    """`live_record`: the hub's live answers, keyed like the cache. The signed `qualification`
    table is never written with them (its digest is the hub's); lookups prefer the newer."""
    sqlite_utils.Database(conn)["live_record"].create(RECORD_COLUMNS, pk="record_id", if_not_exists=True)
    for name, columns in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name.replace('qualification', 'live')} "
                     f"ON live_record ({', '.join(columns)})")


def save_live_records(conn: sqlite3.Connection, records: Iterable[QualificationRecord]) -> int:
    """Keep the records of a live answer (they replace earlier live answers for the same ids)."""
    rows = [record_row(r.to_json()) for r in records]
    insert = _INSERT_SQL.replace("qualification", "live_record", 1)
    with transaction(conn):
        try:
            return conn.executemany(insert, rows).rowcount
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            _create_live_table(conn)  # a database made before live queries existed
            return conn.executemany(insert, rows).rowcount


def prune_live_records(conn: sqlite3.Connection) -> int:
    """Drop the live answers the signed cache has caught up with (same record, as new or newer)."""
    try:
        with transaction(conn):
            return conn.execute(
                "DELETE FROM live_record WHERE EXISTS (SELECT 1 FROM qualification q WHERE q.record_id = "
                "live_record.record_id AND julianday(q.as_of) >= julianday(live_record.as_of))").rowcount
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return 0


def _lookup(conn: sqlite3.Connection, where: str, params: tuple) -> list[QualificationRecord]:
    """Cached records matching `where`, each replaced by its live answer when that is newer."""
    rows = {r[0]: r for r in conn.execute(_SELECT_SQL + where, params)}
    try:
        live = conn.execute(_LIVE_SELECT_SQL + where, params).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        live = []
    for row in live:
        cached = rows.get(row[0])
        if cached is None or datetime.fromisoformat(row[-1]) > datetime.fromisoformat(cached[-1]):
            rows[row[0]] = row
    return [_record(r) for r in rows.values()]


def find_patient_records(conn: sqlite3.Connection, record: QualificationRecord) -> list[QualificationRecord]:
    """Every record of the same patient (to tell 無効 from 無効・新しい資格あり)."""
    return find_by_patient_id(conn, record.patient_id) if record.patient_id else [record]


def revocation_reason(conn: sqlite3.Connection, card_link: str) -> str | None:
    row = conn.execute("SELECT reason FROM revoked_certificate WHERE card_link = ?", (card_link,)).fetchone()
    return row[0] if row else None


def insurer_name(conn: sqlite3.Connection, insurer_number: str) -> str | None:
    row = conn.execute("SELECT name FROM insurer WHERE insurer_number = ?", (insurer_number,)).fetchone()
    return row[0] if row else None


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
    one = lambda sql, *args: conn.execute(sql, args).fetchone()[0]  # noqa: E731
    day = today.isoformat()
    path = database_path(data_dir)
    size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
    return CacheStats(
        records=one("SELECT count(*) FROM qualification"),
        valid_today=one(
            "SELECT count(*) FROM qualification WHERE validity = 1 AND qualification_date <= ? "
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


# ---- audit log (hash-chained) and outbox ------------------------------------

_AUDIT_FIELDS = (
    "at", "method", "inputs_hash", "verdict", "validity", "source", "data_as_of",
    "data_age_seconds", "record_id", "detail",
)


def _audit_hash(prev_hash: str, entry_id: int, values: tuple) -> str:
    payload = json.dumps([entry_id, *values], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def inputs_hash(conn: sqlite3.Connection, inputs: dict) -> str:
    """A keyed hash of the personal inputs of a check (the log keeps no numbers in clear)."""
    canonical = json.dumps(inputs, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return keyed_hash(get_meta(conn, "audit_key"), canonical.encode())


def append_audit(conn: sqlite3.Connection, entry: dict) -> int:
    """Append one entry, chained to the previous one; call inside a transaction."""
    head = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    entry_id, prev_hash = (head[0] + 1, head[1]) if head else (1, "")
    values = tuple(entry.get(f) for f in _AUDIT_FIELDS)
    digest = _audit_hash(prev_hash, entry_id, values)
    conn.execute(
        f"INSERT INTO audit (id, {', '.join(_AUDIT_FIELDS)}, prev_hash, hash) "
        f"VALUES (?, {', '.join('?' * len(_AUDIT_FIELDS))}, ?, ?)",
        (entry_id, *values, prev_hash, digest),
    )
    set_meta(conn, "audit_head", f"{entry_id}:{digest}")
    return entry_id


@dataclass(frozen=True)
class AuditProblem:
    entry_id: int
    problem: str


def verify_audit(conn: sqlite3.Connection) -> tuple[int, list[AuditProblem]]:
    """Walk the chain; report edited entries, missing entries and a cut-off tail."""
    problems: list[AuditProblem] = []
    prev_hash, expected_id, count = "", 1, 0
    cursor = conn.execute(f"SELECT id, {', '.join(_AUDIT_FIELDS)}, prev_hash, hash FROM audit ORDER BY id")
    for row in cursor:
        count += 1
        entry_id, values, stored_prev, stored_hash = row[0], row[1:-2], row[-2], row[-1]
        if entry_id != expected_id:
            problems.append(AuditProblem(expected_id, f"entries {expected_id}..{entry_id - 1} are missing (deleted)"))
        elif stored_prev != prev_hash:
            problems.append(AuditProblem(entry_id, "chain broken: previous hash does not match"))
        if _audit_hash(stored_prev, entry_id, values) != stored_hash:
            problems.append(AuditProblem(entry_id, "entry was edited: its hash does not match its content"))
        prev_hash, expected_id = stored_hash, entry_id + 1
    head = get_meta(conn, "audit_head")
    if head:
        head_id, head_hash = head.split(":")
        if int(head_id) >= expected_id:
            problems.append(AuditProblem(expected_id, f"entries {expected_id}..{head_id} at the end are missing (deleted)"))
        elif int(head_id) == expected_id - 1 and head_hash != prev_hash:
            problems.append(AuditProblem(int(head_id), "last entry does not match the recorded head"))
    return count, problems


def add_to_outbox(conn: sqlite3.Connection, audit_id: int, request: dict, verdict: str, source: str,
                  copay_percent: int | None, checked_at: datetime | None = None) -> int:
    """Queue a check made from the cache or a declaration for reconciliation."""
    cursor = conn.execute(
        "INSERT INTO outbox (audit_id, created_at, request, verdict, source, copay_percent) VALUES (?, ?, ?, ?, ?, ?)",
        (audit_id, (checked_at or utcnow()).isoformat(), json.dumps(request, ensure_ascii=False), verdict, source, copay_percent),
    )
    return cursor.lastrowid


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def secure_dir(path: Path) -> Path:
    """Create a data directory readable by its owner only (it holds personal data)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
