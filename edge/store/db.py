"""Opening the device database: the key, the connection settings, transactions, the schema
and its migrations, and the `meta` table.

`open_database` is the one function that opens the database. The schema version is
`PRAGMA user_version`: each migration below runs once, in order, in one transaction with the
version it leads to. Version 0 with tables is a database made by release 0.1.0 (its schema is
`BASELINE`); version 0 without tables is a new database. Never edit a migration that has been
released: add one.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

DATABASE_NAME = "cache.db"
PAGE_CACHE_KIB = 64 * 1024  # 64 MB: the default 2 MB doubles a bulk apply
BUSY_TIMEOUT_MS = 5000
INDEX_BUILD_CACHE_KIB = 16 * 1024


class StoreMissing(RuntimeError):
    """The database does not exist yet (nothing synced or loaded)."""


class StoreLocked(StoreMissing):
    """The database cannot be opened: encrypted and no key given, a wrong key, or a bad key file.
    A StoreMissing, so that every caller already gives its one-line reason."""


class StoreTooNew(StoreMissing):
    """The database was made by a newer madoguchi (its schema version is unknown here)."""


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
    # Added in schema version 3: the record's other fields as one JSON object (model.record_details),
    # so that a field added later needs no migration.
    "details": str,
}
COLUMN_NAMES = tuple(RECORD_COLUMNS)
AS_OF = COLUMN_NAMES.index("as_of")
# A row of release 0.1.0 had the columns up to as_of. A bundle leaves the later ones out while
# they are empty (sync.bundle.record_line), so such a row means, and hashes, the same everywhere.
RELEASE_0_1_COLUMNS = AS_OF + 1
INDEXES = {
    "idx_qualification_numbers": ("insurer_number", "symbol", "number", "branch", "birth_date"),
    "idx_qualification_card_link": ("card_link",),
    "idx_qualification_patient_id": ("patient_id",),
}


def record_table_sql(table: str, width: int = len(COLUMN_NAMES)) -> str:
    """CREATE TABLE for a table of records (`qualification`, its replacement during a full
    apply, `live_record`), in RECORD_COLUMNS order (the first `width` of them)."""
    kinds = {int: "INTEGER", str: "TEXT"}
    columns = ",\n".join(f'   "{name}" {kinds[kind]}{" PRIMARY KEY" if name == "record_id" else ""}'
                         for name, kind in list(RECORD_COLUMNS.items())[:width])
    return f'CREATE TABLE IF NOT EXISTS "{table}" (\n{columns}\n)'


def create_record_indexes(conn: sqlite3.Connection, table: str = "qualification", prefix: str = "qualification") -> None:
    for name, columns in INDEXES.items():
        conn.execute(f"CREATE INDEX IF NOT EXISTS {name.replace('qualification', prefix)} "
                     f"ON {table} ({', '.join(columns)})")


# The certificates the hub has resolved to a patient (their card links: keyed hashes), beside the
# one `card_link` a record may carry; synced like the revocation list.
CERTIFICATE_LINK_SQL = ('CREATE TABLE IF NOT EXISTS "certificate_link" ("card_link" TEXT PRIMARY KEY, '
                        '"patient_id" TEXT NOT NULL)')


# The schema of release 0.1.0 (what `user_version` 0 with tables holds). IF NOT EXISTS: it is
# also how a new database starts.
_BASELINE_TABLES = (
    'CREATE TABLE IF NOT EXISTS "meta" ("key" TEXT PRIMARY KEY, "value" TEXT)',
    'CREATE TABLE IF NOT EXISTS "insurer" ("insurer_number" TEXT PRIMARY KEY, "name" TEXT)',
    'CREATE TABLE IF NOT EXISTS "revoked_certificate" ("card_link" TEXT PRIMARY KEY, "reason" TEXT)',
    'CREATE TABLE IF NOT EXISTS "sync_state" ("id" INTEGER PRIMARY KEY, "data_version" INTEGER, '
    '"generated_at" TEXT, "applied_at" TEXT, "last_attempt_at" TEXT, "last_result" TEXT, "last_error" TEXT, '
    '"rejected_at" TEXT, "rejection_reason" TEXT)',
    'CREATE TABLE IF NOT EXISTS "audit" ("id" INTEGER PRIMARY KEY, "at" TEXT, "method" TEXT, "inputs_hash" TEXT, '
    '"verdict" TEXT, "validity" INTEGER, "source" TEXT, "data_as_of" TEXT, "data_age_seconds" INTEGER, '
    '"record_id" INTEGER, "detail" TEXT, "prev_hash" TEXT, "hash" TEXT)',
    'CREATE TABLE IF NOT EXISTS "outbox" ("id" INTEGER PRIMARY KEY, "audit_id" INTEGER, "created_at" TEXT, '
    '"request" TEXT, "verdict" TEXT, "source" TEXT, "copay_percent" INTEGER, "uploaded_at" TEXT, '
    '"reconciled_at" TEXT)',
    # 要対応: contradictions found by reconciliation (edge/reconcile.py)
    'CREATE TABLE IF NOT EXISTS "followup" ("id" INTEGER PRIMARY KEY, "outbox_id" INTEGER, "created_at" TEXT, '
    '"kind" TEXT, "message_ja" TEXT, "correction_ja" TEXT, "detail" TEXT, "handled_at" TEXT)',
    "CREATE UNIQUE INDEX IF NOT EXISTS idx_followup_outbox ON followup (outbox_id)",
)


def _baseline(conn: sqlite3.Connection) -> None:
    for sql in _BASELINE_TABLES:
        conn.execute(sql)
    conn.execute(record_table_sql("qualification", RELEASE_0_1_COLUMNS))
    create_record_indexes(conn)
    # `live_record`: the hub's live answers, keyed like the cache. The signed `qualification`
    # table is never written with them (its digest is the hub's); lookups prefer the newer.
    conn.execute(record_table_sql("live_record", RELEASE_0_1_COLUMNS))
    create_record_indexes(conn, "live_record", "live")
    conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('audit_key', ?)", (secrets.token_hex(32),))


def _audit_time_index(conn: sqlite3.Connection) -> None:
    """The desk's status bar counts today's checks on every refresh."""
    conn.execute("CREATE INDEX IF NOT EXISTS idx_audit_at ON audit (at)")


def _record_details_and_certificate_links(conn: sqlite3.Connection) -> None:
    """A record's fields beyond release 0.1.0's columns, kept in `details` ('' for the rows already
    there, as a bundle gives them); and `certificate_link`: more certificates than one finding a
    patient (a マイナンバーカード and a スマホ保険証 are two certificates, docs/domain.md §2)."""
    for table in ("qualification", "live_record"):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN details TEXT DEFAULT ''")
    conn.execute(CERTIFICATE_LINK_SQL)


def _declarations(conn: sqlite3.Connection) -> None:
    """申立 records with their state on the way to the claim (edge/store/declarations.py): open,
    resolved to new or to old (旧資格) numbers, or unresolved; the claim's payment."""
    conn.execute(
        'CREATE TABLE IF NOT EXISTS "declaration" ("id" INTEGER PRIMARY KEY, "audit_id" INTEGER NOT NULL, '
        '"outbox_id" INTEGER UNIQUE, "checked_at" TEXT NOT NULL, "copay_percent" INTEGER, "form" TEXT NOT NULL, '
        '"state" TEXT NOT NULL DEFAULT \'open\' '
        'CHECK ("state" IN (\'open\', \'resolved_new\', \'resolved_old\', \'unresolved\')), '
        '"insurer_number" TEXT, "symbol" TEXT, "number" TEXT, "branch" TEXT, "resolved_at" TEXT, '
        '"resolved_by" TEXT, "claim_paid_at" TEXT)')
    conn.execute("CREATE INDEX IF NOT EXISTS idx_declaration_checked_at ON declaration (checked_at)")


