"""What keeps a facility's roster on the hub current: the nightly pre-check and the reader's pushes.

The roster is what the facility's devices cache. Left alone its answers age past the desk's
policy (72 h) and every offline verdict would be 要確認, so each night the hub pre-checks
(一括照会) every patient of the roster — their latest numbers — and the scheduled patients of
tomorrow the reservation system drops in ``scheduled.csv``, then publishes the changes. Checks
made on the facility's card reader arrive as pushes and go into the roster as they come.
The pre-check helps the desk; it does not replace the check at the desk (docs/domain.md §3).
"""

from __future__ import annotations

import csv
import logging
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from madoguchi.edge import store
from madoguchi.edge.verdict import OnlineAnswer
from madoguchi.sync.hub import ingest
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import store as hub_store
from madoguchi.sync.hub.repository import HubPaths
from madoguchi.sync.hub.upstream.base import NumbersQuery, Upstream, UpstreamError
from madoguchi.sync.tables import QUALIFICATION_TABLE

log = logging.getLogger(__name__)

BATCH = 500  # people per 一括照会 request
BATCH_TIMEOUT = 300.0  # seconds: the terminal's two-step batch can take minutes
SCHEDULED_FILE = "scheduled.csv"  # insurer_number,symbol,number,branch,birth_date[,reference_number]


@dataclass(frozen=True)
class PrecheckOutcome:
    facility: str
    asked: int
    answered: int
    changed: int
    errors: int
    scheduled_rejected: int = 0  # lines of scheduled.csv that could not be read


def remember(paths: HubPaths, facility: str, answers: Iterable[OnlineAnswer]) -> int:
    """Put the records of upstream answers into the facility's roster (noted for the next
    bundle); rows the roster already has as they are stay untouched. Returns rows changed."""
    records = [r for a in answers for r in a.records]
    rows = {r.record_id: store.record_row(r.to_json()) for r in records}
    for key, row in list(rows.items()):  # a bad field would make every device refuse the bundle
        if problems := store.row_problems(row):
            log.warning("an upstream record not kept in %s's roster: %s", facility, "; ".join(problems))
            del rows[key]
    if not rows:
        return 0
    conn = hub.open_facility_store(paths, facility)
    try:
        ingest.name_insurers(conn, ingest.insurer_names([r for r in records if r.record_id in rows]))
        with store.transaction(conn):
            current = {}
            ids = list(rows)
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                current |= {r[0]: tuple(r) for r in conn.execute(
                    f"SELECT {', '.join(store.COLUMN_NAMES)} FROM qualification WHERE record_id IN "
                    f"({', '.join('?' * len(chunk))})", chunk)}
            changed = [row for key, row in rows.items() if current.get(key) != tuple(row)
                       and not _older(row, current.get(key))]
            return hub.change(conn, QUALIFICATION_TABLE, changed, []) if changed else 0
    finally:
        conn.close()


def _older(row: tuple, current: tuple | None) -> bool:
    """An answer produced before the record the roster holds never replaces it (a late push)."""
    return current is not None and datetime.fromisoformat(row[-1]) < datetime.fromisoformat(current[-1])


def roster_queries(paths: HubPaths, facility: str) -> list[NumbersQuery]:
    """Every patient of the roster once: by the numbers of their latest record, and the patients
    of the レセコン's roster (`madoguchi hub import roster.csv`) by the numbers it knows."""
    conn = hub.open_facility_store(paths, facility)
    try:
        listed = hub_store.roster_numbers(conn)
        rows = conn.execute(
            "SELECT insurer_number, symbol, number, branch, birth_date, patient_id FROM qualification q "
            "WHERE qualification_date = (SELECT max(qualification_date) FROM qualification p "
            "WHERE p.patient_id = q.patient_id) GROUP BY patient_id ORDER BY patient_id").fetchall()
    finally:
        conn.close()
    return ([NumbersQuery(i, s, n, date.fromisoformat(b), br, pid) for i, s, n, br, b, pid in rows]
            + [NumbersQuery(i, s, n, b, br, pid) for i, s, n, br, b, pid in listed])


