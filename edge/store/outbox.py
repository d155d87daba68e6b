"""The outbox (checks decided from the cache or a 申立, waiting for the hub's re-check) and
the followups (要対応) that reconciliation records where the re-check contradicts the desk."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from madoguchi.edge.reconcile import Contradiction, Followup
from madoguchi.edge.store.db import transaction, utcnow
from madoguchi.edge.store.declarations import resolve_rechecked


def add_to_outbox(conn: sqlite3.Connection, audit_id: int, request: dict[str, Any], verdict: str, source: str,
                  copay_percent: int | None, checked_at: datetime | None = None) -> int:
    """Queue a check made from the cache or a declaration for reconciliation."""
    cursor = conn.execute(
        "INSERT INTO outbox (audit_id, created_at, request, verdict, source, copay_percent) VALUES (?, ?, ?, ?, ?, ?)",
        (audit_id, (checked_at or utcnow()).isoformat(), json.dumps(request, ensure_ascii=False), verdict, source,
         copay_percent),
    )
    return int(cursor.lastrowid or 0)


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    created_at: str
    request: dict[str, Any]  # the payload (edge.desk.outbox_payload)
    verdict: str
    copay_percent: int | None


def unreconciled(conn: sqlite3.Connection, after: int = 0, limit: int = 100) -> list[OutboxEntry]:
    """Entries not reconciled yet with an id above `after`, oldest first."""
    rows = conn.execute("SELECT id, created_at, request, verdict, copay_percent FROM outbox "
                        "WHERE reconciled_at IS NULL AND id > ? ORDER BY id LIMIT ?", (after, limit)).fetchall()
    return [OutboxEntry(i, at, json.loads(request), verdict, copay) for i, at, request, verdict, copay in rows]


def mark_uploaded(conn: sqlite3.Connection, outbox_ids: Iterable[int], now: datetime) -> None:
    with transaction(conn):
        conn.executemany("UPDATE outbox SET uploaded_at = ? WHERE id = ? AND uploaded_at IS NULL",
                         [(now.isoformat(), i) for i in outbox_ids])


def pending_summary(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """(entries not reconciled yet, when the oldest of them was checked)."""
    count, oldest = conn.execute(
        "SELECT count(*), min(created_at) FROM outbox WHERE reconciled_at IS NULL").fetchone()
    return int(count), oldest


def settle(conn: sqlite3.Connection, outbox_id: int, contradiction: Contradiction | None, detail: dict[str, Any],
           now: datetime) -> Followup | None:
    """Mark one outbox entry reconciled and record its followup, if any, in one transaction;
    an entry already reconciled is left alone (so a repeated answer creates nothing). A 申立
    whose new numbers the re-check found (`detail["numbers"]`) is resolved to them."""
    with transaction(conn):
        claimed = conn.execute("UPDATE outbox SET reconciled_at = ? WHERE id = ? AND reconciled_at IS NULL",
                               (now.isoformat(), outbox_id)).rowcount
        if not (claimed and contradiction):
            return None
        kind, message, correction = contradiction
        if kind == "declaration_resolved" and detail.get("numbers"):
            resolve_rechecked(conn, outbox_id, detail["numbers"], now)
        cursor = conn.execute(
            "INSERT INTO followup (outbox_id, created_at, kind, message_ja, correction_ja, detail) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (outbox_id, now.isoformat(), kind, message, correction, json.dumps(detail)),
        )
        return Followup(int(cursor.lastrowid or 0), outbox_id, now.isoformat(), kind, message, correction)


def list_followups(conn: sqlite3.Connection, include_handled: bool = False) -> list[Followup]:
    sql = "SELECT id, outbox_id, created_at, kind, message_ja, correction_ja, handled_at FROM followup"
    if not include_handled:
        sql += " WHERE handled_at IS NULL"
    return [Followup(*row) for row in conn.execute(sql + " ORDER BY id")]


def count_open_followups(conn: sqlite3.Connection) -> int:
    count: int = conn.execute("SELECT count(*) FROM followup WHERE handled_at IS NULL").fetchone()[0]
    return count


def mark_handled(conn: sqlite3.Connection, followup_id: int, now: datetime | None = None) -> bool:
    """Mark a followup as handled; False if there is no such open followup."""
    with transaction(conn):
        return bool(conn.execute("UPDATE followup SET handled_at = ? WHERE id = ? AND handled_at IS NULL",
                                 ((now or utcnow()).isoformat(), followup_id)).rowcount)
