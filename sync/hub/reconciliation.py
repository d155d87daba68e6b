"""The hub's side of reconciliation (要対応): re-check the offline decisions devices upload.

A device uploads its outbox (checks decided from the cache or from a 申立); the hub asks its
upstream about each and answers, per entry, `reconciled` (with the contradiction to correct,
if any), `pending` (the upstream is unreachable, or a 申立 is still unknown) or `invalid`. A
reconciled answer is stored under (device, entry) before it is returned, so an upload repeated
after a lost answer or a crash gets the same answer and the device records it once.

A 申立 carries no numbers: the hub finds the patient in the facility's roster by kana name and
birth date (the roster learns the numbers from later visits, pushes and batch pre-checks) and
asks the upstream by those numbers.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import replace
from datetime import datetime

from madoguchi.edge.config import Policy
from madoguchi.edge.reconcile import check_day, compare, request_from_payload
from madoguchi.edge.verdict import CheckRequest, Method, OnlineUnavailable, Outcome
from madoguchi.sync.hub import store as hubstore
from madoguchi.sync.hub.upstream.base import Upstream, online_source
from madoguchi.sync.protocol import BUSY, MAX_UPLOAD_ENTRIES, NOT_KNOWN_YET, UNREACHABLE

log = logging.getLogger(__name__)



class BadUpload(ValueError):
    """The upload is not a list of outbox entries (the message says what is wrong)."""


def parse_entries(body: object) -> list[dict]:
    """The entries of an upload body {"entries": [{entry_id, checked_at, payload, verdict, copay_percent}]}."""
    entries = body.get("entries") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise BadUpload("expected an object with a list 'entries'")
    if len(entries) > MAX_UPLOAD_ENTRIES:
        raise BadUpload(f"at most {MAX_UPLOAD_ENTRIES} entries per upload")
    for entry in entries:
        if not (isinstance(entry, dict) and type(entry.get("entry_id")) is int and isinstance(entry.get("payload"), dict)
                and _is_moment(entry.get("checked_at"))
                and entry.get("verdict") in {o.value for o in Outcome}
                and (entry.get("copay_percent") is None or type(entry.get("copay_percent")) is int)):
            raise BadUpload("each entry needs entry_id (int), checked_at (ISO 8601 with offset), payload (object), "
                            "verdict (ok/ng/confirm), copay_percent (int or null)")
    return entries


def _is_moment(value: object) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def recheck_uploaded(conn: sqlite3.Connection, device_id: str, entries: list[dict], upstream: Upstream,
                     policy: Policy, now: datetime, timeout: float, budget: float) -> list[dict]:
    """One result per entry, in order; `conn` is the facility's store on the hub. Each upstream
    question gets `timeout` seconds; after `budget` seconds in all the rest stays pending (the
    device gives up waiting for an answer at some point: the hub must answer before that)."""
    ask = online_source(upstream)
    deadline = time.monotonic() + budget
    results: list[dict] = []
    stopped = ""  # the stop reason, once the upstream failed or the time is spent
    for entry in entries:
        entry_id = entry["entry_id"]
        known = hubstore.reconciled_result(conn, device_id, entry_id)
        if known is not None:
            results.append(known)
            continue
        try:
            request = _resolved(conn, request_from_payload(entry["payload"]))
        except (KeyError, TypeError, ValueError) as exc:
            results.append(_store(conn, device_id, entry_id, now, {
                "entry_id": entry_id, "status": "invalid", "reason": f"unreadable entry: {exc!r}"[:200]}))
            continue
        if request is None:
            results.append({"entry_id": entry_id, "status": "pending", "reason": NOT_KNOWN_YET})
            continue
        left = deadline - time.monotonic()
        stopped = stopped or ("" if left > 0 else BUSY)
        if stopped:
            results.append({"entry_id": entry_id, "status": "pending", "reason": stopped})
            continue
        try:
            answer = ask(request, min(timeout, left))
        except OnlineUnavailable as exc:
            stopped = BUSY if time.monotonic() >= deadline else UNREACHABLE
            log.info("reconciliation paused for %s: %s (%s)", device_id, stopped, exc)
            results.append({"entry_id": entry_id, "status": "pending", "reason": stopped})
            continue
        contradiction = compare(entry["verdict"], entry.get("copay_percent"), entry["payload"], answer,
                                check_day(entry["checked_at"], policy))
        if contradiction is None and request.method == Method.DECLARATION:
            results.append({"entry_id": entry_id, "status": "pending", "reason": NOT_KNOWN_YET})
            continue
        followup = dict(zip(("kind", "message_ja", "correction_ja"), contradiction, strict=True)) if contradiction else None
        result: dict = {"entry_id": entry_id, "status": "reconciled", "validity": int(answer.validity),
                        "followup": followup}
        if request.method == Method.DECLARATION and answer.records:  # what the device's 申立 is resolved to
            r = answer.records[0]
            result["numbers"] = {"insurer_number": r.insurer_number, "symbol": r.symbol, "number": r.number,
                                 "branch": r.branch}
        results.append(_store(conn, device_id, entry_id, now, result))
    return results


def _resolved(conn: sqlite3.Connection, request: CheckRequest) -> CheckRequest | None:
    """The request to ask the upstream: a 申立 gets the latest numbers the roster knows for
    that person (None while the roster knows none, or more than one person matches)."""
    if request.method != Method.DECLARATION:
        return request
    d = request.declaration
    if d is None:
        raise ValueError("a declaration entry without its declaration")
    kana = d.name_kana.replace("　", "").replace(" ", "")
    rows = hubstore.numbers_by_kana(conn, d.birth_date, kana)
    if not rows or len({r[0] for r in rows}) != 1:
        return None
    _, insurer_number, symbol, number, branch = rows[0]  # the patient's latest numbers
    return replace(request, insurer_number=insurer_number, symbol=symbol, number=number, branch=branch,
                   birth_date=d.birth_date)


def _store(conn: sqlite3.Connection, device_id: str, entry_id: int, now: datetime, result: dict) -> dict:
    hubstore.keep_result(conn, device_id, entry_id, now, result)
    return result
