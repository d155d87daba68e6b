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
from madoguchi.edge.model import Validity
from madoguchi.edge.verdict import OnlineAnswer
from madoguchi.sync.hub import ingest
from madoguchi.sync.hub import repository as hub
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.repository import HubPaths
from madoguchi.sync.hub.upstream.base import NumbersQuery, Upstream, UpstreamError
from madoguchi.sync.tables import LINK_TABLE, QUALIFICATION_TABLE

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


def remember(paths: HubPaths, facility: str, answers: Iterable[OnlineAnswer],
             card_links: dict[str, str] | None = None) -> int:
    """Put the records of upstream answers into the facility's roster, and the certificates the
    upstream resolved (`card_links`: card link → patient id) into its certificate links, noted for
    the next bundle; rows the roster already has as they are stay untouched. Returns rows changed."""
    records = [r for a in answers for r in a.records]
    rows = {r.record_id: store.record_row(r.to_json()) for r in records}
    for key, row in list(rows.items()):  # a bad field would make every device refuse the bundle
        if problems := store.row_problems(row):
            log.warning("an upstream record not kept in %s's roster: %s", facility, "; ".join(problems))
            del rows[key]
    links = [(link, patient) for link, patient in (card_links or {}).items() if link and patient]
    if not rows and not links:
        return 0
    conn = hub.open_facility_store(paths, facility)
    try:
        ingest.name_insurers(conn, ingest.insurer_names([r for r in records if r.record_id in rows]))
        with store.transaction(conn):
            current = {r[0]: tuple(r) for r in store.rows_by_key(conn, QUALIFICATION_TABLE.name, list(rows))}
            rows = {key: _keep_card_link(row, current.get(key)) for key, row in rows.items()}
            changed = [row for key, row in rows.items() if current.get(key) != tuple(row)
                       and not _older(row, current.get(key))]
            linked = {r[0]: tuple(r) for r in store.rows_by_key(conn, LINK_TABLE.name, [k for k, _ in links])}
            new_links = [link for link in links if linked.get(link[0]) != link]
            return ((hub.change(conn, QUALIFICATION_TABLE, changed, []) if changed else 0)
                    + (hub.change(conn, LINK_TABLE, new_links, []) if new_links else 0))
    finally:
        conn.close()


CARD_LINK = store.COLUMN_NAMES.index("card_link")


def _keep_card_link(row: tuple, current: tuple | None) -> tuple:
    """An answer carries no card link (the upstream never says one): the roster's stays."""
    if current is None or row[CARD_LINK] or not current[CARD_LINK]:
        return row
    return (*row[:CARD_LINK], current[CARD_LINK], *row[CARD_LINK + 1:])


def resolved_patient(answer: OnlineAnswer) -> str:
    """The one patient (id) an answer to a check by card is about, or "" (none, several, unknown)."""
    patients = {r.patient_id for r in answer.records}
    return patients.pop() if answer.validity != Validity.MULTIPLE and len(patients) == 1 else ""


class LiveAnswers:
    """The live answers the API gives, put into the facilities' rosters in batches: one
    transaction per facility every `interval` seconds at most, not one (and its fsync) per check.
    Short batches: a batch holds the GIL while it hashes its rows, delaying the requests meanwhile.
    Each record keeps its newest answer, so the next bundle still tells every device how fresh
    each record is. Answers not yet written when the process dies are lost to the roster only
    (the devices have them; the nightly pre-check asks again). The writer thread starts with the
    first answer, so that a forked API worker runs its own."""

    def __init__(self, paths: HubPaths, interval: float = 0.25) -> None:
        self.paths, self.interval = paths, interval
        self._pending: dict[str, list[tuple[OnlineAnswer, str]]] = {}
        self._lock = threading.Lock()
        self._writing = threading.Lock()  # one batch at a time: an older one never lands last
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False

    def add(self, facility: str, answer: OnlineAnswer, card_link: str = "") -> None:
        """An answer to a check (`card_link`: a check by card, whose certificate it resolved)."""
        with self._lock:
            if self._closed:
                return
            self._pending.setdefault(facility, []).append((answer, card_link))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="roster-writer", daemon=True)
                self._thread.start()

    def flush(self) -> int:
        """Write what is pending now; returns the roster rows changed."""
        changed = 0
        with self._writing:
            with self._lock:
                pending, self._pending = self._pending, {}
            for facility, answers in pending.items():
                links = {link: resolved_patient(answer) for answer, link in answers if link}
                try:
                    changed += remember(self.paths, facility, [answer for answer, _ in answers], links)
                except Exception:  # noqa: BLE001 - the devices have their answers: log, keep serving
                    log.exception("could not store %d live answers in %s's roster", len(answers), facility)
        return changed

    def close(self) -> None:
        """Write what is pending and stop the writer."""
        with self._lock:
            self._closed = True
            thread = self._thread
        self._wake.set()
        if thread is not None:
            thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.interval)
            self.flush()
def _older(row: tuple, current: tuple | None) -> bool:
    """An answer produced before the record the roster holds never replaces it (a late push)."""
    return current is not None and datetime.fromisoformat(row[store.AS_OF]) < datetime.fromisoformat(
        current[store.AS_OF])


def roster_queries(paths: HubPaths, facility: str) -> list[NumbersQuery]:
    """Every patient of the roster once: by the numbers of their latest record, and the patients
    of the レセコン's roster (`madoguchi hub import roster.csv`) by the numbers it knows."""
    conn = hub.open_facility_store(paths, facility)
    try:
        listed = hubstore.roster_numbers(conn)
        rows = hubstore.latest_numbers(conn)
    finally:
        conn.close()
    return [NumbersQuery(i, s, n, b, br, pid) for i, s, n, br, b, pid in rows + listed]


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
        return hubstore.knows_patients(conn, patient_ids)
    finally:
        conn.close()
