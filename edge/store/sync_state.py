"""What data the cache holds (version, when generated and applied) and how the last sync ended."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from madoguchi.edge.store.db import utcnow


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


def _sync_row(conn: sqlite3.Connection) -> dict[str, Any] | None:
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
