"""The synced tables, and changing them row by row while keeping the multiset digest current.

The hub (recording an import) and the device (applying a delta) change the same tables the
same way: every row put or deleted first has its old row's hash taken out of the digest.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from madoguchi.edge import store
from madoguchi.sync.bundle import (
    DIGEST_MODULUS,
    INSURER,
    LINK,
    META,
    QUALIFICATION,
    REVOKED,
    canonical,
    record_line,
    row_hash,
)


@dataclass(frozen=True)
class Table:
    code: str  # the line tag in a bundle ("q" rows are untagged arrays)
    name: str
    columns: tuple[str, ...]
    tag: bytes  # digest tag

    @property
    def key(self) -> str:
        return self.columns[0]

    def line(self, row: Sequence[Any]) -> bytes:
        """The row as a bundle carries it, and as the digest hashes it."""
        return record_line(row) if self.code == "q" else canonical(row)


QUALIFICATION_TABLE = Table("q", "qualification", store.SYNCED_TABLES["qualification"], QUALIFICATION)
INSURER_TABLE = Table("i", "insurer", store.SYNCED_TABLES["insurer"], INSURER)
REVOKED_TABLE = Table("r", "revoked_certificate", store.SYNCED_TABLES["revoked_certificate"], REVOKED)
LINK_TABLE = Table("c", "certificate_link", store.SYNCED_TABLES["certificate_link"], LINK)
META_TABLE = Table("m", "meta", store.SYNCED_TABLES["meta"], META)  # only the keys in bundle.SYNCED_META_KEYS
TABLES = {t.code: t for t in (META_TABLE, INSURER_TABLE, REVOKED_TABLE, LINK_TABLE, QUALIFICATION_TABLE)}
DIGEST_META_KEY = "data_digest"


def get_digest(conn: sqlite3.Connection) -> int | None:
    value = store.get_meta(conn, DIGEST_META_KEY)
    return int(value, 16) if value else None


def set_digest(conn: sqlite3.Connection, value: int) -> None:
    store.set_meta(conn, DIGEST_META_KEY, f"{value % DIGEST_MODULUS:064x}")


def change_rows(conn: sqlite3.Connection, table: Table, puts: Iterable[Sequence[Any]], deletes: Iterable[int | str],
                digest: int) -> int:
    """Delete then put rows (by key) inside the caller's transaction; return the new digest."""
    deletes, puts = list(deletes), list(puts)
    deleted = set(deletes)
    old_rows = {old[0]: old for old in store.rows_by_key(conn, table.name, deletes + [row[0] for row in puts])}
    for old in old_rows.values():
        digest -= row_hash(table.tag, table.line(old))
    store.delete_rows(conn, table.name, deletes)
    # A changed row is updated in the columns that changed only, grouped by those columns.
    inserts: list[Sequence[Any]] = []
    updates: dict[tuple[int, ...], list[list[Any]]] = {}
    for row in puts:
        digest += row_hash(table.tag, table.line(row))
        current = old_rows.get(row[0]) if row[0] not in deleted else None
        if current is None:
            inserts.append(row)
            continue
        changed = tuple(i for i in range(1, len(row)) if row[i] != current[i])
        if changed:
            updates.setdefault(changed, []).append([*(row[i] for i in changed), row[0]])
    store.put_rows(conn, table.name, inserts)
    for changed, params in updates.items():
        store.update_columns(conn, table.name, changed, params)
    return digest % DIGEST_MODULUS

