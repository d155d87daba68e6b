"""The audit log: one entry per check, hash-chained so that an edited, deleted or cut-off
entry shows; personal inputs only as keyed hashes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from madoguchi.edge.store.db import get_meta, keyed_hash, set_meta

_AUDIT_FIELDS = (
    "at", "method", "inputs_hash", "verdict", "validity", "source", "data_as_of",
    "data_age_seconds", "record_id", "detail",
)


def _audit_hash(prev_hash: str, entry_id: int, values: tuple[Any, ...]) -> str:
    payload = json.dumps([entry_id, *values], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + payload).encode()).hexdigest()


def inputs_hash(conn: sqlite3.Connection, inputs: dict[str, Any]) -> str:
    """A keyed hash of the personal inputs of a check (the log keeps no numbers in clear)."""
    canonical = json.dumps(inputs, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    key = get_meta(conn, "audit_key")
    if key is None:
        raise RuntimeError("the store has no audit key (its schema was not created)")
    return keyed_hash(key, canonical.encode())


def append_audit(conn: sqlite3.Connection, entry: dict[str, Any]) -> int:
    """Append one entry, chained to the previous one; call inside a transaction."""
    head = conn.execute("SELECT id, hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
    entry_id, prev_hash = (int(head[0]) + 1, str(head[1])) if head else (1, "")
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


def count_checks_since(conn: sqlite3.Connection, since: datetime) -> int:
    """Checks recorded at or after `since` (the desk's count of today's checks)."""
    count: int = conn.execute("SELECT count(*) FROM audit WHERE at >= ?", (since.isoformat(),)).fetchone()[0]
    return count


def last_check_at(conn: sqlite3.Connection) -> str | None:
    """When the last check was recorded (ISO 8601), None before any."""
    value = conn.execute("SELECT max(at) FROM audit").fetchone()[0]
    return str(value) if value is not None else None


@dataclass(frozen=True)
class CheckLogRow:
    """One audited check with the cached name of its record and the outbox payload, if any."""

    audit_id: int
    at: str
    method: str
    verdict: str
    source: str
    name: str | None
    name_kana: str | None
    request: str | None  # the outbox payload (JSON): a 申立's declared name


def checks_since(conn: sqlite3.Connection, since: datetime) -> list[CheckLogRow]:
    """The checks recorded at or after `since`, newest first."""
    rows = conn.execute(
        "SELECT a.id, a.at, a.method, a.verdict, a.source, q.name, q.name_kana, o.request "
        "FROM audit a LEFT JOIN qualification q ON q.record_id = a.record_id "
        "LEFT JOIN outbox o ON o.audit_id = a.id WHERE a.at >= ? ORDER BY a.id DESC",
        (since.isoformat(),),
    ).fetchall()
    return [CheckLogRow(*row) for row in rows]
