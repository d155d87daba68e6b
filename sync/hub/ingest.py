"""What a facility gives the hub from its own systems: the patient roster a レセコン exports, and
the names of insurers (an insurer-master file). Formats: docs/hub-files.md.

Neither file carries qualification data: the roster says whom to pre-check (一括照会, the nightly
run of madoguchi.sync.hub.roster), the national system's answers then fill the cache. Insurer
names come from those answers (`InsurerName`) and from the facility's master file, never from
anything invented. A file with one bad line is refused whole, every bad line named with its field.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TypeVar

from madoguchi.edge import store
from madoguchi.edge.model import QualificationRecord
from madoguchi.edge.numbers import (
    InputError,
    normalize_branch,
    normalize_symbol,
    parse_birth_date,
    parse_insurer_number,
    to_fullwidth_kana,
)
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.repository import (
    HubError,
    HubPaths,
    change,
    check_facility_name,
    import_population,
    open_facility_store,
)
from madoguchi.sync.tables import INSURER_TABLE

T = TypeVar("T")

MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_FIELD = 64  # characters: longer than any number, name or 診察券番号 a desk types

# Column names a レセコン export may use (Japanese as printed on the export, or English).
ROSTER_COLUMNS = {
    "patient_id": ("診察券番号", "患者番号", "patient_id"),
    "insurer_number": ("保険者番号", "insurer_number"),
    "symbol": ("記号", "symbol"),
    "number": ("番号", "number"),
    "branch": ("枝番", "branch"),
    "birth_date": ("生年月日", "birth_date"),
    "name_kana": ("氏名カナ", "フリガナ", "カナ氏名", "name_kana"),
    "name": ("氏名", "name"),
}
ROSTER_REQUIRED = ("patient_id", "insurer_number", "number", "birth_date", "name_kana")
INSURER_COLUMNS = {
    "insurer_number": ("保険者番号", "insurer_number"),
    "name": ("保険者名", "保険者名称", "name"),
}


class BadFile(HubError):
    """A facility file that cannot be imported: the message names every bad line and field."""


@dataclass(frozen=True)
class RosterPatient:
    """One patient of the facility's roster, as its レセコン knows them."""

    patient_id: str  # 診察券番号
    insurer_number: str
    symbol: str
    number: str
    branch: str
    birth_date: date
    name_kana: str
    name: str = ""