def read_scheduled(path: Path) -> tuple[list[NumbersQuery], int]:
    """Tomorrow's scheduled patients from the reservation system's CSV (UTF-8, with or without
    a header line); unreadable lines are counted and logged by line number, never by content."""
    queries, rejected = [], 0
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return [], 0
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or row[0].strip() == "insurer_number":
            continue
        try:
            insurer, symbol, person, branch, birth = (c.strip() for c in row[:5])
            queries.append(NumbersQuery(insurer, symbol, person, date.fromisoformat(birth), branch,
                                        row[5].strip() if len(row) > 5 else ""))
        except ValueError:
            rejected += 1
            log.warning("%s line %d: expected insurer_number,symbol,number,branch,birth_date", path, number)
    return queries, rejected


def precheck(paths: HubPaths, facility: str, upstream: Upstream, timeout: float = BATCH_TIMEOUT) -> PrecheckOutcome:
    """The nightly pre-check of one facility, then a publish of what changed."""
    scheduled, rejected = read_scheduled(paths.store_dir(facility) / SCHEDULED_FILE)
    queries = list({(q.insurer_number, q.symbol, q.number, q.branch, q.birth_date): q
                    for q in roster_queries(paths, facility) + scheduled}.values())
    answered = errors = changed = 0
    for start in range(0, len(queries), BATCH):
        batch: Sequence[NumbersQuery] = queries[start:start + BATCH]
        try:
            answers = upstream.batch_check(batch, timeout)
        except UpstreamError as exc:
            log.warning("pre-check of %s stopped after %d people: %s", facility, start, exc)
            errors += len(queries) - start
            break
        good = [_with_patient_id(a, q) for a, q in zip(answers, batch, strict=False) if isinstance(a, OnlineAnswer)]
        errors += len(answers) - len(good)
        answered += len(good)
        changed += remember(paths, facility, good)
    if changed:
        hub.publish(paths, facility)
    outcome = PrecheckOutcome(facility, len(queries), answered, changed, errors, rejected)
    log.info("pre-check %s", outcome)
    return outcome


def _with_patient_id(answer: OnlineAnswer, query: NumbersQuery) -> OnlineAnswer:
    """The answer's records carry the patient id (診察券番号) the roster asked with, where the
    upstream did not echo one: the desk finds them by 診察券, and a 申立 by kana name."""
    if not query.reference_number or all(r.patient_id for r in answer.records):
        return answer
    return replace(answer, records=tuple(r if r.patient_id else replace(r, patient_id=query.reference_number)
                                         for r in answer.records))


def precheck_all(paths: HubPaths, upstream: Upstream) -> list[PrecheckOutcome]:
    return [precheck(paths, facility, upstream) for facility in paths.facilities()]


def receive_pushes(paths: HubPaths, upstream: Upstream, stop: threading.Event, wait: float = 5.0) -> None:
    """Until `stop`: put the reader's pushed results into the roster that knows the patient
    (the only roster, on a hub with one facility), and publish."""
    while not stop.is_set():
        try:
            answers = upstream.pushes(wait)
        except UpstreamError as exc:
            log.warning("pushes: %s", exc)
            stop.wait(wait)
            continue
        for facility, mine in _by_facility(paths, answers).items():
            if remember(paths, facility, mine):
                hub.publish(paths, facility)


def _by_facility(paths: HubPaths, answers: list[OnlineAnswer]) -> dict[str, list[OnlineAnswer]]:
    facilities = paths.facilities()
    routed: dict[str, list[OnlineAnswer]] = {}
    for answer in answers:
        patient_ids = {r.patient_id for r in answer.records if r.patient_id}
        if not patient_ids:
            continue
        owners = facilities if len(facilities) == 1 else [f for f in facilities if _knows(paths, f, patient_ids)]
        if not owners:
            log.warning("a pushed result for a patient no facility's roster knows was not stored")
        for facility in owners:
            routed.setdefault(facility, []).append(answer)
    return routed


def _knows(paths: HubPaths, facility: str, patient_ids: set[str]) -> bool:
    conn = hub.open_facility_store(paths, facility)
    try:
        return conn.execute(f"SELECT 1 FROM qualification WHERE patient_id IN ({', '.join('?' * len(patient_ids))}) "
                            "LIMIT 1", sorted(patient_ids)).fetchone() is not None
    finally:
        conn.close()
