"""The device's store: the only place on the device that speaks SQL.

`db` opens the database (key, connection settings, transactions, versioned schema), `records`
holds the signed cache with its live overlay and the synced tables' row statements, `audit` the
hash-chained log, `outbox` the outbox and followups (要対応), `declarations` the 申立 on their
way to the claim, `sync_state` what was synced.
Callers import the package: `from madoguchi.edge import store; store.find_by_numbers(...)`.
"""

from madoguchi.edge.store.audit import (
    AuditProblem,
    CheckLogRow,
    append_audit,
    checks_since,
    count_checks_since,
    inputs_hash,
    last_check_at,
    verify_audit,
)
from madoguchi.edge.store.db import (
    AS_OF,
    BUSY_TIMEOUT_MS,
    COLUMN_NAMES,
    DATABASE_KEY_CREDENTIAL,
    DATABASE_KEY_FILE_ENV,
    DATABASE_NAME,
    INDEX_BUILD_CACHE_KIB,
    INDEXES,
    MIGRATIONS,
    PAGE_CACHE_KIB,
    RECORD_COLUMNS,
    RELEASE_0_1_COLUMNS,
    SCHEMA_VERSION,
    StoreLocked,
    StoreMissing,
    StoreTooNew,
    checkpoint,
    database_key,
    database_path,
    get_meta,
    keyed_hash,
    migrate,
    open_database,
    schema_version,
    secure_dir,
    set_meta,
    transaction,
    utcnow,
)
from madoguchi.edge.store.declarations import (
    DeclarationRow,
    add_declaration,
    declarations_between,
    mark_claim_paid,
    resolve_by_staff,
)
from madoguchi.edge.store.outbox import (
    OutboxEntry,
    add_to_outbox,
    count_open_followups,
    list_followups,
    mark_handled,
    mark_uploaded,
    pending_summary,
    settle,
    unreconciled,
)
from madoguchi.edge.store.records import (
    SYNCED_TABLES,
    CacheStats,
    Lookup,
    cache_stats,
    card_link_for,
    clear_synced,
    count_records,
    delete_records,
    delete_rows,
    find_by_card_link,
    find_by_numbers,
    find_by_patient_id,
    find_patient_records,
    insurer_name,
    link_card,
    prune_live_records,
    put_rows,
    record_row,
    replace_all_records,
    revocation_reason,
    row_by_key,
    row_problems,
    rows_by_key,
    save_live_records,
    table_rows,
    update_columns,
    upsert_records,
)
from madoguchi.edge.store.sync_state import (
    SyncAttempt,
    SyncState,
    get_sync_attempt,
    get_sync_state,
    record_sync_attempt,
    set_sync_state,
)

__all__ = [
    "AuditProblem", "CheckLogRow", "append_audit", "checks_since", "count_checks_since", "inputs_hash",
    "last_check_at", "verify_audit",
    "AS_OF", "BUSY_TIMEOUT_MS", "COLUMN_NAMES", "DATABASE_KEY_CREDENTIAL", "DATABASE_KEY_FILE_ENV", "DATABASE_NAME",
    "INDEX_BUILD_CACHE_KIB", "INDEXES", "MIGRATIONS", "PAGE_CACHE_KIB", "RECORD_COLUMNS", "RELEASE_0_1_COLUMNS",
    "SCHEMA_VERSION",
    "StoreLocked", "StoreMissing", "StoreTooNew", "checkpoint", "database_key", "database_path", "get_meta",
    "keyed_hash", "migrate", "open_database", "schema_version", "secure_dir", "set_meta", "transaction", "utcnow",
    "DeclarationRow", "add_declaration", "declarations_between", "mark_claim_paid", "resolve_by_staff",
    "OutboxEntry", "add_to_outbox", "count_open_followups", "list_followups", "mark_handled", "mark_uploaded",
    "pending_summary", "settle", "unreconciled",
    "SYNCED_TABLES", "CacheStats", "Lookup", "cache_stats", "card_link_for", "clear_synced", "count_records",
    "delete_records", "delete_rows", "find_by_card_link", "find_by_numbers", "find_by_patient_id",
    "find_patient_records", "insurer_name", "link_card", "prune_live_records", "put_rows", "record_row", "revocation_reason", "row_problems",
    "replace_all_records", "row_by_key", "rows_by_key", "save_live_records", "table_rows", "update_columns",
    "upsert_records",
    "SyncAttempt", "SyncState", "get_sync_attempt", "get_sync_state", "record_sync_attempt", "set_sync_state",
]