def read_text(path: Path) -> str:
    """A facility file in UTF-8 (with or without BOM) or Shift_JIS (cp932), as exported."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise BadFile(f"{path}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        data = path.read_bytes()
    except OSError as exc:
        raise BadFile(f"cannot read {path}: {exc.strerror or exc}") from None
    for encoding in ("utf-8-sig", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BadFile(f"{path}: neither UTF-8 nor Shift_JIS")


def _rows(text: str, columns: dict[str, tuple[str, ...]], required: tuple[str, ...],
          what: str) -> Iterable[tuple[int, dict[str, str]]]:
    """(line number, {field: value}) for every data line; the first line names the columns."""
    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None:
        raise BadFile(f"the {what} file is empty")
    names = [h.strip() for h in header]
    index = {}
    for field, aliases in columns.items():
        found = [i for i, name in enumerate(names) if name in aliases]
        if found:
            index[field] = found[0]
    missing = [columns[f][0] for f in required if f not in index]
    if missing:
        raise BadFile(f"the {what} file's first line must name the columns; missing: {', '.join(missing)} "
                      f"(expected: {', '.join(a[0] for a in columns.values())})")
    for number, row in enumerate(reader, start=2):
        if not any(cell.strip() for cell in row):
            continue
        yield number, {f: (row[i].strip() if i < len(row) else "") for f, i in index.items()}


def parse_roster(text: str) -> list[RosterPatient]:
    """The roster CSV as patients; BadFile naming every bad line (by number and field, never
    by content: the file holds personal data)."""
    patients: dict[str, RosterPatient] = {}
    problems: list[str] = []
    for line, row in _rows(text, ROSTER_COLUMNS, ROSTER_REQUIRED, "roster"):
        bad = [f for f, v in row.items() if len(v) > MAX_FIELD]
        try:
            if bad:
                raise InputError(f"{', '.join(bad)} longer than {MAX_FIELD} characters")
            patient = RosterPatient(
                patient_id=_parse(row, "patient_id", _nonempty),
                insurer_number=_parse(row, "insurer_number", lambda v: str(parse_insurer_number(v))),
                symbol=normalize_symbol(row.get("symbol")),
                number=_parse(row, "number", lambda v: _nonempty(normalize_symbol(v))),
                branch=_parse(row, "branch", normalize_branch),
                birth_date=_parse(row, "birth_date", parse_birth_date),
                name_kana=_parse(row, "name_kana", lambda v: to_fullwidth_kana(_nonempty(v))),
                name=row.get("name", ""),
            )
        except InputError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        if patient.patient_id in patients:
            problems.append(f"line {line}: patient_id: 診察券番号 appears twice")
        patients[patient.patient_id] = patient
    if problems:
        raise BadFile(f"{len(problems)} bad line(s), nothing imported:\n" + "\n".join(problems))
    return list(patients.values())


def parse_insurers(text: str) -> dict[str, str]:
    """The insurer-master CSV as {insurer_number: name}; BadFile naming every bad line."""
    names: dict[str, str] = {}
    problems: list[str] = []
    for line, row in _rows(text, INSURER_COLUMNS, ("insurer_number", "name"), "insurer"):
        try:
            number = _parse(row, "insurer_number", lambda v: str(parse_insurer_number(v)))
            name = _parse(row, "name", _nonempty)
            if len(name) > MAX_FIELD:
                raise InputError(f"name: longer than {MAX_FIELD} characters")
        except InputError as exc:
            problems.append(f"line {line}: {exc}")
            continue
        names[number] = name
    if problems:
        raise BadFile(f"{len(problems)} bad line(s), nothing imported:\n" + "\n".join(problems))
    return names


def _nonempty(value: str) -> str:
    if not value.strip():
        raise InputError("empty")
    return value.strip()


def _parse(row: dict[str, str], field: str, parse: Callable[[str], T]) -> T:
    """`parse(row[field])`, its InputError naming the field."""
    try:
        return parse(row.get(field, ""))
    except InputError as exc:
        raise InputError(f"{field}: {exc}") from None


def import_file(paths: HubPaths, facility: str, path: Path, today: date) -> dict:
    """`madoguchi hub import FILE`: a roster CSV (a レセコン's export), or records as JSON lines
    (the record model's form: `madoguchi population --out`, the simulator's files)."""
    if path.suffix.lower() == ".csv":
        return import_roster(paths, facility, path)
    try:
        with path.open(encoding="utf-8") as lines:
            return import_population(paths, facility, lines, today)
    except (OSError, UnicodeDecodeError) as exc:
        raise BadFile(f"cannot read {path}: {exc}") from None


def import_roster(paths: HubPaths, facility: str, path: Path) -> dict:
    """Make the facility's roster the patients of the CSV (the export is the whole roster:
    patients no longer in it leave the roster; their cached records age out by themselves)."""
    patients = parse_roster(read_text(path))
    conn = open_facility_store(paths, check_facility_name(facility), create=True)
    try:
        added, removed = hubstore.replace_roster(conn, patients)
    finally:
        conn.close()
    return {"facility": facility, "patients": len(patients), "added": added, "removed": removed,
            "next": "run `madoguchi hub precheck` (or wait for the nightly pre-check) to fetch their qualifications"}


def import_insurers(paths: HubPaths, facility: str, path: Path) -> dict:
    """Add or rename insurers from the facility's master file (published with the next delta)."""
    names = parse_insurers(read_text(path))
    conn = open_facility_store(paths, check_facility_name(facility), create=True)
    try:
        changed = name_insurers(conn, names)
    finally:
        conn.close()
    return {"facility": facility, "insurers": len(names), "changed": changed}


def name_insurers(conn: sqlite3.Connection, names: dict[str, str]) -> int:
    """Add or rename insurers (noted for the next delta); names already right stay untouched."""
    with store.transaction(conn):
        current = hubstore.insurers(conn)
        changed = [(number, name) for number, name in names.items() if current.get(number) != name]
        return change(conn, INSURER_TABLE, changed, []) if changed else 0


def insurer_names(records: Iterable[QualificationRecord | dict]) -> dict[str, str]:
    """The insurer names upstream answers (or imported records) carry."""
    names = {}
    for r in records:
        number, name = (r.insurer_number, r.insurer_name) if isinstance(r, QualificationRecord) else (
            r.get("insurer_number"), r.get("insurer_name"))
        if number and name:
            names[number] = name
    return names
