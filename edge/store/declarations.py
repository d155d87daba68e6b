"""申立 records (被保険者資格申立書): each with its state on the way to the claim.

A 申立 is open when made; the hub's re-check (`settle`) resolves it to the new numbers, or
staff do with the numbers the patient reports (new) or decide on the old 旧資格 numbers, or
mark it unresolved (claimed with 7-filled numbers, edge/claim.py). Kept until the facility marks
the claim paid; a paid 申立 then stays as long as the audit log keeps its check (the log has no
pruning: it is kept whole, docs/domain.md §3).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime

from madoguchi.edge.store.db import transaction
from madoguchi.edge.verdict import Declaration

OPEN, RESOLVED_NEW, RESOLVED_OLD, UNRESOLVED = "open", "resolved_new", "resolved_old", "unresolved"
STATES = (OPEN, RESOLVED_NEW, RESOLVED_OLD, UNRESOLVED)
_COLUMNS = ("id, audit_id, checked_at, copay_percent, form, state, insurer_number, symbol, number, branch, "
            "resolved_at, resolved_by, claim_paid_at")


@dataclass(frozen=True)
class DeclarationRow:
    id: int
    audit_id: int
    checked_at: str  # ISO 8601, UTC
    copay_percent: int | None
    form: Declaration  # the 申立書 and the card's printed fields
    state: str
    insurer_number: str | None  # the numbers it was resolved to (new or 旧資格)
    symbol: str | None
    number: str | None
    branch: str | None
    resolved_at: str | None
    resolved_by: str | None  # recheck | staff
    claim_paid_at: str | None


def add_declaration(conn: sqlite3.Connection, audit_id: int, outbox_id: int | None, checked_at: datetime,
                    copay_percent: int | None, form: Declaration) -> int:
    """Record a 申立 (open); call inside the check's transaction."""
    cursor = conn.execute(
        "INSERT INTO declaration (audit_id, outbox_id, checked_at, copay_percent, form) VALUES (?, ?, ?, ?, ?)",
        (audit_id, outbox_id, checked_at.isoformat(), copay_percent, json.dumps(form.to_json(), ensure_ascii=False)))
    return int(cursor.lastrowid or 0)


def resolve_rechecked(conn: sqlite3.Connection, outbox_id: int, numbers: dict[str, str], now: datetime) -> bool:
    """The re-check found the new numbers: an open 申立 is resolved to them (a staff decision
    already taken is left alone). Call inside the settling transaction."""
    return bool(conn.execute(
        "UPDATE declaration SET state = ?, insurer_number = ?, symbol = ?, number = ?, branch = ?, resolved_at = ?, "
        "resolved_by = 'recheck' WHERE outbox_id = ? AND state = ?",
        (RESOLVED_NEW, numbers["insurer_number"], numbers["symbol"], numbers["number"], numbers["branch"],
         now.isoformat(), outbox_id, OPEN)).rowcount)


def resolve_by_staff(conn: sqlite3.Connection, declaration_id: int, state: str, numbers: dict[str, str] | None,
                     now: datetime) -> bool:
    """Staff set a 申立's state (new or old numbers, or unresolved); False if there is no such
    申立 whose claim is still unpaid."""
    if state not in STATES or (state in (RESOLVED_NEW, RESOLVED_OLD)) != (numbers is not None):
        raise ValueError(f"state {state!r} with numbers {numbers is not None}")
    n = numbers or {}
    with transaction(conn):
        return bool(conn.execute(
            "UPDATE declaration SET state = ?, insurer_number = ?, symbol = ?, number = ?, branch = ?, "
            "resolved_at = ?, resolved_by = 'staff' WHERE id = ? AND claim_paid_at IS NULL",
            (state, n.get("insurer_number"), n.get("symbol"), n.get("number"), n.get("branch"), now.isoformat(),
             declaration_id)).rowcount)


def mark_claim_paid(conn: sqlite3.Connection, declaration_id: int, now: datetime) -> bool:
    """The facility saw the claim paid; False if there is no such unpaid 申立."""
    with transaction(conn):
        return bool(conn.execute("UPDATE declaration SET claim_paid_at = ? WHERE id = ? AND claim_paid_at IS NULL",
                                 (now.isoformat(), declaration_id)).rowcount)


def declarations_between(conn: sqlite3.Connection, start: datetime, end: datetime) -> list[DeclarationRow]:
    """The 申立 made at or after `start` and before `end` (UTC), oldest first."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM declaration WHERE checked_at >= ? AND checked_at < ? ORDER BY id",
                        (start.isoformat(), end.isoformat())).fetchall()
    return [DeclarationRow(row[0], row[1], row[2], row[3], Declaration.from_json(json.loads(row[4])), row[5], row[6],
                           row[7], row[8], row[9], row[10], row[11], row[12]) for row in rows]
