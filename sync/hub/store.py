"""SQL against a facility's data on the hub (its roster of patients, its insurers)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from madoguchi.edge import store

if TYPE_CHECKING:
    from madoguchi.sync.hub.ingest import RosterPatient

ROSTER_COLUMNS = ("patient_id", "insurer_number", "symbol", "number", "branch", "birth_date", "name_kana", "name")


def create_roster_table(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS roster_patient (patient_id TEXT PRIMARY KEY, insurer_number TEXT, "
                 "symbol TEXT, number TEXT, branch TEXT, birth_date TEXT, name_kana TEXT, name TEXT)")


def replace_roster(conn: sqlite3.Connection, patients: Iterable[RosterPatient]) -> tuple[int, int]:
    """Make the roster exactly `patients`; (added, removed) patient ids."""
    rows = [(p.patient_id, p.insurer_number, p.symbol, p.number, p.branch, p.birth_date.isoformat(),
             p.name_kana, p.name) for p in patients]
    with store.transaction(conn):
        create_roster_table(conn)
        before = {r[0] for r in conn.execute("SELECT patient_id FROM roster_patient")}
        conn.execute("DELETE FROM roster_patient")
        conn.executemany(f"INSERT INTO roster_patient ({', '.join(ROSTER_COLUMNS)}) "
                         f"VALUES ({', '.join('?' * len(ROSTER_COLUMNS))})", rows)
    after = {r[0] for r in rows}
    return len(after - before), len(before - after)


def roster_numbers(conn: sqlite3.Connection) -> list[tuple[str, str, str, str, date, str]]:
    """(insurer_number, symbol, number, branch, birth_date, patient_id) of every roster patient."""
    create_roster_table(conn)
    return [(i, s, n, b, date.fromisoformat(d), p) for p, i, s, n, b, d in conn.execute(
        "SELECT patient_id, insurer_number, symbol, number, branch, birth_date FROM roster_patient ORDER BY patient_id")]


def insurer_names(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT insurer_number, name FROM insurer"))
