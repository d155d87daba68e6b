"""The 資格確認端末 (qualification terminal) file interface, as the レセコン side of it.

The terminal shares three folders: ``req`` (we write requests), ``res`` (it writes each answer
under the request's name with req→res) and ``face`` (it pushes the results of checks made on
its card reader). This adapter writes ``OQSsiquc01req_`` single checks, runs the two-step batch
(``OQSmuquc01req_`` upload → ReceptionNumber, then ``OQSmuquc02req_`` to download the result),
registers 照会番号 (``OQSsiimm01req_``: our patient id, which later reader pushes carry) for the
people a batch found without one, and ingests ``OQSsiquc01res_face_`` pushes.

RECONSTRUCTED, NOT OFFICIAL: the folder layout, file names and XML come from open-source
implementations (docs/domain.md §5, see `sync.upstream.oqs_xml`) and must be checked against a real
terminal at installation.

Robustness: every file is parsed with defusedxml; a broken, truncated or hostile file is moved to
the quarantine folder with a ``.reason`` file next to it, and the other files are still
processed. Only files this adapter named (tag ``MDG``) are touched in ``req`` and ``res``: a
レセコン may share the folders. An answer that arrives after its request timed out is discarded
(its name is unique, so it can never be taken for another request's answer). Files in ``face``
are consumed: if a レセコン also reads pushes, give this adapter its own copy of the folder.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import json
import logging
import os
import secrets
import shutil
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar

from madoguchi.edge.config import JST
from madoguchi.edge.model import Validity
from madoguchi.edge.verdict import OnlineAnswer
from madoguchi.sync.hub.upstream import oqs_xml
from madoguchi.sync.hub.upstream.base import (
    MalformedAnswer,
    NumbersQuery,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from madoguchi.sync.hub.upstream.oqs_xml import BatchUnit, HostileFile

log = logging.getLogger(__name__)

SINGLE = "OQSsiquc01req_"
BATCH_UPLOAD = "OQSmuquc01req_"
BATCH_DOWNLOAD = "OQSmuquc02req_"
REGISTER = "OQSsiimm01req_"  # 照会番号 registration, one person
FACE = "OQSsiquc01res_face_"
TAG = "MDG"  # marks the files this adapter named
SESSIONS = 20  # the terminal takes at most 20 sessions (docs/domain.md §1)
SHARE_GRACE = 1.0  # seconds past a call's deadline before a hanging share counts as a timeout

T = TypeVar("T")


class BatchPending(UpstreamTimeout):
    """The batch was uploaded but its result did not come within the timeout: download it
    later with `FileTerminal.batch_download(reception_number, ...)`."""

    def __init__(self, message: str, reception_number: str) -> None:
        super().__init__(message)
        self.reception_number = reception_number


class FileTerminal:
    """An `Upstream` speaking to a 資格確認端末 through its shared folders.

    share: the folder holding req/res/face; quarantine: where unreadable files go (local, not on
    the share); institution_code: 医療機関コード (10 digits); encoding: "shift_jis" (the
    terminal's default) or "utf-8"; settle: seconds a file must stay unchanged before an
    unreadable one counts as broken rather than still being written.
    """

    def __init__(self, share: Path, quarantine: Path, institution_code: str, *, encoding: str = "shift_jis",
                 poll_interval: float = 0.02, settle: float = 0.3, batch_retry: float = 1.0,
                 orphan_after: float = 600.0, max_bytes: int = 50_000_000,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        if encoding not in oqs_xml.ENCODINGS:
            raise ValueError(f"encoding must be one of {sorted(oqs_xml.ENCODINGS)}")
        self.req, self.res, self.face = share / "req", share / "res", share / "face"
        self.quarantine = quarantine
        self.institution_code = institution_code
        self.encoding = encoding
        self.poll_interval = poll_interval
        self.settle = settle
        self.batch_retry = batch_retry
        self.orphan_after = orphan_after
        self.max_bytes = max_bytes
        self.clock = clock
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._face_lock = threading.Lock()
        self._abandoned: dict[str, float] = {}  # res name of a request that timed out → when
        self._pool = concurrent.futures.ThreadPoolExecutor(SESSIONS, thread_name_prefix="terminal-share")
        quarantine.mkdir(parents=True, exist_ok=True)

    # ---- the Upstream interface --------------------------------------------------------------

    def check(self, query: NumbersQuery, timeout: float) -> OnlineAnswer:
        return self._exchange(
            SINGLE, lambda file_id: oqs_xml.single_request(query, self.institution_code, self._today(), file_id,
                                                           self.encoding),
            time.monotonic() + timeout, lambda data: oqs_xml.parse_answer(data, self.clock()))

    def batch_check(self, queries: Sequence[NumbersQuery], timeout: float) -> list[OnlineAnswer | UpstreamError]:
        """Both steps of the batch; an entry is an UpstreamError when that person could not be
        checked. Raises BatchPending (with the ReceptionNumber) if the result is late."""
        deadline = time.monotonic() + timeout
        reception = self.batch_upload(queries, deadline - time.monotonic())
        while True:
            units = self.batch_download(reception, max(deadline - time.monotonic(), 0.0))
            if units is not None:
                answers = match_units(queries, units)
                self._register_missing(queries, answers, deadline)
                return [_ours(q, a) for q, a in zip(queries, answers, strict=True)]
            if deadline - time.monotonic() < self.batch_retry:
                raise BatchPending(f"batch {reception} still processing after {timeout:.1f} s", reception)
            time.sleep(self.batch_retry)

    def pushes(self, timeout: float) -> list[OnlineAnswer]:
        deadline = time.monotonic() + timeout
        return self._bounded(self._collect_pushes, deadline, deadline)

    def _collect_pushes(self, deadline: float) -> list[OnlineAnswer]:
        while True:
            answers = self._ingest_face()
            if answers or time.monotonic() >= deadline:
                return answers
            time.sleep(self.poll_interval)

    def resolve_card(self, card_link: str, timeout: float) -> OnlineAnswer | None:
        """The terminal resolves a card only through its own reader (results come as pushes)."""
        return None

    def register_reference(self, query: NumbersQuery, timeout: float) -> str:
        """Register query.reference_number as the 照会番号 of the person with these numbers;
        returns the number the terminal registered."""
        return self._exchange(
            REGISTER, lambda file_id: oqs_xml.reference_request(query, self.institution_code, file_id, self.encoding),
            time.monotonic() + timeout, oqs_xml.parse_registration)

    def _register_missing(self, queries: Sequence[NumbersQuery], answers: Sequence[OnlineAnswer | UpstreamError],
                          deadline: float) -> None:
        """Best effort, within the batch's time: a person found without our 照会番号 gets it
        registered under the numbers of the answer (the current qualification)."""
        for query, answer in zip(queries, answers, strict=True):
            if (not query.reference_number or not isinstance(answer, OnlineAnswer) or answer.validity != Validity.VALID
                    or len(answer.records) != 1 or answer.records[0].patient_id):
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                log.info("照会番号 registration left for the next batch: out of time")
                return
            r = answer.records[0]
            try:
                self.register_reference(NumbersQuery(r.insurer_number, r.symbol, r.number, r.birth_date, r.branch,
                                                     query.reference_number), left)
            except UpstreamError as exc:
                log.warning("照会番号 registration failed: %s", exc)

    # ---- the batch's two steps ---------------------------------------------------------------

    def batch_upload(self, queries: Sequence[NumbersQuery], timeout: float) -> str:
        """Step 1: upload the list; returns the ReceptionNumber."""
        if not queries:
            raise ValueError("a batch needs at least one person")
        return self._exchange(
            BATCH_UPLOAD, lambda file_id: oqs_xml.batch_upload_request(queries, self.institution_code, self._today(),
                                                                       file_id, self.encoding),
            time.monotonic() + timeout, oqs_xml.parse_reception)

    def batch_download(self, reception_number: str, timeout: float) -> list[BatchUnit] | None:
        """Step 2: the result of an uploaded batch; None while the terminal is still processing."""
        return self._exchange(
            BATCH_DOWNLOAD, lambda _: oqs_xml.batch_download_request(reception_number, self.institution_code,
                                                                     self.encoding),
            time.monotonic() + timeout, lambda data: oqs_xml.parse_batch_result(data, self.clock()))

    # ---- housekeeping ------------------------------------------------------------------------

    def _sweep(self) -> None:
        """Discard late answers to requests that timed out, and answers named by this adapter
        that nobody waits for any more (left by a previous run)."""
        with self._lock:
            forgotten = time.monotonic() - self.orphan_after  # older late answers count as orphans
            self._abandoned = {n: t for n, t in self._abandoned.items() if t > forgotten}
            abandoned = set(self._abandoned)
        try:
            names = os.listdir(self.res)
        except OSError:
            return
        now = time.time()
        for name in names:
            if TAG not in name:
                continue
            path = self.res / name
            try:
                orphan = now - path.stat().st_mtime > self.orphan_after
            except OSError:
                continue
            if name in abandoned or orphan:
                _unlink(path)
                log.info("discarded %s: its request had timed out", name)
                with self._lock:
                    self._abandoned.pop(name, None)

    # ---- internals ---------------------------------------------------------------------------

    def _today(self) -> date:
        return self.clock().astimezone(JST).date()

    def _file_id(self) -> str:
        with self._lock:
            sequence = next(self._counter) % 10000
        return f"{TAG}{datetime.now(JST):%Y%m%d%H%M%S%f}{sequence:04d}{secrets.token_hex(2)}"

    def _exchange(self, prefix: str, build: Callable[[str], bytes], deadline: float,
                  parse: Callable[[bytes], T]) -> T:
        """Write a request (built for its file id: the name and the ArbitraryFileIdentifier
        agree), wait for its answer and parse it."""
        return self._bounded(self._exchange_on_share, deadline, prefix, build, deadline, parse)

    def _bounded(self, work: Callable[..., T], deadline: float, *args) -> T:
        """Run `work` in a worker thread (at most as many as the terminal has sessions), so that a
        share that hangs (a dead file server) cannot hold the caller past its timeout."""
        future = self._pool.submit(work, *args)
        try:
            return future.result(timeout=max(deadline - time.monotonic(), 0.0) + SHARE_GRACE)
        except concurrent.futures.TimeoutError:
            raise UpstreamTimeout("the terminal's shared folder does not respond") from None

    def _exchange_on_share(self, prefix: str, build: Callable[[str], bytes], deadline: float,
                           parse: Callable[[bytes], T]) -> T:
        self._sweep()
        file_id = self._file_id()
        payload = build(file_id)
        name = f"{prefix}{file_id}.xml"
        request = self.req / name
        res_name = name.replace("req_", "res_", 1)
        try:
            temporary = self.req / f"tmp_{name}.part"
            temporary.write_bytes(payload)
            os.replace(temporary, request)
        except OSError as exc:
            raise UpstreamUnavailable(f"cannot write to the terminal's req folder: {exc}") from None
        try:
            return self._await(self.res / res_name, deadline, parse)
        except UpstreamTimeout:
            if _unlink(request):
                log.warning("the terminal never took %s: request withdrawn", name)
            with self._lock:
                self._abandoned[res_name] = time.monotonic()
            raise

    def _await(self, path: Path, deadline: float, parse: Callable[[bytes], T]) -> T:
        started = time.monotonic()
        while True:
            data = self._read(path)
            if data is not None:
                try:
                    result = parse(data)
                except HostileFile as exc:
                    self._quarantine(path, str(exc))
                    raise
                except MalformedAnswer as exc:
                    if self._settled(path) or time.monotonic() >= deadline:
                        self._quarantine(path, str(exc))
                        raise
                except oqs_xml.TerminalRefused:
                    _unlink(path)
                    raise
                else:
                    _unlink(path)
                    return result
            if time.monotonic() >= deadline:
                raise UpstreamTimeout(f"no answer from the terminal within {deadline - started:.1f} s "
                                      f"({path.name})")
            time.sleep(self.poll_interval)

    def _read(self, path: Path) -> bytes | None:
        """The file's bytes, None if absent; an oversized file is quarantined."""
        try:
            status = path.lstat()
            if not stat.S_ISREG(status.st_mode):  # a FIFO would block the read; a link may point anywhere
                self._quarantine(path, "not a regular file")
                raise MalformedAnswer(f"{path.name} is not a regular file")
            if status.st_size > self.max_bytes:
                self._quarantine(path, f"too large: {status.st_size} bytes")
                raise MalformedAnswer(f"{path.name} is too large ({status.st_size} bytes)")
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise UpstreamUnavailable(f"cannot read {path.name}: {exc}") from None

    def _settled(self, path: Path) -> bool:
        try:
            return time.time() - path.stat().st_mtime >= self.settle
        except OSError:
            return True

    def _ingest_face(self) -> list[OnlineAnswer]:
        answers = []
        with self._face_lock:
            try:
                names = sorted(n for n in os.listdir(self.face) if n.startswith(FACE) and n.endswith(".xml"))
            except OSError as exc:
                log.warning("cannot list the terminal's face folder: %s", exc)
                return []
            for name in names:
                path = self.face / name
                try:
                    data = self._read(path)
                    if data is None:
                        continue
                    answers.append(oqs_xml.parse_answer(data, self.clock()))
                except HostileFile as exc:
                    self._quarantine(path, str(exc))
                except MalformedAnswer as exc:
                    if self._settled(path):
                        self._quarantine(path, str(exc))
                except UpstreamError as exc:
                    self._quarantine(path, str(exc))
                else:
                    _unlink(path)
        return answers

    def _quarantine(self, path: Path, reason: str) -> None:
        """Move the file aside with a .reason file; never raises."""
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        target = self.quarantine / f"{stamp}_{path.name}"
        try:
            shutil.move(path, target)
            target.with_name(target.name + ".reason").write_text(json.dumps(
                {"file": path.name, "folder": path.parent.name, "reason": reason,
                 "quarantined_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                ensure_ascii=False), encoding="utf-8")
        except FileNotFoundError:
            return
        except OSError as exc:
            log.error("cannot quarantine %s (%s): %s", path.name, reason, exc)
            return
        log.warning("quarantined %s from %s: %s", path.name, path.parent.name, reason)


def match_units(queries: Sequence[NumbersQuery], units: list[BatchUnit]) -> list[OnlineAnswer | UpstreamError]:
    """Each query's answer in a batch result: by the ArbitraryIdentifier the request gave it (its
    1-based position), else by 照会番号, else by the echoed numbers."""
    answers: list[OnlineAnswer | UpstreamError | None] = [None] * len(queries)
    by_reference: dict[str, list[int]] = {}
    by_numbers: dict[tuple, list[int]] = {}
    for index, query in enumerate(queries):
        if query.reference_number:
            by_reference.setdefault(query.reference_number, []).append(index)
        by_numbers.setdefault((query.insurer_number.strip(), query.symbol, query.number, query.branch,
                               query.birth_date), []).append(index)
    for unit in units:
        position = int(unit.identifier) - 1 if unit.identifier.isascii() and unit.identifier.isdigit() else -1
        candidates = [position] if 0 <= position < len(queries) else []
        candidates = candidates or (by_reference.get(unit.reference_number, []) if unit.reference_number else [])
        candidates = candidates or by_numbers.get((unit.insurer_number, unit.symbol, unit.number, unit.branch,
                                                   unit.birth_date), [])
        free = [i for i in candidates if answers[i] is None]
        if free:
            answers[free[0]] = unit.answer
    return [a if a is not None else UpstreamError("the batch result has no answer for this person")
            for a in answers]


def _ours(query: NumbersQuery, answer: OnlineAnswer | UpstreamError) -> OnlineAnswer | UpstreamError:
    """A batch answer is matched to its query: records without a 照会番号 get the query's."""
    if not query.reference_number or not isinstance(answer, OnlineAnswer) or answer.validity == Validity.MULTIPLE:
        return answer
    return replace(answer, records=tuple(r if r.patient_id else replace(r, patient_id=query.reference_number)
                                         for r in answer.records))


def _unlink(path: Path) -> bool:
    try:
        path.unlink()
        return True
    except OSError:
        return False