# MIGRATIONS[i] takes the schema from version i to version i + 1.
MIGRATIONS = (_baseline, _audit_time_index, _record_details_and_certificate_links, _declarations)
SCHEMA_VERSION = len(MIGRATIONS)


def database_path(data_dir: Path) -> Path:
    return Path(data_dir) / DATABASE_NAME


def open_database(data_dir: Path, *, create: bool = False) -> sqlite3.Connection:
    """Open the store in `data_dir`: WAL, busy timeout, a page cache sized for bulk work, the
    schema migrated to the latest version.

    The connection is in autocommit mode; use `transaction()` for writes.
    Raises StoreMissing if the database does not exist and `create` is false.
    """
    path = database_path(data_dir)
    if not create and not path.exists():
        raise StoreMissing(f"no database at {path}: run a sync or `madoguchi population` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = database_key()
    dbapi: Any = sqlite3 if key is None else _sqlcipher()
    conn: sqlite3.Connection = dbapi.connect(path, isolation_level=None, check_same_thread=False,
                                             timeout=BUSY_TIMEOUT_MS / 1000)
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
    try:
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def schema_version(conn: sqlite3.Connection) -> int:
    version: int = conn.execute("PRAGMA user_version").fetchone()[0]
    return version


def migrate(conn: sqlite3.Connection, path: Path | str = "the database") -> int:
    """Bring the schema to SCHEMA_VERSION; returns the number of migrations run (0: nothing to
    do, the usual case, which costs one PRAGMA read)."""
    if schema_version(conn) == SCHEMA_VERSION:
        return 0
    with transaction(conn):
        version = schema_version(conn)  # again, under the write lock: another process may have done it
        if version > SCHEMA_VERSION:
            raise StoreTooNew(f"{path} has schema version {version}, newer than this madoguchi knows "
                              f"({SCHEMA_VERSION}): update madoguchi")
        for step in MIGRATIONS[version:]:
            step(conn)
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return SCHEMA_VERSION - version


def checkpoint(conn: sqlite3.Connection) -> None:
    """Truncate the WAL (it grew by the size of a bulk change)."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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


def _sqlcipher() -> ModuleType:
    try:
        from sqlcipher3 import dbapi2  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        raise StoreLocked("a database key was given but sqlcipher3 is not installed (extra `sqlcipher`)") from None
    module: ModuleType = dbapi2
    return module


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


# ---- meta ------------------------------------------------------------------

def get_meta(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return str(row[0]) if row else None


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))


def keyed_hash(key_hex: str, data: bytes) -> str:
    return hmac.new(bytes.fromhex(key_hex), data, hashlib.sha256).hexdigest()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def secure_dir(path: Path) -> Path:
    """Create a data directory readable by its owner only (it holds personal data)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path
